import json
import math

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from recipes import lstm_forecast

METRIC_KEYS = {"test_mae", "test_rmse", "test_mape"}
BASELINES = {"persistence", "seasonal_naive", "seasonal_naive_drift", "holt_winters"}


def check_report(report, output_dir):
    assert report["recipe"] == "lstm_forecast"
    assert METRIC_KEYS <= set(report["metrics"])
    assert set(report["baselines"]) == BASELINES
    for values in [report["metrics"], *report["baselines"].values()]:
        assert all(math.isfinite(values[k]) for k in METRIC_KEYS)
    assert json.loads((output_dir / "metrics.json").read_text()) == report
    for name in ("history.csv", "model.keras", "plots/forecast.png", "plots/history.png"):
        assert (output_dir / name).exists(), name


def test_quick_run_exports_a_saved_model_that_serves_raw_windows(tmp_path):
    report = lstm_forecast.main(["--quick", "--output-dir", str(tmp_path)])
    check_report(report, tmp_path)
    config = report["config"]
    co2 = lstm_forecast.sources.co2_weekly().interpolate().to_numpy("float32")
    windows = np.stack([co2[i:i + config["input_width"]] for i in range(0, 200, 40)])[:, :, None]
    saved_model = tf.saved_model.load(str(tmp_path / "saved_model"))
    served = saved_model.serve(windows).numpy()
    keras_model = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(served, keras_model.predict(windows, verbose=0), rtol=1e-4, atol=1e-3)
    assert served.shape == (5, config["horizon"])
    # Forecasts come back in ppm, near the window's own level.
    assert np.all(np.abs(served[:, 0] - windows[:, -1, 0]) < 10)


def test_same_seed_same_metrics(tmp_path):
    first = lstm_forecast.main(["--quick", "--no-export", "--output-dir", str(tmp_path / "a")])
    second = lstm_forecast.main(["--quick", "--no-export", "--output-dir", str(tmp_path / "b")])
    assert first["metrics"]["test_mae"] == pytest.approx(second["metrics"]["test_mae"], rel=1e-4)


def seasonal_csv(path, rows=260):
    rng = np.random.default_rng(0)
    steps = np.arange(rows)
    frame = pd.DataFrame({
        "date": pd.date_range("2015-01-04", periods=rows, freq="W").strftime("%Y-%m-%d"),
        "sales": 50 + 0.1 * steps + 8 * np.sin(2 * np.pi * steps / 13) + rng.normal(0, 1, rows),
        "price": rng.normal(10, 1, rows),
    }).drop(index=[100, 101, 150])  # missing weeks
    frame.to_csv(path, index=False)
    return path


def test_csv_with_time_column_gap_and_feature(tmp_path):
    csv = seasonal_csv(tmp_path / "sales.csv")
    report = lstm_forecast.main(["--quick", "--output-dir", str(tmp_path / "run"), "--csv", str(csv),
                                 "--target", "sales", "--time-col", "date", "--features", "price",
                                 "--horizon", "4", "--input-width", "26", "--max-rows", "0"])
    check_report(report, tmp_path / "run")
    assert report["data"]["rows"] == 260  # the 3 missing weeks are back, interpolated
    assert report["data"]["season"] == 13
    assert "3 gaps interpolated" in report["dataset"]


def test_bad_csv_input_is_named(tmp_path):
    csv = seasonal_csv(tmp_path / "sales.csv")
    with pytest.raises(ValueError, match="no column"):
        lstm_forecast.main(["--quick", "--output-dir", str(tmp_path), "--csv", str(csv), "--target", "units"])
    with pytest.raises(SystemExit, match="--target"):
        lstm_forecast.main(["--quick", "--output-dir", str(tmp_path), "--csv", str(csv)])


def test_season_estimate():
    steps = np.arange(400)
    noise = np.random.default_rng(1).normal(0, 0.3, 400)
    assert lstm_forecast.estimate_season(0.01 * steps**1.5 + np.sin(2 * np.pi * steps / 12) + noise, 100) == 12
    assert lstm_forecast.estimate_season(np.random.default_rng(2).normal(size=400), 100) == 1
