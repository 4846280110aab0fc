import json
import math

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from sklearn import datasets
from sklearn.metrics import (mean_absolute_error, mean_absolute_percentage_error, mean_squared_error, r2_score,
                             root_mean_squared_log_error)

from recipes import regression

METRIC_KEYS = {"test_r2", "test_mse", "test_rmse", "test_mae", "test_rmsle", "test_mape"}
MODELS = ("model", "mean_predictor", "linear_regression")


def check_report(report, output_dir):
    assert report["recipe"] == "regression"
    assert METRIC_KEYS <= set(report["metrics"])
    assert set(report["baselines"]) == {"mean_predictor", "linear_regression"}
    assert json.loads((output_dir / "metrics.json").read_text()) == report
    for name in ("history.csv", "test_predictions.csv", "plots/predicted_vs_actual.png", "plots/history.png",
                 "model.keras", "saved_model"):
        assert (output_dir / name).exists(), name


def check_metrics_against_sklearn(report, predictions, shift=0.0):
    """Every reported number recomputed here with scikit-learn from the saved test predictions."""
    y = predictions["y_true"].to_numpy()
    for name in MODELS:
        p = predictions[name].to_numpy()
        reported = report["metrics"] if name == "model" else report["baselines"][name]
        expected = {
            "test_r2": r2_score(y, p), "test_mse": mean_squared_error(y, p),
            "test_rmse": np.sqrt(mean_squared_error(y, p)), "test_mae": mean_absolute_error(y, p),
            "test_rmsle": root_mean_squared_log_error(y + shift, np.maximum(p + shift, 0)),
            "test_mape": 100 * mean_absolute_percentage_error(y, p),
        }
        for key, value in expected.items():
            assert math.isfinite(reported[key]), (name, key)
            assert reported[key] == pytest.approx(value, rel=1e-9), (name, key)
    bootstrap = report["bootstrap"]
    low, high = bootstrap["r2_minus_linear_regression_ci95"]
    assert low < high and bootstrap["model_r2_ci95"][0] < bootstrap["model_r2_ci95"][1]
    assert report["bar"]["met"] == (report["metrics"]["test_r2"] >= report["baselines"]["linear_regression"]["test_r2"] - 0.02)


def serve(reloaded, inputs):
    """The SavedModel's `serve`: one dict of 1-D column tensors."""
    return reloaded.serve({k: tf.constant(v) for k, v in inputs.items()}).numpy()


def test_quick_diabetes_metrics_and_saved_model_on_raw_rows(tmp_path):
    report = regression.main(["--quick", "--output-dir", str(tmp_path)])
    check_report(report, tmp_path)
    predictions = pd.read_csv(tmp_path / "test_predictions.csv")
    assert len(predictions) == 89
    check_metrics_against_sklearn(report, predictions)

    # The SavedModel takes diabetes rows in their original units and answers in the target's units.
    data = datasets.load_diabetes(as_frame=True, scaled=False).data
    rows = data.iloc[predictions["row"].to_numpy()]
    inputs = {name: rows[spec["column"]].to_numpy("float32") for name, spec in report["serving"]["inputs"].items()}
    reloaded = tf.saved_model.load(str(tmp_path / "saved_model"))  # fresh: no Keras, no recipe code
    served = serve(reloaded, inputs)
    assert served.shape == (89, 1)
    np.testing.assert_allclose(served[:, 0], predictions["model"], rtol=1e-5, atol=1e-3)
    inputs["bmi"][:5] = np.nan  # filled inside the model
    keras_model = keras.saving.load_model(tmp_path / "model.keras")
    served = serve(reloaded, inputs)
    np.testing.assert_allclose(served, keras_model.predict(inputs, verbose=0), rtol=1e-5, atol=1e-3)
    assert np.all(np.isfinite(served))


def tabular_csv(path, rows=200, seed=0):
    """A target that crosses zero, two numeric columns (one with gaps), a text category with gaps,
    an identifier, and a few rows without a target."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    district = rng.choice(["north", "south", "east"], size=rows)
    frame = pd.DataFrame({
        "listing": [f"L{i:05d}" for i in range(rows)], "x": x, "rooms": rng.integers(1, 6, rows).astype(float),
        "district": district,
        "change": 4 * x + np.where(district == "north", 3.0, 0.0) + rng.normal(0, 1, rows),
    })
    frame.loc[[2, 30, 31], "rooms"] = np.nan
    frame.loc[[5], "district"] = np.nan
    frame.loc[[9, 40], "change"] = np.nan
    frame.to_csv(path, index=False)
    return path, frame


def test_csv_with_categories_gaps_a_negative_target_and_an_rmsle_shift(tmp_path):
    csv, frame = tabular_csv(tmp_path / "houses.csv")
    shift = float(np.ceil(-frame["change"].min()))
    run_dir = tmp_path / "run"
    report = regression.main(["--quick", "--output-dir", str(run_dir), "--csv", str(csv), "--target", "change",
                              "--rmsle-shift", str(shift)])
    check_report(report, run_dir)
    data = report["data"]
    assert data["rows_without_target_dropped"] == 2 and data["rows"] == len(frame) - 2
    assert "listing" in data["dropped_columns"]
    assert data["columns"] == {"numeric": ["x", "rooms"], "one_hot": ["district"], "embedding": []}
    labelled = frame[frame["change"].notna()].reset_index(drop=True)
    assert data["missing_cells"] == {"rooms": int(labelled["rooms"].isna().sum()),
                                     "district": int(labelled["district"].isna().sum())}
    predictions = pd.read_csv(run_dir / "test_predictions.csv")
    np.testing.assert_allclose(predictions["y_true"], labelled["change"].iloc[predictions["row"]])
    check_metrics_against_sklearn(report, predictions, shift=shift)
    assert any("near zero" in note for note in report["notes"])  # the target crosses zero: MAPE warns

    inputs = {"x": np.array([0.0, 1.0, np.nan], "float32"), "rooms": np.array([np.nan, 2, 3], "float32"),
              "district": np.array(["north", "", "west"], dtype=object)}
    keras_model = keras.saving.load_model(run_dir / "model.keras")
    reloaded = tf.saved_model.load(str(run_dir / "saved_model"))
    np.testing.assert_allclose(serve(reloaded, inputs), keras_model.predict(inputs, verbose=0),
                               rtol=1e-5, atol=1e-4)


def test_rmsle_of_negative_targets_without_a_shift_is_left_out_with_a_note():
    notes = set()
    scores = regression.regression_metrics(np.array([-2.0, 1.0, 3.0]), np.array([-1.0, 1.0, 2.0]), None, notes)
    assert scores["test_rmsle"] is None
    assert any("--rmsle-shift 2" in note for note in notes)
    assert scores["test_r2"] == pytest.approx(r2_score([-2, 1, 3], [-1, 1, 2]))


def test_bad_csv_input_names_the_column_and_what_to_change(tmp_path):
    csv, frame = tabular_csv(tmp_path / "good.csv")

    def run(path, *flags):
        return regression.main(["--quick", "--output-dir", str(tmp_path / "run"), "--csv", str(path), *flags])

    with pytest.raises(ValueError, match=r"no column\(s\) \['price'\].*--target"):
        run(csv, "--target", "price")
    with pytest.raises(SystemExit, match="--target"):
        run(csv)
    constant = tmp_path / "constant.csv"
    frame.assign(change=7.0).to_csv(constant, index=False)
    with pytest.raises(ValueError, match=r"column 'change' holds the same value \(7\)"):
        run(constant, "--target", "change")
    junk_target = tmp_path / "junk_target.csv"
    frame.astype({"change": object}).assign(change=lambda f: f["change"].where(f.index != 11, "approx 3")).to_csv(
        junk_target, index=False)
    with pytest.raises(ValueError, match=r"column 'change' should be numeric but line 13 holds 'approx 3'"):
        run(junk_target, "--target", "change")
    junk_feature = tmp_path / "junk_feature.csv"
    frame.astype({"x": object}).assign(x=lambda f: f["x"].where(f.index != 3, "#REF!")).to_csv(junk_feature, index=False)
    with pytest.raises(ValueError, match=r"column 'x' should be numeric but line 5 holds '#REF!'.*--categorical x"):
        run(junk_feature, "--target", "change")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="is empty"):
        run(empty, "--target", "change")
    few = tmp_path / "few.csv"
    frame.head(12).to_csv(few, index=False)
    with pytest.raises(ValueError, match="only 11 rows have a value"):
        run(few, "--target", "change")


def test_same_seed_same_metrics(tmp_path):
    argv = ["--quick", "--no-export", "--epochs", "2", "--bootstrap", "50"]
    first = regression.main([*argv, "--output-dir", str(tmp_path / "a")])
    second = regression.main([*argv, "--output-dir", str(tmp_path / "b")])
    for key in METRIC_KEYS:
        assert first["metrics"][key] == pytest.approx(second["metrics"][key], rel=1e-6), key
