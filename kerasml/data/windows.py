"""Sliding-window datasets over a time series, without materialising the windows.

``keras.utils.timeseries_dataset_from_array`` gathers one window per tf.data
element and then batches them, which is slow, and it cannot express labels that
span several future steps. Here the series lives once in memory (O(rows)); the
dataset yields batches of window *start indices* (optionally a fresh
permutation each epoch) and one vectorised ``tf.gather`` per batch builds the
windows. See ``benchmarks/windows.py`` for the measured speed-up.

Example:
    >>> import numpy as np
    >>> series = np.arange(20, dtype="float32").reshape(10, 2)
    >>> spec = WindowSpec(input_width=3, label_width=2, shift=2, label_columns=[1])
    >>> inputs, labels = next(iter(window_dataset(series, spec, batch_size=4)))
    >>> inputs.shape, labels.shape
    (TensorShape([4, 3, 2]), TensorShape([4, 2, 1]))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import tensorflow as tf

FILL_POLICIES = ("raise", "ffill", "interpolate", "zero")


@dataclass(frozen=True)
class WindowSpec:
    """Which rows of a series make one (inputs, labels) window.

    The semantics are those of the TensorFlow time-series tutorial's
    ``WindowGenerator``. For a window starting at row ``i``::

        row:     i  i+1  ...  i+input_width-1  ...  i+input_width+shift-1
        inputs:  [x   x  ...  x              ]        (every sampling_rate-th row)
        labels:                    [y   ...  y]       (label_width rows ending here)

    e.g. ``WindowSpec(input_width=6, label_width=2, shift=3)``::

        offset:  0 1 2 3 4 5 6 7 8
        inputs:  x x x x x x
        labels:                y y

    Args:
        input_width: rows spanned by the inputs (>= 1).
        label_width: rows of labels (>= 1, at most ``input_width + shift``).
        shift: rows from the last input row to the last label row (>= 0).
        stride: rows between consecutive window starts (>= 1).
        sampling_rate: take every ``sampling_rate``-th input row (>= 1).
        input_columns: column names or indices fed as inputs (default: all).
        label_columns: column names or indices used as labels (default: all).
    """

    input_width: int
    label_width: int = 1
    shift: int = 1
    stride: int = 1
    sampling_rate: int = 1
    input_columns: Sequence[str | int] | None = None
    label_columns: Sequence[str | int] | None = None

    def __post_init__(self):
        for name, minimum in (("input_width", 1), ("label_width", 1), ("shift", 0),
                              ("stride", 1), ("sampling_rate", 1)):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < minimum:
                raise ValueError(f"WindowSpec.{name} must be an integer >= {minimum}, got {value!r}.")
        if self.label_width > self.total_width:
            raise ValueError(
                f"WindowSpec.label_width={self.label_width} exceeds input_width + shift = "
                f"{self.total_width}: labels cannot start before the window does. "
                "Lower label_width or raise shift.")
        for name in ("input_columns", "label_columns"):
            columns = getattr(self, name)
            if columns is not None:
                if isinstance(columns, (str, int)):
                    columns = [columns]
                object.__setattr__(self, name, tuple(columns))

    @property
    def total_width(self) -> int:
        """Rows one window reads, first input to last label."""
        return self.input_width + self.shift

    @property
    def label_start(self) -> int:
        """Offset of the first label row from the window's first row."""
        return self.total_width - self.label_width

    @property
    def input_offsets(self) -> np.ndarray:
        return np.arange(0, self.input_width, self.sampling_rate, dtype=np.int32)

    @property
    def label_offsets(self) -> np.ndarray:
        return np.arange(self.label_start, self.total_width, dtype=np.int32)


def as_2d_array(series, fill: str = "raise") -> tuple[np.ndarray, list[str] | None]:
    """Return ``series`` as float32 [rows, columns] and its column names (or None).

    Args:
        series: 1-D or 2-D NumPy array, pandas Series or DataFrame.
        fill: what to do with NaN/inf: "raise" (default, names the first bad row),
            "ffill" (carry the last finite value forward, then back-fill the start),
            "interpolate" (linear in row position) or "zero".
    """
    if fill not in FILL_POLICIES:
        raise ValueError(f"fill={fill!r} is not one of {FILL_POLICIES}.")
    names = None
    if isinstance(series, pd.Series):
        names = [str(series.name) if series.name is not None else "0"]
        series = series.to_frame()
    if isinstance(series, pd.DataFrame):
        names = [str(c) for c in series.columns]
        bad = [c for c in series.columns if not pd.api.types.is_numeric_dtype(series[c])]
        if bad:
            raise ValueError(f"Column(s) {bad} are not numeric; convert or drop them before windowing.")
        series = series.to_numpy()
    array = np.asarray(series)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(
            f"A series must be 1-D [rows] or 2-D [rows, columns]; got shape {array.shape}. "
            "Reshape it (e.g. array.reshape(len(array), -1)).")
    if not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"A series must be numeric; got dtype {array.dtype}.")
    array = array.astype(np.float32, copy=False)
    finite = np.isfinite(array)
    if not finite.all():
        if fill == "raise":
            row, col = np.argwhere(~finite)[0]
            label = names[col] if names else col
            raise ValueError(
                f"The series has a non-finite value ({array[row, col]}) at row {row}, column {label}; "
                f"{int((~finite).sum())} such values in all. Clean it, or pass "
                "fill='ffill', 'interpolate' or 'zero' to choose how to fill them.")
        frame = pd.DataFrame(np.where(finite, array, np.nan))
        if fill == "ffill":
            frame = frame.ffill().bfill()
        elif fill == "interpolate":
            frame = frame.interpolate(limit_direction="both")
        else:
            frame = frame.fillna(0.0)
        array = frame.to_numpy(dtype=np.float32)
    return array, names


def _column_indices(columns, names, n_columns, role) -> np.ndarray:
    if columns is None:
        return np.arange(n_columns, dtype=np.int32)
    indices = []
    for column in columns:
        if isinstance(column, (int, np.integer)):
            if not -n_columns <= column < n_columns:
                raise ValueError(f"{role} column index {column} is out of range for a series "
                                 f"with {n_columns} column(s).")
            indices.append(int(column) % n_columns)
        elif names is None:
            raise ValueError(f"{role} column {column!r} given by name, but a NumPy array has no "
                             "column names: pass integer indices or a pandas DataFrame.")
        elif str(column) not in names:
            raise ValueError(f"{role} column {column!r} does not exist; the columns are {names}.")
        else:
            indices.append(names.index(str(column)))
    return np.asarray(indices, dtype=np.int32)


def window_starts(n_rows: int, spec: WindowSpec, start: int | None = None,
                  end: int | None = None) -> np.ndarray:
    """First rows of every window that lies wholly in rows ``[start, end)``."""
    start = 0 if start is None else start
    end = n_rows if end is None else end
    if not 0 <= start <= end <= n_rows:
        raise ValueError(f"Need 0 <= start <= end <= {n_rows} (rows in the series); "
                         f"got start={start}, end={end}.")
    if end - start < spec.total_width:
        raise ValueError(
            f"Rows [{start}, {end}) hold {end - start} rows, but one window needs "
            f"input_width + shift = {spec.total_width}. Use a longer series or a wider "
            "range, or shrink input_width / shift.")
    return np.arange(start, end - spec.total_width + 1, spec.stride, dtype=np.int32)


def window_dataset(series, spec: WindowSpec, batch_size: int = 32, shuffle: bool = False,
                   seed: int | None = None, start: int | None = None, end: int | None = None,
                   fill: str = "raise", drop_remainder: bool = False) -> tf.data.Dataset:
    """A ``tf.data.Dataset`` of ``(inputs, labels)`` batches of sliding windows.

    Args:
        series: 1-D or 2-D NumPy array, pandas Series or DataFrame (rows = time).
        spec: the window geometry and the input / label columns.
        batch_size: windows per batch.
        shuffle: visit windows in a new random order every epoch.
        seed: makes the sequence of epoch orders reproducible; None draws one
            from NumPy's global generator (seeded by ``keras.utils.set_random_seed``).
        start, end: only windows whose every row lies in ``[start, end)``.
        fill: NaN/inf policy, see ``as_2d_array``.
        drop_remainder: drop the last, smaller batch.

    Returns:
        Batches of inputs ``[batch, ceil(input_width / sampling_rate), n_inputs]``
        and labels ``[batch, label_width, n_labels]``, float32.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    array, names = as_2d_array(series, fill)
    input_cols = _column_indices(spec.input_columns, names, array.shape[1], "Input")
    label_cols = _column_indices(spec.label_columns, names, array.shape[1], "Label")
    starts = window_starts(len(array), spec, start, end)

    # Stored once each: memory is O(rows), never O(windows x width).
    inputs = tf.constant(array[:, input_cols])
    labels = tf.constant(array[:, label_cols])
    input_offsets = tf.constant(spec.input_offsets)
    label_offsets = tf.constant(spec.label_offsets)
    n_windows = len(starts)
    n_batches = n_windows // batch_size if drop_remainder else -(-n_windows // batch_size)

    def gather_windows(batch_starts):
        return (tf.gather(inputs, batch_starts[:, None] + input_offsets[None, :]),
                tf.gather(labels, batch_starts[:, None] + label_offsets[None, :]))

    def batches_of(order):
        return tf.data.Dataset.range(n_batches).map(
            lambda b: order[b * batch_size: tf.minimum((b + 1) * batch_size, n_windows)])

    starts = tf.constant(starts)
    if shuffle:
        seed = int(np.random.randint(2**31 - 1)) if seed is None else int(seed)
        # One stateless permutation of the start indices per epoch: a shuffle buffer
        # would move windows one element at a time, many times slower.
        epoch_keys = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
        orders = epoch_keys.map(lambda key: tf.random.experimental.stateless_shuffle(
            starts, seed=tf.stack([key, tf.constant(seed, tf.int64)])))
    else:
        orders = tf.data.Dataset.from_tensors(starts)
    # flat_map hides the length; state it so Keras knows the steps per epoch.
    dataset = orders.flat_map(batches_of).apply(tf.data.experimental.assert_cardinality(n_batches))
    dataset = dataset.map(gather_windows, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def window_arrays(series, spec: WindowSpec, start: int | None = None, end: int | None = None,
                  fill: str = "raise") -> tuple[np.ndarray, np.ndarray]:
    """The same windows as ``window_dataset`` (unshuffled) as two NumPy arrays.

    This materialises every window (O(windows x width) memory): meant for small
    evaluation splits, plots and baselines, not for training sets.
    """
    array, names = as_2d_array(series, fill)
    input_cols = _column_indices(spec.input_columns, names, array.shape[1], "Input")
    label_cols = _column_indices(spec.label_columns, names, array.shape[1], "Label")
    starts = window_starts(len(array), spec, start, end)
    return (array[starts[:, None] + spec.input_offsets][:, :, input_cols],
            array[starts[:, None] + spec.label_offsets][:, :, label_cols])


@dataclass(frozen=True)
class SeriesSplit:
    """Chronological train / validation / test row ranges and training statistics.

    ``train``, ``val`` and ``test`` are ``(start, end)`` row ranges to pass to
    ``window_dataset``. Every label of a split's windows lies in that split's own
    rows; validation and test windows may read *inputs* from the rows just before
    their split (the recent past a forecaster would really have), never labels.
    ``mean`` and ``std`` are per-column statistics of the training rows only.
    """

    train: tuple[int, int]
    val: tuple[int, int]
    test: tuple[int, int]
    boundaries: tuple[int, int]
    mean: np.ndarray
    std: np.ndarray

    def normalize(self, array: np.ndarray) -> np.ndarray:
        return (array - self.mean) / self.std


def split_series(series, spec: WindowSpec, val: float | int = 0.15, test: float | int = 0.15,
                 fill: str = "raise") -> SeriesSplit:
    """Split a series in time into train, validation and test windows.

    Args:
        series: as for ``window_dataset``.
        spec: the window geometry (decides how far inputs may look back).
        val, test: the share of rows (float in (0, 1)) or the number of rows (int)
            whose labels belong to validation and to test; the rest is training.
        fill: NaN/inf policy, see ``as_2d_array``.

    Example:
        >>> split = split_series(np.arange(100.0), WindowSpec(10, 1, 1))
        >>> split.train, split.val, split.test
        ((0, 70), (60, 85), (75, 100))
    """
    array, _ = as_2d_array(series, fill)
    n_rows = len(array)

    def rows(size, name):
        if isinstance(size, float) and 0.0 < size < 1.0:
            return int(round(size * n_rows))
        if isinstance(size, (int, np.integer)) and 0 < size < n_rows:
            return int(size)
        raise ValueError(f"{name}={size!r}: give a fraction in (0, 1) or a row count in (0, {n_rows}).")

    train_end = n_rows - rows(val, "val") - rows(test, "test")
    val_end = n_rows - rows(test, "test")
    lookback = spec.label_start  # rows a window reads before its first label
    ranges = {"train": (0, train_end), "val": (train_end - lookback, val_end),
              "test": (val_end - lookback, n_rows)}
    for name, (lo, hi) in ranges.items():
        if lo < 0 or hi - lo < spec.total_width:
            raise ValueError(
                f"The {name} split (rows {max(lo, 0)}..{hi}) is too short for one window of "
                f"{spec.total_width} rows: lower val/test, shorten the window, or use a longer series.")
    train_rows = array[:train_end]
    std = train_rows.std(axis=0)
    return SeriesSplit(
        train=ranges["train"], val=ranges["val"], test=ranges["test"],
        boundaries=(train_end, val_end),
        mean=train_rows.mean(axis=0), std=np.where(std > 0, std, 1.0).astype(np.float32))
