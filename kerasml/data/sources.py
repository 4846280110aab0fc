"""Where recipes get data: embedded datasets, CSV files and tensorflow-datasets.

Every loader fails with one message that says what to change: a missing file
or column, junk in a numeric column, an empty file, a TFDS set that is neither
prepared locally nor downloadable (this machine may be offline).

Example:
    >>> co2 = co2_weekly()          # embedded in statsmodels, works offline
    >>> co2.index.freqstr, int(co2.isna().sum())
    ('W-SAT', 59)
"""

from __future__ import annotations

import pathlib

import numpy as np
import pandas as pd


class DataUnavailableError(RuntimeError):
    """A requested dataset is not on this machine and cannot be fetched."""


def co2_weekly() -> pd.Series:
    """Weekly atmospheric CO2 at Mauna Loa, 1958-03 to 2001-12 (statsmodels), NaN in missing weeks."""
    from statsmodels.datasets import co2

    series = co2.load_pandas().data["co2"].astype("float64")
    series.index.name = "week"
    series.name = "co2"
    return series


class MissingColumnError(ValueError):
    """A CSV file lacks a column that was asked for (callers add which flag names it)."""


def read_csv(path, required: list[str] | tuple[str, ...] = (), numeric: list[str] | tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a CSV file, checking it exists, is not empty and has the columns asked for.

    Args:
        path: the file.
        required: columns that must exist.
        numeric: columns that must hold numbers (empty cells allowed, become NaN);
            the first cell that is not a number is named with its line in the file.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CSV file {path} does not exist; check the --csv path.")
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise ValueError(f"CSV file {path} is empty: it needs a header row and data rows.") from None
    if frame.empty:
        raise ValueError(f"CSV file {path} has a header but no data rows.")
    missing = [c for c in list(required) + list(numeric) if c not in frame.columns]
    if missing:
        raise MissingColumnError(f"CSV file {path} has no column(s) {missing}; its columns are {list(frame.columns)}.")
    for column in numeric:
        frame[column] = to_numeric_column(frame[column], f"{path}", first_data_line=2)
    return frame


def to_numeric_column(values: pd.Series, source: str, first_data_line: int = 2) -> pd.Series:
    """Numbers from a column, or a ValueError naming the first cell that is not one."""
    converted = pd.to_numeric(values, errors="coerce")
    junk = converted.isna() & values.notna() & (values.astype(str).str.strip() != "")
    if junk.any():
        position = int(np.argmax(junk.to_numpy()))
        raise ValueError(
            f"{source}: column {values.name!r} should be numeric but line {position + first_data_line} "
            f"holds {values.iloc[position]!r} ({int(junk.sum())} such cells). Fix or blank those cells.")
    return converted.astype("float64")


def regular_time_grid(frame: pd.DataFrame, time_col: str) -> tuple[pd.DataFrame, pd.DateOffset, int]:
    """Index ``frame`` by its time column on a regular grid; missing steps become NaN rows.

    The step is the coarsest regular grid that holds every time: the most
    common gap, or a calendar frequency (month, quarter, year start or end)
    when months and years make the gaps uneven. Returns the re-indexed frame,
    the step as a pandas offset and the number of rows that were missing.
    """
    times = pd.to_datetime(frame[time_col], errors="coerce")
    if times.isna().any():
        bad = int(np.argmax(times.isna().to_numpy()))
        raise ValueError(f"Time column {time_col!r}: line {bad + 2} holds {frame[time_col].iloc[bad]!r}, "
                         "which is not a date/time.")
    frame = frame.drop(columns=[time_col]).set_index(times).sort_index()
    if frame.index.has_duplicates:
        first = frame.index[frame.index.duplicated()][0]
        raise ValueError(f"Time column {time_col!r} repeats {first}; keep one row per time step.")
    if len(frame) < 3:
        raise ValueError(f"Time column {time_col!r}: need at least 3 rows to infer the time step.")
    step = _grid_step(frame.index)
    if step is None:
        raise ValueError(f"Time column {time_col!r}: the times follow no regular grid (daily, weekly, "
                         "monthly, quarterly, yearly or a fixed gap); resample the series first.")
    grid = pd.date_range(frame.index[0], frame.index[-1], freq=step)
    regular = frame.reindex(grid)
    regular.index.name = time_col
    return regular, step, len(grid) - len(frame)


def _grid_step(index: pd.DatetimeIndex):
    """The coarsest regular frequency whose grid from first to last time holds every time."""
    from pandas.tseries.frequencies import to_offset

    exact = pd.infer_freq(index)
    if exact:
        return to_offset(exact)
    modal_gap = pd.Series(index).diff().mode().iloc[0]
    candidates = [modal_gap, "MS", "ME", "QS", "QE", "YS", "YE"]
    fitting = []
    for freq in candidates:
        grid = pd.date_range(index[0], index[-1], freq=freq)
        if len(grid) and index.isin(grid).all():
            fitting.append((len(grid), to_offset(freq)))
    return min(fitting, key=lambda pair: pair[0])[1] if fitting else None


def load_tfds(name: str, split, data_dir: str | None = None, download: bool = False, **kwargs):
    """``tfds.load`` of a prepared copy, with one clear error when there is none.

    Downloading is opt-in (``download=True``, the recipes' ``--tfds-download``):
    offline, tfds would retry for minutes before failing.
    """
    import tensorflow_datasets as tfds

    try:
        return tfds.load(name, split=split, data_dir=data_dir, download=False, **kwargs)
    except Exception as error:  # noqa: BLE001  (tfds raises several kinds for "not prepared")
        reason = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    where = data_dir or "~/tensorflow_datasets"
    how = (f"On a machine with internet run `tfds build {name.split(':')[0]} --data_dir DIR`, "
           "copy DIR here and pass --tfds-data-dir DIR")
    if not download:
        raise DataUnavailableError(
            f"tensorflow-datasets set {name!r} is not prepared in {where} ({reason}). {how}, "
            "or add --tfds-download to let tfds download it now (needs internet).")
    try:
        return tfds.load(name, split=split, data_dir=data_dir, download=True, **kwargs)
    except Exception as error:  # noqa: BLE001
        raise DataUnavailableError(
            f"tensorflow-datasets set {name!r} could not be downloaded to {where} "
            f"({type(error).__name__}). {how}.") from None
