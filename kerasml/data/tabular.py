"""From a raw table to what a Keras model (and a scikit-learn baseline) takes.

A tabular recipe trains on a pandas DataFrame of raw feature columns and
exports a model that takes the same raw columns by name, gaps included. The
steps, in the order a recipe calls them:

1. ``column_kinds``: each column becomes ``"numeric"`` (floats; NaN, an empty
   cell or a marker value is missing), ``"string"`` (categorical text; empty or
   a marker is missing) or ``"integer"`` (integer category codes, e.g.
   tensorflow-datasets ``ClassLabel`` features). A text column that is at least
   80% numbers is a numeric column with junk in it: the error names the first
   bad line. Columns with every cell missing, and identifier-like text (more
   distinct values than half the rows and than 20), are left out, with a reason.
2. ``fit_columns``: on the training rows only, a ``Column`` per kept column
   with a safe model input name ("mean radius" -> "mean_radius"), and for
   categorical columns their vocabulary (commonest first) and encoding
   (one-hot up to ``one_hot_max`` categories, else an embedding).
3. ``model_inputs``: rows as the exported model takes them, one 1-D array per
   column; ``training_layout`` stacks the numeric ones into one
   ``[rows, n]`` block (``NUMERIC_BLOCK``), which trains several times faster;
   ``encoded_features`` builds the preprocessing on that layout (missing
   numbers -> training median + was-missing flags via
   ``kerasml.layers.FillMissing``, then ``Normalization``; categories ->
   ``StringLookup``/``IntegerLookup`` one-hot or ``Embedding``), and
   ``with_named_columns`` wraps the trained network so that it takes the raw
   columns by name again.
4. ``sklearn_frame`` and ``sklearn_features``: the same columns and the same
   preprocessing for a scikit-learn baseline (markers -> NaN, "" for missing
   text; median filling with indicators, standardisation, one-hot).

The error messages name the recipes' flags (``--categorical``), since the
recipes are the callers.

Example:
    >>> import numpy as np, pandas as pd
    >>> frame = pd.DataFrame({"mean radius": [1.0, np.nan, 3.0, -1.0],
    ...                       "colour": ["red", "", "blue", "red"]})
    >>> frame, kinds, dropped = column_kinds(frame, "example", markers=["-1"])
    >>> kinds
    {'mean radius': 'numeric', 'colour': 'string'}
    >>> columns = fit_columns(frame, kinds, markers=["-1"], one_hot_max=20)
    >>> [(c.input_name, c.encoding, c.vocabulary) for c in columns]
    [('mean_radius', 'numeric', []), ('colour', 'one_hot', ['red', 'blue'])]
    >>> layout = training_layout(model_inputs(frame, columns), columns)
    >>> sorted(layout), layout[NUMERIC_BLOCK].shape
    (['colour', 'numeric_block'], (4, 1))
"""

from __future__ import annotations

import dataclasses
import re

import keras
import numpy as np
import pandas as pd

from kerasml.data import sources
from kerasml.layers.tabular import FillMissing

NUMERIC_BLOCK = "numeric_block"  # the network's input of stacked numeric columns (not a column name)
DTYPES = {"numeric": "float32", "string": "string", "integer": "int64"}  # per kind, as served
IDENTIFIER_MIN_DISTINCT = 20
MISSING_HANDLING = ("numeric: training median + a was-missing indicator column; categorical: the "
                    "out-of-vocabulary slot (as is any category not seen in training)")


@dataclasses.dataclass
class Column:
    name: str                   # column in the data
    input_name: str             # the model's (and SavedModel's) input name
    kind: str                   # "numeric", "string" or "integer"
    encoding: str = "numeric"   # "numeric", "one_hot" or "embedding"
    vocabulary: list = dataclasses.field(default_factory=list)


# The table
def read_csv_with_target(path, target: str | None, *, numeric: bool = False, what: str, hint: str):
    """Feature columns and the ``target`` column of a CSV file (``numeric``: the target
    must hold numbers, junk named by line). ``what`` says what --target should name,
    ``hint`` how to name it, for the errors."""
    if not target:
        raise SystemExit(f"--csv needs --target COL: {what}.")
    try:
        frame = sources.read_csv(path, **({"numeric": [target]} if numeric else {"required": [target]}))
    except sources.MissingColumnError as error:
        raise ValueError(f"{error} Pass {hint} with --target.") from None
    return frame.drop(columns=[target]), frame[target]


# Column typing and missing values
def require_columns(frame: pd.DataFrame, names, flag: str) -> None:
    """ValueError naming ``flag`` if any of ``names`` is not a column of ``frame``."""
    unknown = [c for c in names if c not in frame.columns]
    if unknown:
        raise ValueError(f"{flag} names column(s) {unknown} that the data does not have; "
                         f"its columns are {list(frame.columns)}.")


def numeric_markers(markers) -> list[float]:
    """The markers that are numbers, as floats ("-1" -> -1.0; "Unknown" is left out)."""
    found = []
    for marker in markers:
        try:
            found.append(float(marker))
        except ValueError:
            pass
    return found


def missing_mask(values: pd.Series, markers) -> np.ndarray:
    """True where a cell is missing: NaN, empty text, or one of the markers."""
    if pd.api.types.is_numeric_dtype(values):
        return (values.isna() | values.isin(numeric_markers(markers))).to_numpy()
    text = values.astype(str).str.strip()
    return (values.isna() | (text == "") | text.isin([str(m) for m in markers])).to_numpy()


def column_kinds(frame: pd.DataFrame, source: str, *, categorical=(), markers=(), integer_categorical=()):
    """The frame (text columns of numbers converted), {column: kind} for the columns kept,
    and {column: why} for those left out.

    ``categorical`` columns are text categories whatever they hold;
    ``integer_categorical`` ones are integer category codes. Call before any
    rows are dropped: the error for junk in a numeric column names the line of
    the file (row i is line i + 2, after the header).
    """
    require_columns(frame, categorical, "--categorical")
    frame, kinds, dropped = frame.copy(), {}, {}
    for name in frame.columns:
        values = frame[name]
        missing = missing_mask(values, markers)
        if missing.all():
            dropped[name] = "every cell is missing"
        elif name in categorical:
            kinds[name] = "string"
        elif name in integer_categorical:
            kinds[name] = "integer"
        elif pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            kinds[name] = "numeric"
        else:
            filled = values[~missing].astype(str).str.strip()
            if pd.to_numeric(filled, errors="coerce").notna().mean() >= 0.8:
                try:  # mostly numbers: name the first cell that is not one
                    frame[name] = sources.to_numeric_column(values.where(~missing), source, first_data_line=2)
                except ValueError as error:
                    raise ValueError(f"{error} If {name!r} is categorical, pass --categorical {name}.") from None
                kinds[name] = "numeric"  # numbers with marker cells ("?"), which are now NaN
                continue
            distinct = filled.nunique()
            if distinct > max(IDENTIFIER_MIN_DISTINCT, 0.5 * len(frame)):
                dropped[name] = (f"identifier-like text: {distinct} distinct values in {len(frame)} rows "
                                 f"(--categorical {name} keeps it, embedded)")
            else:
                kinds[name] = "string"
    if not kinds:
        raise ValueError(f"{source}: no usable feature columns are left ({dropped or 'none given'}).")
    return frame, kinds, dropped


def describe_columns(frame: pd.DataFrame, columns: list[Column], dropped: dict, markers) -> tuple[dict, list[str]]:
    """For a run's report: the columns by encoding, those left out, the missing cells per
    column and the rows with any; and the matching log lines."""
    masks = {name: missing_mask(frame[name], markers) for name in frame.columns}
    missing = {name: int(mask.sum()) for name, mask in masks.items() if mask.any()}
    rows_with_gaps = int(np.any(list(masks.values()), axis=0).sum())
    by_encoding = {kind: [c.name for c in columns if c.encoding == kind] for kind in ("numeric", "one_hot", "embedding")}
    summary = {"columns": by_encoding, "dropped_columns": dropped,
               "missing_cells": missing, "rows_with_missing_cells": rows_with_gaps,
               "missing_handling": MISSING_HANDLING}
    lines = ["columns: " + ", ".join(f"{len(v)} {k}" for k, v in by_encoding.items() if v)]
    lines += [f"left out column {name!r}: {why}" for name, why in dropped.items()]
    lines.append(f"missing cells: {missing} in {rows_with_gaps} rows; {MISSING_HANDLING}"
                 if missing else "missing cells: none")
    return summary, lines


# Columns fitted on the training rows
def safe_input_names(columns) -> dict[str, str]:
    """Column name -> a valid, unique model input name ("mean radius" -> "mean_radius")."""
    names, used = {}, {NUMERIC_BLOCK}
    for column in columns:
        base = re.sub(r"\W", "_", str(column)).strip("_") or "column"
        base = base if base[0].isalpha() else f"c_{base}"
        name, n = base, 2
        while name in used:
            name, n = f"{base}_{n}", n + 1
        used.add(name)
        names[column] = name
    return names


def fit_columns(frame: pd.DataFrame, kinds: dict, *, markers=(), one_hot_max: int = 20) -> list[Column]:
    """Columns with their encodings and vocabularies (commonest first, ties by text),
    from the training rows only."""
    input_names = safe_input_names(kinds)
    columns = []
    for name, kind in kinds.items():
        column = Column(name, input_names[name], kind)
        if kind != "numeric":
            values = frame[name][~missing_mask(frame[name], markers)]
            values = values.map(as_text) if kind == "string" else values.astype("int64")
            counts = values.value_counts()
            column.vocabulary = sorted(counts.index.tolist(), key=lambda v: (-counts[v], str(v)))
            column.encoding = "one_hot" if len(column.vocabulary) <= one_hot_max else "embedding"
        columns.append(column)
    return columns


def as_text(value) -> str:
    """A categorical cell as text, as written in a CSV ("3", not "3.0"); missing -> ""."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


# Model inputs
def model_inputs(frame: pd.DataFrame, columns: list[Column]) -> dict[str, np.ndarray]:
    """Raw rows as the exported model takes them: one 1-D array per column."""
    inputs = {}
    for column in columns:
        values = frame[column.name]
        if column.kind == "numeric":
            inputs[column.input_name] = pd.to_numeric(values).to_numpy("float32")
        elif column.kind == "string":
            inputs[column.input_name] = np.array([as_text(v) for v in values], dtype=object)
        else:
            inputs[column.input_name] = values.to_numpy("int64")
    return inputs


def serving_inputs(columns: list[Column]) -> dict:
    """The exported model's inputs, described for metrics.json."""
    missing = {"numeric": "NaN", "string": '"" (or any unseen value)', "integer": "(no missing codes)"}
    return {c.input_name: {"column": c.name, "dtype": DTYPES[c.kind], "shape": "[batch]",
                           "missing": missing[c.kind]} for c in columns}


def training_layout(raw: dict, columns: list[Column]) -> dict:
    """Raw per-column arrays -> the network's inputs: numeric columns stacked into one
    [rows, n] block under ``NUMERIC_BLOCK``.

    (Training on one block is several times faster than on one input per
    column; ``with_named_columns`` makes the exported model take the columns by
    name and stack them itself.)
    """
    layout = {c.input_name: raw[c.input_name] for c in columns if c.kind != "numeric"}
    numeric = [raw[c.input_name] for c in columns if c.kind == "numeric"]
    if numeric:
        layout[NUMERIC_BLOCK] = np.stack(numeric, axis=1)
    return layout


def encoded_features(columns: list[Column], train: dict, markers=()):
    """Keras inputs in the training layout and the preprocessed feature tensor
    [batch, features], fitted on ``train`` (the training rows' ``training_layout``).

    Numeric block: missing -> the training median, plus a was-missing column for
    each column with gaps in training (``FillMissing``), then ``Normalization``
    (a column constant in training is only centred, as StandardScaler does:
    dividing by its zero spread would turn any other value met later into an
    enormous input). Categorical columns: ``StringLookup`` (text) or
    ``IntegerLookup`` (codes) on the training vocabulary, one-hot or into an
    ``Embedding`` of min(16, round(1.6 * size ** 0.56)) dimensions; missing and
    unseen categories go to the out-of-vocabulary slot.
    """
    inputs = {c.input_name: keras.Input(shape=(), name=c.input_name, dtype=DTYPES[c.kind])
              for c in columns if c.kind != "numeric"}
    parts = []
    if NUMERIC_BLOCK in train:
        x = train[NUMERIC_BLOCK]
        inputs[NUMERIC_BLOCK] = keras.Input(shape=(x.shape[1],), name=NUMERIC_BLOCK)
        markers = numeric_markers(markers)
        missing = np.isnan(x) | np.isin(x, markers)
        fill = FillMissing(np.nanmedian(np.where(missing, np.nan, x), axis=0),
                           indicators=np.flatnonzero(missing.any(axis=0)), markers=markers,
                           name="fill_missing")
        filled = keras.ops.convert_to_numpy(fill(x))
        variance = np.where(filled.var(axis=0) > 0, filled.var(axis=0), 1.0)
        standardize = keras.layers.Normalization(mean=filled.mean(axis=0), variance=variance,
                                                 name="standardize")
        parts.append(standardize(fill(inputs[NUMERIC_BLOCK])))
    for c in columns:
        if c.kind == "numeric":
            continue
        lookup = keras.layers.StringLookup if c.kind == "string" else keras.layers.IntegerLookup
        if c.encoding == "one_hot":
            parts.append(lookup(vocabulary=c.vocabulary, output_mode="one_hot",
                                name=f"{c.input_name}_one_hot")(inputs[c.input_name]))
        else:
            ids = lookup(vocabulary=c.vocabulary, name=f"{c.input_name}_lookup")(inputs[c.input_name])
            size = len(c.vocabulary) + 1  # + the out-of-vocabulary slot
            dim = min(16, round(1.6 * size ** 0.56))
            parts.append(keras.layers.Embedding(size, dim, name=f"{c.input_name}_embedding")(ids))
    features = keras.layers.Concatenate(name="features")(parts) if len(parts) > 1 else parts[0]
    return inputs, features


def with_named_columns(network: keras.Model, columns: list[Column], name: str) -> keras.Model:
    """The model to export: one 1-D input per raw column, numeric ones stacked for
    ``network`` (which takes the ``training_layout``); the same weights."""
    inputs = {c.input_name: keras.Input(shape=(), name=c.input_name, dtype=DTYPES[c.kind]) for c in columns}
    layout = {c.input_name: inputs[c.input_name] for c in columns if c.kind != "numeric"}
    numeric = [keras.layers.Reshape((1,), name=f"{c.input_name}_column")(inputs[c.input_name])
               for c in columns if c.kind == "numeric"]
    if numeric:
        layout[NUMERIC_BLOCK] = (keras.layers.Concatenate(name="stack_numeric")(numeric)
                                 if len(numeric) > 1 else numeric[0])
    return keras.Model(inputs, network(layout), name=name)


# scikit-learn baselines
def sklearn_frame(frame: pd.DataFrame, columns: list[Column], markers) -> pd.DataFrame:
    """The same columns for scikit-learn: markers -> NaN in numbers, "" for missing text."""
    table = {}
    for column in columns:
        values = frame[column.name]
        if column.kind == "numeric":
            numbers = pd.to_numeric(values).astype("float64")
            table[column.name] = numbers.where(~numbers.isin(numeric_markers(markers)))
        elif column.kind == "string":
            table[column.name] = values.map(as_text)
        else:
            table[column.name] = values.astype("int64")
    return pd.DataFrame(table)


def sklearn_features(columns: list[Column]):
    """The model's preprocessing for a ``sklearn_frame``: median filling with missing
    indicators and standardisation for numbers, one-hot (unseen -> all zeros) for categories."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c.name for c in columns if c.kind == "numeric"]
    categorical = [c.name for c in columns if c.kind != "numeric"]
    return ColumnTransformer([
        ("numeric", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()),
         numeric),
        ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical)])
