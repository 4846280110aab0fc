import dataclasses
import json
import os
import subprocess
import sys

import keras
import numpy as np
import tensorflow as tf
import pytest

from kerasml.recipe import (ExportMismatchError, RecipeConfig, field, parse_config, results_table,
                            start_run, verify_saved_model)


@dataclasses.dataclass
class DemoConfig(RecipeConfig):
    units: int = field(8, "units")
    season: int | None = field(None, "season")
    features: tuple[str, ...] = field((), "feature columns")
    plot: bool = field(True, "write plots")


def test_flags_come_from_the_config_and_quick_yields_to_explicit_flags():
    config, options, given = parse_config(
        DemoConfig, ["--quick", "--units", "3", "--features", "a", "b", "--no-plot", "--season", "7"],
        quick={"units": 1, "epochs": 2})
    assert config.units == 3 and config.epochs == 2  # explicit flag beats --quick
    assert config.features == ("a", "b") and config.plot is False and config.season == 7
    assert options.quick and options.export and given == {"units", "features", "plot", "season"}
    config, options, _ = parse_config(DemoConfig, ["--no-export"])
    assert config == DemoConfig() and not options.export


def test_help_lists_shared_flags(capsys):
    with pytest.raises(SystemExit):
        parse_config(DemoConfig, ["--help"], description="Title: demo")
    text = capsys.readouterr().out
    for flag in ("--epochs", "--batch-size", "--learning-rate", "--seed", "--output-dir", "--quick",
                 "--no-export", "--verbose", "--units"):
        assert flag in text


def tiny_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile("adam", "mse")
    return model


class Interrupt(Exception):
    pass


class InterruptAfter(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.at = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at:
            raise Interrupt()


def test_interrupted_fit_resumes_where_it_stopped(tmp_path):
    x = np.random.default_rng(0).standard_normal((64, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    argv = ["--output-dir", str(tmp_path), "--seed", "1"]
    run = start_run("demo", DemoConfig, argv)
    with pytest.raises(Interrupt):
        tiny_model().fit(x, y, validation_split=0.25, epochs=6, verbose=0,
                         callbacks=run.callbacks(patience=100) + [InterruptAfter(2)])
    run = start_run("demo", DemoConfig, argv)
    history = tiny_model().fit(x, y, validation_split=0.25, epochs=6, verbose=0,
                               callbacks=run.callbacks(patience=100))
    assert history.epoch == [3, 4, 5]  # epochs 0-2 were restored, not repeated
    assert run.history_path() == tmp_path / "history.csv"
    assert run.history_path("refit") == tmp_path / "history_refit.csv"
    rows = (tmp_path / "history.csv").read_text().strip().splitlines()
    assert [int(r.split(",")[0]) for r in rows[1:]] == [0, 1, 2, 3, 4, 5]


def test_export_round_trip_and_mismatch_is_loud(tmp_path):
    run = start_run("demo", DemoConfig, ["--output-dir", str(tmp_path)])
    model = tiny_model()
    x = np.random.default_rng(1).standard_normal((5, 3)).astype("float32")
    path = run.export(model, x)
    assert (tmp_path / "model.keras").exists() and (path / "saved_model.pb").exists()
    with pytest.raises(ExportMismatchError, match="does not reproduce"):
        verify_saved_model(path, x, model.predict(x, verbose=0) + 1.0)


def test_export_serves_random_augmentation_in_inference_mode(tmp_path):
    images = keras.Input((8, 8), name="images")
    shifted = keras.layers.RandomTranslation(0.5, 0.5, fill_mode="constant", seed=0)(images)
    model = keras.Model(images, keras.layers.Flatten()(shifted))
    x = np.random.default_rng(2).standard_normal((4, 8, 8)).astype("float32")
    run = start_run("demo", DemoConfig, ["--output-dir", str(tmp_path)])
    path = run.export(model, x)  # model.export would shift every image it serves
    reloaded = tf.saved_model.load(str(path))  # held: a dropped object frees its variables
    np.testing.assert_array_equal(reloaded.serve(tf.constant(x)).numpy(), x.reshape(4, 64))
    assert list(reloaded.signatures["serve"].structured_input_signature[1]) == ["images"]
    # An export that augments is still caught by the reload check, and the error names the fix.
    model.export(str(tmp_path / "augmenting"), format="tf_saved_model", verbose=False)
    with pytest.raises(ExportMismatchError, match="training=False"):
        verify_saved_model(tmp_path / "augmenting", x, x.reshape(4, 64))


def test_export_of_dict_and_list_input_models(tmp_path):
    a, b = keras.Input((2,), name="a"), keras.Input((3,), name="b")
    joined = keras.layers.Dense(1)(keras.layers.Concatenate()([a, b]))
    rng = np.random.default_rng(2)
    inputs = {"a": rng.standard_normal((4, 2)).astype("float32"),
              "b": rng.standard_normal((4, 3)).astype("float32")}
    run = start_run("demo", DemoConfig, ["--output-dir", str(tmp_path / "dict")])
    run.export(keras.Model({"a": a, "b": b}, joined), inputs)
    run = start_run("demo", DemoConfig, ["--output-dir", str(tmp_path / "list")])
    run.export(keras.Model([a, b], joined), [inputs["a"], inputs["b"]])


def test_finish_writes_plain_json_and_prints_table(tmp_path, capsys):
    run = start_run("demo", DemoConfig, ["--output-dir", str(tmp_path), "--no-export"])
    report = run.finish("demo data", {"test_mae": np.float32(1.5), "test_bad": float("nan")},
                        {"persistence": {"test_mae": 2.0}})
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved == report
    assert saved["metrics"] == {"test_mae": 1.5, "test_bad": None}
    assert set(saved) >= {"recipe", "dataset", "config", "metrics", "baselines", "timing",
                          "artifacts", "environment"}
    assert saved["config"]["units"] == 8 and saved["timing"]["total_seconds"] > 0
    assert "persistence" in capsys.readouterr().out


def test_results_table_aligns_model_and_baselines():
    table = results_table({"test_mae": 1.0, "note": "x"}, {"naive": {"test_mae": 2.0}, "other": {}})
    lines = table.splitlines()
    assert lines[0].split() == ["test_mae"]
    assert lines[1].split() == ["model", "1.0000"] and lines[2].split() == ["naive", "2.0000"]
    assert lines[3].split() == ["other", "-"]


def test_tensorflow_start_up_logs_are_quiet_unless_asked_for():
    code = "import kerasml, tensorflow as tf; tf.constant(1) + 1"
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    quiet = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert quiet.returncode == 0
    assert "I0000" not in quiet.stderr and "cuda" not in quiet.stderr.lower(), quiet.stderr
    loud = subprocess.run([sys.executable, "-c", code + "; import sys; print('mine', file=sys.stderr)"],
                          env={**env, "TF_CPP_MIN_LOG_LEVEL": "0"}, capture_output=True, text=True)
    assert "mine" in loud.stderr
