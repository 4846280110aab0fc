import json
import math

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from sklearn import datasets
from sklearn.metrics import (average_precision_score, balanced_accuracy_score, confusion_matrix,
                             f1_score, precision_score, recall_score, roc_auc_score)

from kerasml.data.sources import DataUnavailableError
from recipes import classification

METRIC_KEYS = {"test_accuracy", "test_balanced_accuracy", "test_precision", "test_recall", "test_f1",
               "test_roc_auc", "test_average_precision"}
MODELS = ("model", "majority_class", "logistic_regression")


def check_report(report, output_dir, exported=True):
    assert report["recipe"] == "classification"
    assert METRIC_KEYS <= set(report["metrics"])
    assert set(report["baselines"]) == {"majority_class", "logistic_regression"}
    for values in [report["metrics"], *report["baselines"].values()]:
        assert all(math.isfinite(values[k]) for k in METRIC_KEYS)
    assert json.loads((output_dir / "metrics.json").read_text()) == report
    names = ["history.csv", "test_predictions.csv", "plots/confusion_matrix.png", "plots/roc_curves.png",
             "plots/pr_curves.png", "plots/history.png"]
    names += ["model.keras", "saved_model"] if exported else []
    for name in names:
        assert (output_dir / name).exists(), name


def probabilities(predictions, name, n_classes):
    return predictions[[f"{name}_p{k}" for k in range(n_classes)]].to_numpy()


def check_metrics_against_sklearn(report, predictions):
    """Every reported number recomputed here with scikit-learn from the saved test predictions."""
    n_classes = len(report["class_names"])
    y = predictions["y_true"].to_numpy()
    for name in MODELS:
        proba = probabilities(predictions, name, n_classes)
        predicted = proba.argmax(axis=1)
        reported = report["metrics"] if name == "model" else report["baselines"][name]
        if n_classes == 2:
            positive = report["class_names"].index(report["positive_class"])
            kw = {"average": "binary", "pos_label": positive, "zero_division": 0}
            auc = roc_auc_score(y == positive, proba[:, positive])
            ap = average_precision_score(y == positive, proba[:, positive])
        else:
            kw = {"average": "macro", "zero_division": 0}
            auc = roc_auc_score(y, proba, multi_class="ovr")
            ap = np.mean([average_precision_score(y == k, proba[:, k]) for k in range(n_classes)])
        expected = {
            "test_accuracy": np.mean(predicted == y),
            "test_balanced_accuracy": balanced_accuracy_score(y, predicted),
            "test_precision": precision_score(y, predicted, **kw),
            "test_recall": recall_score(y, predicted, **kw),
            "test_f1": f1_score(y, predicted, **kw),
            "test_roc_auc": auc,
            "test_average_precision": ap,
        }
        for key, value in expected.items():
            assert reported[key] == pytest.approx(value, rel=1e-9, abs=1e-12), (name, key)
        assert report["confusion_matrix"][name] == confusion_matrix(y, predicted).tolist()


def serve(reloaded, inputs):
    """The SavedModel's `serve`: one dict of 1-D column tensors."""
    return reloaded.serve({k: tf.constant(v) for k, v in inputs.items()}).numpy()


def test_quick_breast_cancer_metrics_rare_view_and_saved_model(tmp_path):
    report = classification.main(["--quick", "--output-dir", str(tmp_path)])
    check_report(report, tmp_path)
    assert report["positive_class"] == "malignant"  # the rarer class: 212 of 569
    predictions = pd.read_csv(tmp_path / "test_predictions.csv")
    check_metrics_against_sklearn(report, predictions)

    # The rare-positive view: the same predictions re-weighted to 5% malignant.
    view = report["rare_positive_view"]
    y = predictions["y_true"].to_numpy() == 0
    for name in MODELS:
        flagged = probabilities(predictions, name, 2).argmax(axis=1) == 0
        recall, specificity = np.mean(flagged[y]), np.mean(~flagged[~y])
        true_pos, false_pos = 0.05 * recall, 0.95 * (1 - specificity)
        assert view[name]["accuracy"] == pytest.approx(0.05 * recall + 0.95 * specificity)
        assert view[name]["recall"] == pytest.approx(recall)
        precision = true_pos / (true_pos + false_pos) if flagged.any() else 0.0
        assert view[name]["precision"] == pytest.approx(precision)
    assert view["majority_class"]["accuracy"] == pytest.approx(0.95)

    # The SavedModel serves raw rows (original units, column names made safe) like the Keras model.
    data = datasets.load_breast_cancer(as_frame=True).data
    rows = data.iloc[predictions["row"].to_numpy()]
    inputs = {name: rows[spec["column"]].to_numpy("float32") for name, spec in report["serving"]["inputs"].items()}
    assert "mean_radius" in inputs
    reloaded = tf.saved_model.load(str(tmp_path / "saved_model"))  # fresh: no Keras, no recipe code
    served = serve(reloaded, inputs)
    np.testing.assert_allclose(served, probabilities(predictions, "model", 2), atol=1e-5)
    inputs["mean_radius"][:3] = np.nan  # a missing value is filled inside the model
    keras_model = keras.saving.load_model(tmp_path / "model.keras")
    served = serve(reloaded, inputs)
    np.testing.assert_allclose(served, keras_model.predict(inputs, verbose=0), rtol=1e-4, atol=1e-5)
    assert np.all(np.isfinite(served)) and np.allclose(served.sum(axis=1), 1, atol=1e-5)


def test_quick_digits_multiclass_metrics(tmp_path):
    report = classification.main(["--quick", "--no-export", "--dataset", "digits", "--output-dir", str(tmp_path)])
    check_report(report, tmp_path, exported=False)
    assert report["class_names"] == [str(d) for d in range(10)] and report["positive_class"] is None
    assert "rare_positive_view" not in report
    check_metrics_against_sklearn(report, pd.read_csv(tmp_path / "test_predictions.csv"))


def tabular_csv(path, rows=240, seed=0):
    """Two numeric columns with gaps, a text category with gaps, an integer-coded category,
    an identifier column, and an imbalanced label that depends on them."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    colour = rng.choice(["red", "green", "blue"], size=rows)
    group = rng.integers(1, 4, size=rows)
    score = 1.5 * x + (colour == "red") * 2.0 - (group == 3) * 1.0 + rng.normal(0, 0.5, rows)
    frame = pd.DataFrame({
        "id": [f"P{i:04d}" for i in range(rows)],
        "x": x, "size": rng.uniform(1, 10, rows), "colour": colour, "group": group,
        "outcome": np.where(score > 1.6, "yes", "no"),
    })
    frame.loc[[3, 10, 50], "x"] = np.nan
    frame.loc[[7, 8], "colour"] = np.nan
    frame.loc[[20], "outcome"] = np.nan
    frame.to_csv(path, index=False)
    frame = pd.read_csv(path)
    return path, frame


def test_csv_with_categorical_columns_and_missing_values(tmp_path):
    csv, frame = tabular_csv(tmp_path / "patients.csv")
    frame = frame.astype({"size": object})
    frame.loc[[12, 13], "size"] = "?"  # a missing-value marker in a numeric column
    frame.to_csv(csv, index=False)
    run_dir = tmp_path / "run"
    report = classification.main(["--quick", "--output-dir", str(run_dir), "--csv", str(csv), "--target", "outcome",
                                  "--categorical", "group", "--missing-markers", "?"])
    check_report(report, run_dir)
    data = report["data"]
    assert data["rows_without_label_dropped"] == 1 and data["rows"] == len(frame) - 1
    assert "id" in data["dropped_columns"]  # identifier-like text is left out, and said so
    assert data["columns"] == {"numeric": ["x", "size"], "one_hot": ["colour", "group"], "embedding": []}
    labelled = frame[frame["outcome"].notna()].reset_index(drop=True)
    assert data["missing_cells"] == {"x": int(labelled["x"].isna().sum()), "size": 2,
                                     "colour": int(labelled["colour"].isna().sum())}
    assert report["positive_class"] == labelled["outcome"].value_counts().idxmin()
    predictions = pd.read_csv(run_dir / "test_predictions.csv")
    assert predictions["y_true"].tolist() == [report["class_names"].index(v)
                                              for v in labelled["outcome"].iloc[predictions["row"]]]
    check_metrics_against_sklearn(report, predictions)

    # Raw rows, as a CSV holds them: NaN numbers, empty or never-seen categories, integer groups as text.
    spec = report["serving"]["inputs"]
    assert {k: v["dtype"] for k, v in spec.items()} == {"x": "float32", "size": "float32", "colour": "string",
                                                        "group": "string"}
    inputs = {"x": np.array([np.nan, 0.5, -1.0, 2.0], "float32"), "size": np.array([1, 5, 9, 3], "float32"),
              "colour": np.array(["", "red", "purple", "blue"], dtype=object),
              "group": np.array(["1", "3", "2", "7"], dtype=object)}
    reloaded = tf.saved_model.load(str(run_dir / "saved_model"))
    served = serve(reloaded, inputs)
    keras_model = keras.saving.load_model(run_dir / "model.keras")
    np.testing.assert_allclose(served, keras_model.predict(inputs, verbose=0), rtol=1e-4, atol=1e-5)
    assert served.shape == (4, 2) and np.all(np.isfinite(served))


def test_tfds_titanic_through_mock_data(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=80):
        report = classification.main(["--quick", "--no-export", "--output-dir", str(tmp_path), "--tfds", "titanic",
                                      "--missing-markers", "-1", "Unknown", "--drop", "boat", "body"])
    check_report(report, tmp_path, exported=False)
    assert report["class_names"] == ["died", "survived"]
    columns = report["data"]["columns"]
    assert {"pclass", "sex", "embarked"} <= set(columns["one_hot"])  # ClassLabel features: integer codes
    assert {"age", "fare", "sibsp", "parch"} <= set(columns["numeric"])
    assert report["serving"]["inputs"]["sex"]["dtype"] == "int64"
    assert "name" in report["data"]["dropped_columns"]  # mock names are all different: an identifier
    check_metrics_against_sklearn(report, pd.read_csv(tmp_path / "test_predictions.csv"))


def test_tfds_set_that_is_not_prepared_says_how_to_get_it(tmp_path):
    with pytest.raises(DataUnavailableError, match="tfds build titanic"):
        classification.main(["--quick", "--output-dir", str(tmp_path / "run"), "--tfds", "titanic",
                             "--tfds-data-dir", str(tmp_path / "empty")])


def test_bad_csv_input_names_the_column_and_what_to_change(tmp_path):
    csv, frame = tabular_csv(tmp_path / "good.csv")

    def run(path, *flags):
        return classification.main(["--quick", "--output-dir", str(tmp_path / "run"), "--csv", str(path), *flags])

    with pytest.raises(ValueError, match=r"no column\(s\) \['label'\].*--target"):
        run(csv, "--target", "label")
    with pytest.raises(SystemExit, match="--target"):
        run(csv)
    single = tmp_path / "single.csv"
    frame.assign(outcome="yes").to_csv(single, index=False)
    with pytest.raises(ValueError, match=r"column 'outcome' holds a single class \('yes'\)"):
        run(single, "--target", "outcome")
    junk = tmp_path / "junk.csv"
    frame.astype({"size": object}).assign(size=lambda f: f["size"].where(f.index != 5, "n/a?")).to_csv(junk, index=False)
    with pytest.raises(ValueError, match=r"column 'size' should be numeric but line 7 holds 'n/a\?'.*--categorical size"):
        run(junk, "--target", "outcome")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="is empty"):
        run(empty, "--target", "outcome")
    rare = tmp_path / "rare.csv"
    frame.assign(outcome=np.where(frame.index < 3, "maybe", frame["outcome"])).to_csv(rare, index=False)
    with pytest.raises(ValueError, match=r"\('maybe', 3\).*Merge rare classes"):
        run(rare, "--target", "outcome")
    with pytest.raises(ValueError, match=r"--drop names column\(s\) \['nope'\]"):
        run(csv, "--target", "outcome", "--drop", "nope")


def test_same_seed_same_metrics(tmp_path):
    argv = ["--quick", "--no-export", "--dataset", "wine"]
    first = classification.main([*argv, "--output-dir", str(tmp_path / "a")])
    second = classification.main([*argv, "--output-dir", str(tmp_path / "b")])
    for key in METRIC_KEYS:
        assert first["metrics"][key] == pytest.approx(second["metrics"][key], rel=1e-6), key
