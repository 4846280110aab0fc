"""Title: Tabular classification with an MLP, class weighting and metrics that do not flatter

Architecture: Keras preprocessing inside the model (missing-value filling with
    missing indicators, Normalization, StringLookup/IntegerLookup one-hot or
    Embedding) -> Dense(ReLU, L2) -> Dropout -> ... -> Dense(softmax); trained
    with class weights inversely proportional to class frequency.
Paper(s): Rumelhart, Hinton & Williams 1986, "Learning representations by
    back-propagating errors"; Kingma & Ba 2015, "Adam"; King & Zeng 2001,
    "Logistic Regression in Rare Events Data" (re-weighting classes);
    Brodersen et al. 2010, "The balanced accuracy and its posterior
    distribution"; Saito & Rehmsmeier 2015, "The Precision-Recall Plot Is More
    Informative than the ROC Plot When Evaluating Binary Classifiers on
    Imbalanced Datasets".
Dataset: breast_cancer (scikit-learn, embedded: 569 tumours, 30 numeric
    features, 212 malignant / 357 benign); `--dataset digits` (1797 8x8
    images, 10 classes) or `--dataset wine` (178 wines, 3 classes); any CSV
    with `--csv PATH --target COL`; any tabular tensorflow-datasets set with
    `--tfds NAME` (must be prepared, or add `--tfds-download`).
Run: python -m recipes.classification
    python -m recipes.classification --dataset digits
    python -m recipes.classification --csv patients.csv --target outcome --categorical ward --drop patient_id
    python -m recipes.classification --tfds titanic --missing-markers -1 Unknown --drop boat body name ticket home.dest

Results: measured 2026-11-24 on x86_64, 2 cores shared with other jobs (Keras 3.15.1,
    TensorFlow 2.21.0), seed 0, by `python -m benchmarks.run_recipes classification`
    (30 s in all): breast_cancer, 114 test rows of which 42 malignant (the positive class).

    |                     | accuracy | bal. acc. | precision | recall |   F1   | ROC AUC |   AP   |
    |---------------------|----------|-----------|-----------|--------|--------|---------|--------|
    | MLP                 |  0.9474  |  0.9435   |  0.9286   | 0.9286 | 0.9286 | 0.9934  | 0.9903 |
    | majority class      |  0.6316  |  0.5000   |  0.0000   | 0.0000 | 0.0000 | 0.5000  | 0.3684 |
    | logistic regression |  0.9649  |  0.9623   |  0.9524   | 0.9524 | 0.9524 | 0.9954  | 0.9932 |

    Bar ROC AUC >= 0.99: met (0.9934). Logistic regression is ahead on every metric (it
    misses 2 of the 42 malignant tumours, the MLP 3): these 30 measurements separate the
    classes almost linearly, and 341 training rows leave an MLP little to add. With
    `--seed 1` / `--seed 2` (other splits) the MLP's ROC AUC was 0.9980 / 0.9947, logistic
    regression's 0.9987 / 0.9957.
    digits, `python -m recipes.classification --dataset digits` (same day and machine,
    40 s; 360 test rows, 10 classes, macro averages): MLP accuracy 0.9694, F1 0.9696,
    ROC AUC 0.9961, mAP 0.9890; logistic regression 0.9667, 0.9667, 0.9985, 0.9867;
    majority class 0.1000, 0.0182, 0.5000, 0.1000. Bar mAP >= 0.98: met (0.9890).

## 1. The data, its columns and its gaps

Every source becomes one table of raw feature columns plus a label column.
Each feature column gets a kind: numeric (float; NaN, an empty cell or a
`--missing-markers` value means missing), text categorical (an empty cell or
a marker means missing) or integer categorical (tensorflow-datasets
`ClassLabel` features, which tfds hands out as integer codes). A CSV column
of text is categorical, unless at least 80% of its filled cells are numbers:
then it is a numeric column with junk in it, and the run stops naming the
column, the first bad line and the fix (`--categorical COL` if it really is
categorical). Text columns whose values are nearly all different (names,
ticket numbers: more distinct values than half the rows and than 20) are
identifiers, not categories, and are left out; the run says so. Rows
without a label are dropped and counted; a label column with a single
class, or a class too rare to appear in every split, is an error that
says what to change. The report lists the missing cells of every column.
The column typing is `kerasml.data.tabular.column_kinds` (shared with
recipes.regression; `missing_mask` says which cells are gaps).

## 2. Splits

A stratified split, seeded: 60% training, 20% validation (early stopping
only) and 20% test, which nothing looks at until the final evaluation. Every
class appears in every split in the same proportions.

## 3. The model: preprocessing inside it

The exported model takes raw rows, so the preprocessing lives in the model,
fitted on the training split only. Numeric columns are stacked, a missing
value becomes the training median and, for each column that had gaps in
training, a 0/1 "was missing" column is appended (missingness is often
informative); then `Normalization` standardises (a column constant in
training is only centred: digits' corner pixels are always 0 in training,
and dividing by a zero spread turned the odd non-zero pixel met in
validation into an input of millions and the validation loss into 280). Categorical columns go
through `StringLookup` (text) or `IntegerLookup` (integer codes) with the
training vocabulary: one-hot when there are at most `--one-hot-max`
categories, else a learned `Embedding`. A missing or never-seen category
maps to the lookup's out-of-vocabulary slot. `kerasml.data.tabular.fit_columns`
fits the vocabularies and encodings, `encoded_features` builds these layers
(the filling is the `kerasml.layers.FillMissing` layer). An MLP with L2
weight decay and dropout ends in a softmax over the classes.

## 4. Class weighting

With class weights n / (k * n_c) (scikit-learn's "balanced") every class
contributes the same total weight to the loss, so the network cannot lower
its loss by favouring the majority class; `--no-class-weight` turns it off
for comparison. Training stops when the validation loss has not improved
for `--patience` epochs and keeps the best weights.

## 5. Baselines, in the same run

The majority class (scikit-learn `DummyClassifier(strategy="prior")`: it
always predicts the commonest training class and scores every row with the
training class frequencies) and logistic regression with the same class
weighting on the same features (median filling with missing indicators,
standardisation, one-hot: `kerasml.data.tabular.sklearn_frame` and
`sklearn_features`). Baselines are fitted on training + validation
rows, which they cannot misuse, since they have no epochs to stop.

## 6. Metrics, and why accuracy misleads

On the test split, for the model and both baselines: accuracy, balanced
accuracy (mean recall over classes), precision, recall and F1 (of the
positive class for two classes, the rarer one unless `--positive-class`
says otherwise; macro averages for more), ROC AUC (one-vs-rest macro for
more classes), average precision (area under the precision-recall curve;
its macro mean over classes, mAP, for more classes) and the confusion
matrix. All are scikit-learn's. The test predictions are written to
`test_predictions.csv`, so every number can be recomputed.

Accuracy counts every row alike, so the commoner class dominates it. For
two classes the run also re-weights the same test predictions as if only
`--rare-prevalence` (5%) of cases were positive
(`kerasml.metrics.prevalence_weights`, `rare_positive_view` in
metrics.json): what a screening setting would see. In the default run the
majority-class baseline is right on 63.2% of the test rows while finding
none of the 42 malignant tumours (recall 0, balanced accuracy 0.50, F1 0).
At 5% malignant it would be right 95.0% of the time and the MLP 95.7%: 0.7
points apart, though the MLP finds 93% of malignant tumours and the
baseline none. Balanced accuracy (0.94 against 0.50), recall, F1 (0.68
against 0) and average precision (0.95 against 0.05) tell them apart.
Rarity costs precision too: at 5% prevalence 54% of the MLP's alarms would
be malignant, against 93% on the test split as it is (37% malignant). ROC
AUC does not move with prevalence and average precision does, which is why
both are reported. With class weighting the MLP is trained as if both
classes were equally common (weights 1.34 malignant, 0.80 benign).

## 7. Export and serving

`model.keras` and `saved_model/` (`run.export`, which reloads the SavedModel
and checks it on the raw test rows). The network trains on the numeric
columns stacked into one block (`kerasml.data.tabular.training_layout`);
`with_named_columns` gives the exported model one input per column again.
The SavedModel's `serve` endpoint takes ONE argument, a dict with one entry per feature column (names made safe:
"mean radius" -> "mean_radius"), each a 1-D tensor over the batch: float32
for numeric columns (NaN for missing), string for text columns ("" for
missing), int64 for integer categorical ones; `signatures["serving_default"]`
takes the same as keyword arguments. It returns float32 probabilities
[batch, classes], classes in the order of `class_names` in metrics.json,
whose `serving` entry lists every input.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Literal

import kerasml  # noqa: F401  (first: quiets TensorFlow's start-up logs)

import keras  # isort: skip
import numpy as np  # isort: skip
import pandas as pd  # isort: skip
from sklearn.dummy import DummyClassifier  # isort: skip
from sklearn.linear_model import LogisticRegression  # isort: skip
from sklearn.metrics import (  # isort: skip
    accuracy_score, average_precision_score, balanced_accuracy_score, confusion_matrix, f1_score,
    precision_recall_curve, precision_score, recall_score, roc_auc_score, roc_curve)
from sklearn.model_selection import train_test_split  # isort: skip
from sklearn.pipeline import make_pipeline  # isort: skip
from sklearn.preprocessing import label_binarize  # isort: skip
from sklearn.utils.class_weight import compute_class_weight  # isort: skip
from threadpoolctl import threadpool_limits  # isort: skip

from kerasml import plots  # noqa: E402
from kerasml.data import sources, tabular  # noqa: E402
from kerasml.metrics import prevalence_weights  # noqa: E402
from kerasml.recipe import RecipeConfig, field, start_run  # noqa: E402


@dataclasses.dataclass
class Config(RecipeConfig):
    epochs: int = field(300, "maximum training epochs (early stopping usually ends far sooner)")
    batch_size: int = field(32, "rows per training batch")
    learning_rate: float = field(1e-3, "Adam learning rate")
    dataset: Literal["breast_cancer", "digits", "wine"] = field(
        "breast_cancer", "embedded scikit-learn dataset (when neither --csv nor --tfds is given)")
    csv: str | None = field(None, "train on this CSV file (one row per example, a header row)")
    target: str | None = field(None, "with --csv: the label column")
    tfds: str | None = field(None, "a supervised tabular tensorflow-datasets set, e.g. titanic")
    tfds_split: str = field("train", "with --tfds: split(s) to read, e.g. train or train+test; pooled and re-split")
    tfds_data_dir: str | None = field(None, "")
    tfds_download: bool = field(False, "")
    tfds_max_rows: int = field(200_000, "with --tfds: read at most this many rows")
    categorical: tuple[str, ...] = field((), "columns to treat as categorical text even if they hold numbers")
    drop: tuple[str, ...] = field((), "columns to leave out (identifiers, or columns that give the label away)")
    missing_markers: tuple[str, ...] = field((), "cell values that mean missing in every column, e.g. -1 Unknown ?")
    positive_class: str | None = field(None, "two classes: the class whose precision/recall/F1 are reported "
                                             "(default: the rarer one)")
    hidden_units: tuple[int, ...] = field((64, 32), "units of each hidden Dense layer")
    dropout: float = field(0.2, "dropout after each hidden layer")
    l2: float = field(1e-4, "L2 weight decay on hidden kernels")
    class_weight: bool = field(True, "weight classes inversely to their frequency (model and logistic regression)")
    patience: int = field(30, "early-stopping patience in epochs (on the validation loss)")
    val_fraction: float = field(0.2, "share of rows for validation (early stopping)")
    test_fraction: float = field(0.2, "share of rows for the final test")
    one_hot_max: int = field(20, "categorical columns with at most this many categories are one-hot, others embedded")
    rare_prevalence: float = field(0.05, "two classes: also report metrics re-weighted to this positive share")


QUICK = {"epochs": 3, "hidden_units": (16,), "patience": 2}
MIN_ROWS_PER_CLASS = 5
MAX_CLASSES = 100


# ## 1. Data
@dataclasses.dataclass
class Table:
    features: pd.DataFrame      # raw feature columns, one row per example
    labels: np.ndarray          # class index per row
    class_names: list[str]
    name: str                   # what the data is, for the report
    labelled: np.ndarray        # which rows of `features` have a label (the rows `labels` is for)
    integer_categorical: list[str] = dataclasses.field(default_factory=list)


def load_table(config: Config) -> Table:
    """Features and labels from the embedded set, a CSV file or tensorflow-datasets."""
    if config.csv and config.tfds:
        raise SystemExit("Give --csv or --tfds, not both.")
    if config.csv:
        features, raw_labels = tabular.read_csv_with_target(
            config.csv, config.target, what="the column that holds the class labels",
            hint="the label column's name")
        names, integer_categorical, name = None, [], f"{config.csv} (target {config.target})"
    elif config.tfds:
        features, raw_labels, names, integer_categorical = read_tfds(config)
        name = f"{config.tfds} (tensorflow-datasets, split {config.tfds_split})"
    else:
        features, raw_labels, names, name = read_embedded(config.dataset)
        integer_categorical = []
    tabular.require_columns(features, config.drop, "--drop")
    labels, class_names, labelled = encode_labels(raw_labels, names, name, config.target or "label")
    return Table(features.drop(columns=list(config.drop)), labels, class_names, name, labelled,
                 integer_categorical)


def read_embedded(dataset: str):
    from sklearn import datasets

    loaded = getattr(datasets, f"load_{dataset}")(as_frame=True)
    return (loaded.data, pd.Series(loaded.target, name="target"), [str(n) for n in loaded.target_names],
            f"{dataset} (scikit-learn, embedded)")


def read_tfds(config: Config):
    """A supervised tfds set as a DataFrame: scalar features (a dict) or one feature vector."""
    import tensorflow_datasets as tfds

    ds, info = sources.load_tfds(config.tfds, split=config.tfds_split, data_dir=config.tfds_data_dir,
                                 download=config.tfds_download, as_supervised=True, with_info=True)
    feature_spec, _ = ds.element_spec
    specs = feature_spec if isinstance(feature_spec, dict) else {"features": feature_spec}
    for key, spec in specs.items():
        if len(spec.shape) > (0 if isinstance(feature_spec, dict) else 1):
            raise SystemExit(f"--tfds {config.tfds}: feature {key!r} has shape {spec.shape}; this recipe "
                             "takes tabular sets (scalar columns or one feature vector). For images see "
                             "recipes.resnet_classification.")
    columns, labels = {}, []
    for features, label in tfds.as_numpy(ds.take(config.tfds_max_rows).batch(4096)):
        labels.append(label)
        if not isinstance(features, dict):
            features = {f"feature_{i}": features[:, i] for i in range(features.shape[1])}
        for key, values in features.items():
            if values.dtype.kind in "SO":
                values = np.array([v.decode("utf-8", "replace") for v in values], dtype=object)
            columns.setdefault(key, []).append(values)
    frame = pd.DataFrame({key: np.concatenate(parts) for key, parts in columns.items()})
    label_feature = _tfds_feature(info, info.supervised_keys[1])
    names = list(label_feature.names) if hasattr(label_feature, "names") else None
    integer_categorical = [key for key in frame.columns
                           if hasattr(_tfds_feature(info, info.supervised_keys[0], key), "names")]
    return frame, pd.Series(np.concatenate(labels), name="label"), names, integer_categorical


def _tfds_feature(info, key, column=None):
    """The tfds feature connector behind a supervised key (and column), or None."""
    try:
        if isinstance(key, dict):
            return info.features[key[column]]
        return info.features[key] if column is None else info.features[key][column]
    except (KeyError, TypeError):
        return None


def encode_labels(raw: pd.Series, names, source: str, column: str):
    """Class index per labelled row, the class names, and which rows had a label."""
    keep = raw.notna().to_numpy() & (raw.astype(str).str.strip() != "").to_numpy()
    values = raw[keep]
    if values.empty:
        raise ValueError(f"{source}: column {column!r} has no labels at all (every cell is empty).")
    if pd.api.types.is_float_dtype(values) and np.all(np.mod(values, 1) == 0):
        values = values.astype("int64")
    if not pd.api.types.is_numeric_dtype(values):
        values = values.astype(str).str.strip()
    classes, labels = np.unique(values.to_numpy(), return_inverse=True)
    class_names = [names[int(c)] for c in classes] if names else [str(c) for c in classes]
    counts = np.bincount(labels)
    if len(classes) < 2:
        raise ValueError(f"{source}: column {column!r} holds a single class ({class_names[0]!r}) in all "
                         f"{len(values)} labelled rows; a classifier needs at least two. Check --target, "
                         "or add rows of the other classes.")
    if len(classes) > MAX_CLASSES:
        raise ValueError(f"{source}: column {column!r} has {len(classes)} distinct values; that looks like a "
                         "number to predict (use recipes.regression) or an identifier, not a class label.")
    rare = [(class_names[i], int(n)) for i, n in enumerate(counts) if n < MIN_ROWS_PER_CLASS]
    if rare:
        raise ValueError(f"{source}: in column {column!r}, class(es) {rare} have fewer than "
                         f"{MIN_ROWS_PER_CLASS} rows (class, rows); each class needs that many to appear in "
                         "training, validation and test. Merge rare classes or drop their rows.")
    return labels.astype("int64"), class_names, keep


# Column kinds, vocabularies and the model's input arrays: kerasml.data.tabular, which
# regression shares. `tabular.column_kinds` types every column (numeric, text or
# integer-coded categorical, or left out with a reason), `tabular.fit_columns` fits
# vocabularies and encodings on the training rows, `tabular.model_inputs` turns rows into
# one 1-D array per column, and `tabular.missing_mask` says which cells are gaps.


# ## 2. Splits
def split_rows(labels: np.ndarray, config: Config):
    rows = np.arange(len(labels))
    rest, test = train_test_split(rows, test_size=config.test_fraction, stratify=labels,
                                  random_state=config.seed)
    train, val = train_test_split(rest, test_size=config.val_fraction / (1 - config.test_fraction),
                                  stratify=labels[rest], random_state=config.seed)
    return np.sort(train), np.sort(val), np.sort(test)


# ## 3. Model
def build_model(config: Config, columns: list[tabular.Column], train: dict, n_classes: int) -> keras.Model:
    """The MLP with its preprocessing, on the training layout (numeric columns stacked).

    The preprocessing (median filling with was-missing columns by
    `kerasml.layers.FillMissing`, Normalization, lookups one-hot or embedded) is
    `kerasml.data.tabular.encoded_features`, fitted on `train`.
    """
    inputs, x = tabular.encoded_features(columns, train, config.missing_markers)
    for i, units in enumerate(config.hidden_units):
        x = keras.layers.Dense(units, activation="relu", kernel_regularizer=keras.regularizers.L2(config.l2),
                               name=f"hidden_{i + 1}")(x)
        if config.dropout:
            x = keras.layers.Dropout(config.dropout, name=f"dropout_{i + 1}")(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="probabilities")(x)
    model = keras.Model(inputs, outputs, name="mlp")
    model.compile(keras.optimizers.Adam(config.learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


# Training takes the numeric columns stacked into one block (`tabular.training_layout`:
# several times faster than one input per column); the exported model takes the raw
# columns by name and stacks them itself (`tabular.with_named_columns`).


# ## 4. Class weights
def class_weights(labels: np.ndarray, n_classes: int) -> dict[int, float]:
    weights = compute_class_weight("balanced", classes=np.arange(n_classes), y=labels)
    return {i: float(w) for i, w in enumerate(weights)}


# ## 5. Baselines
# The same columns for scikit-learn: `tabular.sklearn_frame` (markers -> NaN, "" for
# missing text) and `tabular.sklearn_features` (the model's preprocessing as a
# ColumnTransformer).
def fit_baselines(x: pd.DataFrame, y: np.ndarray, columns: list[tabular.Column], config: Config) -> dict:
    logistic = make_pipeline(tabular.sklearn_features(columns), LogisticRegression(
        max_iter=5000, class_weight="balanced" if config.class_weight else None))
    return {"majority_class": DummyClassifier(strategy="prior").fit(x, y),
            "logistic_regression": logistic.fit(x, y)}


# ## 6. Metrics
def classification_metrics(y: np.ndarray, proba: np.ndarray, positive: int | None) -> dict[str, float]:
    """scikit-learn's metrics from class probabilities [rows, classes]; `positive` for two classes."""
    predicted = proba.argmax(axis=1)
    n_classes = proba.shape[1]
    if n_classes == 2:
        averaging = {"average": "binary", "pos_label": positive}
        truth, score = y == positive, proba[:, positive]
        roc_auc, average_precision = roc_auc_score(truth, score), average_precision_score(truth, score)
    else:
        averaging = {"average": "macro"}
        roc_auc = roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=np.arange(n_classes))
        average_precision = average_precision_score(label_binarize(y, classes=np.arange(n_classes)), proba,
                                                    average="macro")
    return {
        "test_accuracy": accuracy_score(y, predicted),
        "test_balanced_accuracy": balanced_accuracy_score(y, predicted),
        "test_precision": precision_score(y, predicted, zero_division=0, **averaging),
        "test_recall": recall_score(y, predicted, zero_division=0, **averaging),
        "test_f1": f1_score(y, predicted, zero_division=0, **averaging),
        "test_roc_auc": roc_auc,
        "test_average_precision": average_precision,
    }


def rare_positive_view(y: np.ndarray, probabilities: dict, positive: int, prevalence: float) -> dict:
    """Binary metrics of the same predictions, re-weighted to `prevalence` positives."""
    truth = y == positive
    weights = prevalence_weights(truth, prevalence)
    view = {"prevalence": prevalence, "test_prevalence": float(truth.mean())}
    for name, proba in probabilities.items():
        flagged = proba.argmax(axis=1) == positive
        view[name] = {
            "accuracy": accuracy_score(truth, flagged, sample_weight=weights),
            "balanced_accuracy": balanced_accuracy_score(truth, flagged, sample_weight=weights),
            "precision": precision_score(truth, flagged, sample_weight=weights, zero_division=0),
            "recall": recall_score(truth, flagged, sample_weight=weights, zero_division=0),
            "f1": f1_score(truth, flagged, sample_weight=weights, zero_division=0),
            "average_precision": average_precision_score(truth, proba[:, positive], sample_weight=weights),
        }
    return view


def as_probabilities(proba) -> np.ndarray:
    """float64 rows that sum to one (scikit-learn checks multi-class scores do)."""
    proba = np.asarray(proba, dtype="float64")
    return proba / proba.sum(axis=1, keepdims=True)


# ## 7. Train, evaluate, export
BARS = {"breast_cancer": ("test_roc_auc", 0.99), "digits": ("test_average_precision", 0.98)}


def main(argv=None) -> dict:
    run = start_run("classification", Config, argv, description=__doc__, quick=QUICK)
    config = run.config
    table = load_table(config)
    # Column kinds from every row, before unlabelled rows go: junk errors then name the file's line.
    features, kinds, dropped = tabular.column_kinds(
        table.features, table.name, categorical=config.categorical, markers=config.missing_markers,
        integer_categorical=table.integer_categorical)
    frame = features.loc[table.labelled, list(kinds)].reset_index(drop=True)
    labels, class_names, n_classes = table.labels, table.class_names, len(table.class_names)
    train, val, test = split_rows(labels, config)
    columns = tabular.fit_columns(frame.iloc[train], kinds, markers=config.missing_markers,
                                  one_hot_max=config.one_hot_max)
    positive = choose_positive(config, labels[train], class_names) if n_classes == 2 else None
    summary = data_summary(table, frame, columns, dropped, config, (train, val, test), positive)
    for line in summary.pop("lines"):
        run.log(line)

    # One BLAS thread: on problems this small, more threads only wait for each other
    # (logistic regression on digits took 7 s instead of 0.1 s on a busy 2-core machine).
    with run.timer("baselines"), threadpool_limits(limits=1):
        table_sk = tabular.sklearn_frame(frame, columns, config.missing_markers)
        seen = np.concatenate([train, val])
        baselines = fit_baselines(table_sk.iloc[seen], labels[seen], columns, config)
        baseline_probabilities = {name: as_probabilities(b.predict_proba(table_sk.iloc[test]))
                                  for name, b in baselines.items()}

    raw = {name: tabular.model_inputs(frame.iloc[rows], columns)
           for name, rows in (("train", train), ("val", val), ("test", test))}
    inputs = {name: tabular.training_layout(values, columns) for name, values in raw.items()}
    weights = class_weights(labels[train], n_classes) if config.class_weight else None
    mlp = build_model(config, columns, inputs["train"], n_classes)
    with run.timer("train"):
        mlp.fit(inputs["train"], labels[train], validation_data=(inputs["val"], labels[val]),
                epochs=config.epochs, batch_size=config.batch_size, class_weight=weights,
                verbose=run.fit_verbose, callbacks=run.callbacks(patience=config.patience))
    model = tabular.with_named_columns(mlp, columns, "tabular_classifier")  # raw columns by name
    probabilities = {"model": as_probabilities(mlp.predict(inputs["test"], verbose=0)),
                     **baseline_probabilities}

    y_test = labels[test]
    scores = {name: classification_metrics(y_test, proba, positive) for name, proba in probabilities.items()}
    matrices = {name: confusion_matrix(y_test, proba.argmax(axis=1), labels=np.arange(n_classes)).tolist()
                for name, proba in probabilities.items()}
    extra = {"class_names": class_names,
             "positive_class": class_names[positive] if positive is not None else None,
             "confusion_matrix": {"rows": "true class", "columns": "predicted class", "labels": class_names,
                                  **matrices},
             "class_weights": {class_names[i]: w for i, w in (weights or {}).items()},
             "data": summary,
             "serving": serving_signature(columns, class_names)}
    if positive is not None:
        extra["rare_positive_view"] = rare_positive_view(y_test, probabilities, positive, config.rare_prevalence)
    if not (config.csv or config.tfds) and config.dataset in BARS:
        key, threshold = BARS[config.dataset]
        extra["bar"] = {"metric": key, "threshold": threshold, "value": scores["model"][key],
                        "met": bool(scores["model"][key] >= threshold)}

    save_predictions(run, test, y_test, probabilities)
    plot_results(run, y_test, probabilities, np.array(matrices["model"]), class_names, positive)
    run.export(model, raw["test"])  # model.keras, saved_model/, and a reload check on raw test rows
    return run.finish(dataset=table.name, metrics=scores.pop("model"), baselines=scores, extra=extra)


def choose_positive(config: Config, train_labels: np.ndarray, class_names: list[str]) -> int:
    """The class whose precision, recall and F1 are reported: --positive-class, else the rarer one."""
    if config.positive_class is not None:
        if config.positive_class not in class_names:
            raise ValueError(f"--positive-class {config.positive_class!r} is not a class; the classes are "
                             f"{class_names}.")
        return class_names.index(config.positive_class)
    counts = np.bincount(train_labels, minlength=2)
    return int(np.argmin(counts)) if counts[0] != counts[1] else 1


def data_summary(table: Table, frame, columns, dropped, config, splits, positive) -> dict:
    """What the run did with the data, for the report (and its log lines under "lines")."""
    columns_summary, column_lines = tabular.describe_columns(frame, columns, dropped, config.missing_markers)
    counts = np.bincount(table.labels, minlength=len(table.class_names))
    train, val, test = splits
    summary = {
        "rows": len(frame), "train_rows": len(train), "val_rows": len(val), "test_rows": len(test),
        "rows_without_label_dropped": int((~table.labelled).sum()),
        "class_counts": {name: int(n) for name, n in zip(table.class_names, counts)},
        **columns_summary,
    }
    lines = [f"data: {table.name}: {len(frame)} labelled rows ({summary['rows_without_label_dropped']} "
             f"without a label dropped), {len(table.class_names)} classes {summary['class_counts']}",
             f"split: {len(train)} train / {len(val)} validation / {len(test)} test (stratified)",
             *column_lines]
    if positive is not None:
        lines.append(f"positive class: {table.class_names[positive]!r}")
    return {**summary, "lines": lines}


def serving_signature(columns: list[tabular.Column], class_names: list[str]) -> dict:
    return {
        "endpoint": "serve(inputs_dict); or signatures['serving_default'](**inputs_dict)",
        "inputs": tabular.serving_inputs(columns),
        "output": f"float32 [batch, {len(class_names)}] class probabilities, classes {class_names}",
    }


def save_predictions(run, rows: np.ndarray, y: np.ndarray, probabilities: dict) -> None:
    """test_predictions.csv: the labelled row, its true class index, each model's probabilities."""
    table = {"row": rows, "y_true": y}
    for name, proba in probabilities.items():
        table.update({f"{name}_p{k}": proba[:, k] for k in range(proba.shape[1])})
    pd.DataFrame(table).to_csv(run.dir / "test_predictions.csv", index=False)


def plot_results(run, y, probabilities: dict, matrix, class_names, positive) -> None:
    plots.plot_confusion_matrix(run.plot_path("confusion_matrix.png"), matrix, class_names,
                                title="MLP: test confusion matrix")
    roc, pr = {}, {}

    def add_curves(name, truth, score):
        fpr, tpr, _ = roc_curve(truth, score)
        precision, recall, _ = precision_recall_curve(truth, score)
        roc[f"{name} (AUC {roc_auc_score(truth, score):.3f})"] = (fpr, tpr)
        pr[f"{name} (AP {average_precision_score(truth, score):.3f})"] = (recall, precision)

    if positive is not None:
        truth = y == positive
        for name, proba in probabilities.items():
            if name != "majority_class":  # constant scores: a single point, drawn as "chance"
                add_curves(name, truth, proba[:, positive])
        subject, chance_label = f"positive class {class_names[positive]!r}", "chance (= majority_class)"
        chance = float(truth.mean())
    else:
        for k, name in enumerate(class_names):
            add_curves(name, y == k, probabilities["model"][:, k])
        subject, chance, chance_label = "MLP, each class against the rest", None, "chance"
    plots.plot_curves(run.plot_path("roc_curves.png"), roc, title=f"Test ROC curves: {subject}",
                      xlabel="false positive rate", ylabel="true positive rate (recall)", diagonal=True,
                      chance_label=chance_label)
    plots.plot_curves(run.plot_path("pr_curves.png"), pr, title=f"Test precision-recall: {subject}",
                      xlabel="recall", ylabel="precision", baseline=chance, chance_label=chance_label)
    plots.plot_history(run.dir / "history.csv", run.plot_path("history.png"), metrics=("loss", "accuracy"))


if __name__ == "__main__":
    main(sys.argv[1:])
