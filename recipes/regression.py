"""Title: Tabular regression with a small MLP ensemble, against linear regression on its home ground

Architecture: Keras preprocessing inside the model (missing-value filling with
    missing indicators, Normalization, StringLookup one-hot or Embedding) ->
    K members averaged, each a linear term plus an MLP (Dense(ReLU, L2) ->
    Dense(1), zero-initialised: "wide & deep"), each trained on a different
    K-1 folds of the training rows and early-stopped on the remaining fold;
    the target is standardised for training and rescaled inside the model.
Paper(s): Rumelhart, Hinton & Williams 1986, "Learning representations by
    back-propagating errors"; Cheng et al. 2016, "Wide & Deep Learning for
    Recommender Systems" (a linear term beside the MLP); Krogh & Vedelsby 1995,
    "Neural Network Ensembles, Cross Validation, and Active Learning"
    (averaging networks trained on different folds); Efron & Tibshirani 1993,
    "An Introduction to the Bootstrap" (the paired bootstrap interval).
Dataset: diabetes (scikit-learn, embedded: 442 patients, 10 baseline
    measurements in their original units, target a quantitative measure of
    disease progression one year later, 25-346); any CSV with
    `--csv PATH --target COL` (numeric and categorical columns, gaps allowed).
Run: python -m recipes.regression
    python -m recipes.regression --csv houses.csv --target price --categorical district --drop listing_id

Results: measured 2026-11-24 on x86_64, 2 cores shared with other jobs (Keras 3.15.1,
    TensorFlow 2.21.0), seed 0, by `python -m benchmarks.run_recipes regression` (152 s in
    all): diabetes, 89 test rows.

    |                       |   R²    |  MSE   |  RMSE |  MAE  | RMSLE  | MAPE % |
    |-----------------------|---------|--------|-------|-------|--------|--------|
    | MLP ensemble (5)      |  0.5578 | 2580.9 | 50.80 | 39.08 | 0.4003 | 36.79  |
    | mean predictor        | -0.0000 | 5836.3 | 76.40 | 65.31 | 0.5512 | 58.95  |
    | linear regression     |  0.5522 | 2613.3 | 51.12 | 39.73 | 0.4082 | 38.04  |

    Bar (R² no worse than linear regression's minus 0.02, i.e. >= 0.5322): met, at +0.0056
    over linear regression itself. What that measures: a tie. The paired bootstrap 95%
    interval of the difference is [-0.045, +0.060], and other splits move R² far more than
    the model does: with `--seed 1` / `--seed 2` the ensemble scored 0.4131 / 0.5266 against
    linear regression's 0.4033 / 0.5233 (intervals [-0.037, +0.061] / [-0.044, +0.058]).
    Without the linear term (`--no-linear-term`, seed 0) the ensemble scored 0.5443
    (interval [-0.069, +0.055]). On diabetes the MLP matches linear regression and finds
    no non-linearity worth the name. The recipe shows the full path (raw rows in, target
    units out, an honest comparison); only where features interact, which a linear model
    cannot express, does an MLP have room to do better.

## 1. The data, its columns and its gaps

One table of raw feature columns and a numeric target. Each feature column is
numeric (NaN, an empty cell or a `--missing-markers` value means missing) or
categorical text (empty or a marker means missing). A CSV column of text with
at least 80% numbers is a numeric column with junk in it: the run stops,
naming the column, the first bad line and the fix. Text columns with nearly
all values different (more distinct values than half the rows and than 20)
are identifiers and are left out, with a note. The target must be numeric
(junk is named by line); rows without a target are dropped and counted; a
constant target is an error. The column typing is
`kerasml.data.tabular.column_kinds` (shared with recipes.classification).

## 2. Split

A seeded 80/20 split, stratified on target quintiles so that the test rows
span the range of the target. The test rows are touched once, at the end.

## 3. The model: preprocessing inside, a small ensemble

Preprocessing is fitted on the training rows and lives in the model, so the
export takes raw rows: numeric columns are stacked, missing values become
the training median with a 0/1 "was missing" column for each column that had
gaps, then `Normalization`; categorical columns go through `StringLookup`,
one-hot up to `--one-hot-max` categories, else an `Embedding`.
`kerasml.data.tabular.fit_columns` fits the vocabularies and encodings,
`encoded_features` builds these layers (the filling is the
`kerasml.layers.FillMissing` layer).

diabetes is small (353 training rows) and noisy, and linear regression is
hard to beat on it. So each member is linear regression plus a small MLP
whose output layer starts at zero: training starts from a linear model, and
the MLP, held back by L2 weight decay, adds only the curvature the data
supports. Early stopping needs held-out rows; rather than setting aside one
validation split that no model learns from, the training rows are cut into
K folds, member k trains on the other K-1 folds and stops on fold k, and the
K members are averaged inside the exported model. Every training row thus
teaches K-1 members, and averaging cancels part of each member's noise.

## 4. Baselines, in the same run

The mean of the training targets, and ordinary least squares
(`LinearRegression`) on the same features (median filling with missing
indicators, standardisation, one-hot: `kerasml.data.tabular.sklearn_frame`
and `sklearn_features`), both fitted on all training rows.

## 5. Metrics, and what they can tell on 89 test rows

R², MSE, RMSE, MAE (scikit-learn); RMSLE (`kerasml.metrics.rmsle`: needs
targets >= 0; `--rmsle-shift S` adds S first, and without one a target below
zero leaves RMSLE out with a note saying which shift would do); MAPE in
percent (`kerasml.metrics.mape`, which warns when targets are near zero and
percentage errors explode). The predictions are written to
`test_predictions.csv`. With under a hundred test rows the R² of a single
split moves by several hundredths with the split, so the report adds a
paired bootstrap 95% interval of the model's R² minus linear regression's on
the same rows: when it straddles zero the two are not told apart.

## 6. Export and serving

`model.keras` and `saved_model/` (`run.export`, which reloads the SavedModel
and checks it on the raw test rows). The members train on the numeric
columns stacked into one block (`kerasml.data.tabular.training_layout`);
`with_named_columns` gives the exported model one input per column again.
`serve` takes ONE argument, a dict with one
1-D tensor per feature column (names made safe: "blood pressure" ->
"blood_pressure"): float32 for numeric columns (NaN for missing), string for
categorical ones ("" for missing); `signatures["serving_default"]` takes the
same as keyword arguments. It returns float32 [batch, 1] predictions in the
target's own units. metrics.json's `serving` entry lists every input.
"""

from __future__ import annotations

import dataclasses
import sys
import warnings
from typing import Literal

import kerasml  # noqa: F401  (first: quiets TensorFlow's start-up logs)

import keras  # isort: skip
import numpy as np  # isort: skip
import pandas as pd  # isort: skip
from sklearn.dummy import DummyRegressor  # isort: skip
from sklearn.linear_model import LinearRegression  # isort: skip
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score, root_mean_squared_error  # isort: skip
from sklearn.model_selection import KFold, train_test_split  # isort: skip
from sklearn.pipeline import make_pipeline  # isort: skip
from threadpoolctl import threadpool_limits  # isort: skip

from kerasml import plots  # noqa: E402
from kerasml.data import tabular  # noqa: E402
from kerasml.metrics import mape, rmsle  # noqa: E402
from kerasml.recipe import RecipeConfig, field, start_run  # noqa: E402


@dataclasses.dataclass
class Config(RecipeConfig):
    epochs: int = field(1000, "maximum training epochs per member (early stopping ends far sooner)")
    batch_size: int = field(32, "rows per training batch")
    learning_rate: float = field(3e-3, "Adam learning rate")
    dataset: Literal["diabetes"] = field("diabetes", "embedded scikit-learn dataset (when --csv is not given)")
    csv: str | None = field(None, "train on this CSV file (one row per example, a header row)")
    target: str | None = field(None, "with --csv: the numeric column to predict")
    categorical: tuple[str, ...] = field((), "columns to treat as categorical text even if they hold numbers")
    drop: tuple[str, ...] = field((), "columns to leave out (identifiers, or columns that give the target away)")
    missing_markers: tuple[str, ...] = field((), "cell values that mean missing in every column, e.g. -1 ?")
    members: int = field(5, "networks averaged in the model; member k early-stops on training fold k of K")
    hidden_units: tuple[int, ...] = field((16,), "units of each hidden Dense layer of every member")
    l2: float = field(1e-2, "L2 weight decay on the MLP's kernels (not on the linear term)")
    linear_term: bool = field(True, "add a linear term beside each member's MLP (wide & deep)")
    patience: int = field(30, "early-stopping patience in epochs (on the member's held-out fold)")
    test_fraction: float = field(0.2, "share of rows for the final test")
    one_hot_max: int = field(20, "categorical columns with at most this many categories are one-hot, others embedded")
    rmsle_shift: float | None = field(None, "add this to targets and predictions before RMSLE's log "
                                            "(needed when targets can be negative)")
    bootstrap: int = field(2000, "bootstrap resamples of the test rows for the R² interval")


QUICK = {"epochs": 3, "members": 2, "hidden_units": (8,), "patience": 2, "bootstrap": 200}
MIN_ROWS = 20


# ## 1. Data
def load_table(config: Config) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, str]:
    """Raw feature columns (every row), the target of the rows that have one, which rows those are,
    and a description."""
    if config.csv:
        features, target = tabular.read_csv_with_target(
            config.csv, config.target, numeric=True, what="the numeric column to predict",
            hint="the column to predict")
        name, column = f"{config.csv} (target {config.target})", config.target
    else:
        from sklearn import datasets

        loaded = datasets.load_diabetes(as_frame=True, scaled=False)
        features, target = loaded.data, loaded.target
        name, column = "diabetes (scikit-learn, embedded; original units)", "target"
    tabular.require_columns(features, config.drop, "--drop")
    labelled = target.notna().to_numpy()
    y = target[labelled].to_numpy("float64")
    if len(y) < MIN_ROWS:
        raise ValueError(f"{name}: only {len(y)} rows have a value in column {column!r}; this recipe needs at "
                         f"least {MIN_ROWS} to train, stop early and test.")
    if np.ptp(y) == 0:
        raise ValueError(f"{name}: column {column!r} holds the same value ({y[0]:g}) in all {len(y)} rows; "
                         "there is nothing to predict. Check --target.")
    return features.drop(columns=list(config.drop)), y, labelled, name


# Column kinds, vocabularies and the model's input arrays: kerasml.data.tabular, which
# classification shares. `tabular.column_kinds` types every column (numeric or text
# categorical, or left out with a reason), `tabular.fit_columns` fits vocabularies and
# encodings on the training rows, `tabular.model_inputs` turns rows into one 1-D array per
# column, and `tabular.missing_mask` says which cells are gaps.


# ## 2. Split
def split_rows(y: np.ndarray, config: Config) -> tuple[np.ndarray, np.ndarray]:
    """Train and test row indices, stratified on the target's quintiles."""
    quintiles = pd.qcut(y, q=5, labels=False, duplicates="drop")
    train, test = train_test_split(np.arange(len(y)), test_size=config.test_fraction, stratify=quintiles,
                                   random_state=config.seed)
    return np.sort(train), np.sort(test)


# ## 3. Model
def build_member(config: Config, columns: list[tabular.Column], train: dict, index: int) -> keras.Model:
    """One member: preprocessing fitted on `train` -> linear term + MLP -> the standardised target.

    The preprocessing (median filling with was-missing columns by
    `kerasml.layers.FillMissing`, Normalization, lookups one-hot or embedded) is
    `kerasml.data.tabular.encoded_features`.
    """
    inputs, features = tabular.encoded_features(columns, train, config.missing_markers)
    hidden = features
    for i, units in enumerate(config.hidden_units):
        hidden = keras.layers.Dense(units, activation="relu", kernel_regularizer=keras.regularizers.L2(config.l2),
                                    name=f"hidden_{i + 1}")(hidden)
    # Zero-initialised beside the linear term: training starts from a linear model.
    output = keras.layers.Dense(1, kernel_initializer="zeros" if config.linear_term else "glorot_uniform",
                                kernel_regularizer=keras.regularizers.L2(config.l2), name="mlp_out")(hidden)
    if config.linear_term:
        output = keras.layers.Add(name="wide_and_deep")([keras.layers.Dense(1, name="linear")(features), output])
    model = keras.Model(inputs, output, name=f"member_{index + 1}")
    model.compile(keras.optimizers.Adam(config.learning_rate), loss="mse")
    return model


def ensemble(members: list[keras.Model], y_mean: float, y_std: float) -> keras.Model:
    """Average of the members' standardised predictions, rescaled to the target's units."""
    inputs = {name: keras.Input(shape=tensor.shape[1:], name=name, dtype=tensor.dtype)
              for name, tensor in members[0].input.items()}
    outputs = [member(inputs) for member in members]
    mean = keras.layers.Average(name="average")(outputs) if len(outputs) > 1 else outputs[0]
    prediction = keras.layers.Rescaling(scale=y_std, offset=y_mean, name="to_target_units")(mean)
    return keras.Model(inputs, prediction, name="mlp_ensemble")


# Training takes the numeric columns stacked into one block (`tabular.training_layout`:
# several times faster than one input per column); the exported model takes the raw
# columns by name and stacks them itself (`tabular.with_named_columns`).


# ## 4. Baselines
# The same columns for scikit-learn: `tabular.sklearn_frame` (markers -> NaN, "" for
# missing text) and `tabular.sklearn_features` (the model's preprocessing as a
# ColumnTransformer).
def fit_baselines(x: pd.DataFrame, y: np.ndarray, columns: list[tabular.Column]) -> dict:
    return {"mean_predictor": DummyRegressor(strategy="mean").fit(x, y),
            "linear_regression": make_pipeline(tabular.sklearn_features(columns), LinearRegression()).fit(x, y)}


# ## 5. Metrics
def regression_metrics(y: np.ndarray, predicted: np.ndarray, shift: float | None, notes: set) -> dict:
    """scikit-learn's R², MSE, RMSE, MAE; kerasml's RMSLE and MAPE (%). Problems go to `notes`."""
    metrics = {"test_r2": r2_score(y, predicted), "test_mse": mean_squared_error(y, predicted),
               "test_rmse": root_mean_squared_error(y, predicted), "test_mae": mean_absolute_error(y, predicted)}
    try:
        metrics["test_rmsle"] = rmsle(y, predicted, shift=shift or 0.0)
    except ValueError as error:
        metrics["test_rmsle"] = None
        notes.add(f"RMSLE left out: {error}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        metrics["test_mape"] = mape(y, predicted)
    notes.update(str(w.message) for w in caught)
    return metrics


def bootstrap_r2(y: np.ndarray, predictions: dict, resamples: int, seed: int) -> dict:
    """Paired bootstrap over the test rows: 95% intervals of R² and of the model's R² minus linear
    regression's (the same resampled rows for both, so shared luck cancels)."""
    rows = np.random.default_rng(seed).integers(0, len(y), size=(resamples, len(y)))
    resampled = y[rows]
    total = np.sum((resampled - resampled.mean(axis=1, keepdims=True)) ** 2, axis=1)
    r2 = {name: 1 - np.sum((resampled - p[rows]) ** 2, axis=1) / total for name, p in predictions.items()
          if name in ("model", "linear_regression")}
    interval = lambda values: [float(v) for v in np.percentile(values, [2.5, 97.5])]  # noqa: E731
    return {"resamples": resamples, "model_r2_ci95": interval(r2["model"]),
            "linear_regression_r2_ci95": interval(r2["linear_regression"]),
            "r2_minus_linear_regression_ci95": interval(r2["model"] - r2["linear_regression"])}


# ## 6. Train, evaluate, export
def main(argv=None) -> dict:
    run = start_run("regression", Config, argv, description=__doc__, quick=QUICK)
    config = run.config
    features, y, labelled, name = load_table(config)
    # Column kinds from every row, before rows without a target go: junk errors name the file's line.
    features, kinds, dropped = tabular.column_kinds(features, name, categorical=config.categorical,
                                                    markers=config.missing_markers)
    frame = features.loc[labelled, list(kinds)].reset_index(drop=True)
    train, test = split_rows(y, config)
    columns = tabular.fit_columns(frame.iloc[train], kinds, markers=config.missing_markers,
                                  one_hot_max=config.one_hot_max)
    summary = data_summary(frame, y, labelled, columns, dropped, config, train, test, name)
    for line in summary.pop("lines"):
        run.log(line)

    # One BLAS thread: on problems this small, more threads only wait for each other.
    with run.timer("baselines"), threadpool_limits(limits=1):
        table_sk = tabular.sklearn_frame(frame, columns, config.missing_markers)
        baselines = fit_baselines(table_sk.iloc[train], y[train], columns)
        predictions = {name: b.predict(table_sk.iloc[test]) for name, b in baselines.items()}

    layout = tabular.training_layout(tabular.model_inputs(frame, columns), columns)
    rows_of = lambda rows: {key: values[rows] for key, values in layout.items()}  # noqa: E731
    y_mean, y_std = float(y[train].mean()), float(y[train].std())
    standardized = (y - y_mean) / y_std
    if config.members > 1:
        folds = list(KFold(config.members, shuffle=True, random_state=config.seed).split(train))
    else:
        folds = [train_test_split(np.arange(len(train)), test_size=0.2, random_state=config.seed)]
    members = []
    with run.timer("train"):
        for k, (fit, stop) in enumerate(folds):
            run.log(f"member {k + 1}/{len(folds)}: {len(fit)} rows to fit, {len(stop)} to stop early")
            member = build_member(config, columns, rows_of(train), k)
            member.fit(rows_of(train[fit]), standardized[train[fit]],
                       validation_data=(rows_of(train[stop]), standardized[train[stop]]),
                       epochs=config.epochs, batch_size=config.batch_size, verbose=run.fit_verbose,
                       callbacks=run.callbacks(patience=config.patience, tag=member_tag(k)))
            members.append(member)
    mlp = ensemble(members, y_mean, y_std)
    model = tabular.with_named_columns(mlp, columns, "tabular_regressor")  # raw columns by name
    predictions = {"model": mlp.predict(rows_of(test), verbose=0)[:, 0].astype("float64"), **predictions}

    y_test, notes = y[test], set()
    scores = {name: regression_metrics(y_test, p, config.rmsle_shift, notes) for name, p in predictions.items()}
    for note in sorted(notes):
        run.log(f"note: {note}")
    linear_r2 = scores["linear_regression"]["test_r2"]
    extra = {"data": summary, "serving": serving_signature(columns),
             "bootstrap": bootstrap_r2(y_test, predictions, config.bootstrap, config.seed),
             "bar": {"metric": "test_r2", "threshold": linear_r2 - 0.02, "value": scores["model"]["test_r2"],
                     "met": bool(scores["model"]["test_r2"] >= linear_r2 - 0.02),
                     "rule": "R² no worse than linear regression's minus 0.02"},
             "notes": sorted(notes), "mape_units": "percent",
             "rmsle_shift": config.rmsle_shift or 0.0}
    low, high = extra["bootstrap"]["r2_minus_linear_regression_ci95"]
    run.log(f"R² minus linear regression's: {scores['model']['test_r2'] - linear_r2:+.4f}, paired bootstrap 95% "
            f"interval [{low:+.4f}, {high:+.4f}]")

    pd.DataFrame({"row": test, "y_true": y_test, **predictions}).to_csv(run.dir / "test_predictions.csv",
                                                                          index=False)
    plot_results(run, y_test, predictions, len(members))
    # model.keras, saved_model/, and a reload check on raw test rows
    run.export(model, tabular.model_inputs(frame.iloc[test], columns))
    return run.finish(dataset=name, metrics=scores.pop("model"), baselines=scores, extra=extra)


def member_tag(k: int) -> str | None:
    """Member 1 writes history.csv; member k > 1 history_member{k}.csv."""
    return None if k == 0 else f"member{k + 1}"


def data_summary(frame, y, labelled, columns, dropped, config, train, test, name) -> dict:
    """What the run did with the data, for the report (and its log lines under "lines")."""
    columns_summary, column_lines = tabular.describe_columns(frame, columns, dropped, config.missing_markers)
    summary = {
        "rows": len(frame), "train_rows": len(train), "test_rows": len(test),
        "rows_without_target_dropped": int((~labelled).sum()),
        "target": {"min": float(y.min()), "median": float(np.median(y)), "max": float(y.max())},
        **columns_summary,
    }
    lines = [f"data: {name}: {len(frame)} rows with a target ({summary['rows_without_target_dropped']} without "
             f"dropped), target from {y.min():g} to {y.max():g}",
             f"split: {len(train)} train (in {config.members} folds) / {len(test)} test",
             *column_lines]
    return {**summary, "lines": lines}


def serving_signature(columns: list[tabular.Column]) -> dict:
    return {
        "endpoint": "serve(inputs_dict); or signatures['serving_default'](**inputs_dict)",
        "inputs": tabular.serving_inputs(columns),
        "output": "float32 [batch, 1] predictions in the target's units",
    }


def plot_results(run, y, predictions: dict, n_members: int) -> None:
    plots.plot_predicted_vs_actual(
        run.plot_path("predicted_vs_actual.png"),
        y, {"MLP ensemble": predictions["model"], "linear regression": predictions["linear_regression"]},
        title="Test rows: predicted against actual")
    curves, styles = {}, {}
    for k in range(n_members):
        history = pd.read_csv(run.history_path(member_tag(k)))
        for key, part, line in (("val_loss", "held-out fold", "-"), ("loss", "training folds", "--")):
            curves[f"member {k + 1}: {part}"] = history[key].to_numpy()
            styles[f"member {k + 1}: {part}"] = {"color": f"C{k % 10}", "linestyle": line, "linewidth": 1}
    plots.plot_lines(run.plot_path("history.png"), curves, styles=styles, xlabel="epoch",
                     ylabel="MSE of the standardised target (+ L2)", title="Training of each member")


if __name__ == "__main__":
    main(sys.argv[1:])
