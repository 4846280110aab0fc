import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import load_digits
from sklearn.metrics import accuracy_score, f1_score

from recipes import gmlp_classification

METRIC_KEYS = {"test_accuracy", "test_f1"}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("gmlp_classification")
    return gmlp_classification.main(["--quick", "--output-dir", str(output_dir)]), output_dir


def test_quick_run_report(quick_run):
    report, output_dir = quick_run
    assert report["recipe"] == "gmlp_classification"
    assert set(report["baselines"]) == {"logistic_regression", "plain_mlp"}
    for values in [report["metrics"], *report["baselines"].values()]:
        assert METRIC_KEYS <= set(values)
        assert all(math.isfinite(values[k]) for k in METRIC_KEYS)
    assert report["tokens"] == 16
    assert json.loads((output_dir / "metrics.json").read_text()) == report
    for name in ("history.csv", "history_mlp.csv", "model.keras", "plots/history.png",
                 "plots/confusion_matrix.png"):
        assert (output_dir / name).exists(), name


def test_saved_model_serves_raw_images_and_metrics_agree_with_scikit_learn(quick_run):
    report, output_dir = quick_run
    data = np.load(output_dir / "test_predictions.npz")
    digits = load_digits()
    images = digits.images[data["indices"]].astype("float32")  # raw, 0..16
    np.testing.assert_array_equal(data["labels"], digits.target[data["indices"]])
    reloaded = tf.saved_model.load(str(output_dir / "saved_model"))
    served = reloaded.serve(tf.constant(images)).numpy()
    keras_model = keras.saving.load_model(output_dir / "model.keras")
    np.testing.assert_allclose(served, keras_model.predict(images, verbose=0), atol=1e-5)
    assert served.shape == (len(images), 10)
    np.testing.assert_allclose(served.sum(-1), 1, atol=1e-5)
    predicted = np.argmax(served, -1)
    np.testing.assert_array_equal(predicted, data["predicted"])
    labels = digits.target[data["indices"]]
    assert report["metrics"]["test_accuracy"] == pytest.approx(accuracy_score(labels, predicted))
    assert report["metrics"]["test_f1"] == pytest.approx(f1_score(labels, predicted, average="macro"))
    assert len(set(data["indices"])) == report["data"]["test"] == math.ceil(0.2 * len(digits.images))


def test_patch_tokens_are_row_major_2x2_patches(quick_run):
    _, output_dir = quick_run
    model = keras.saving.load_model(output_dir / "model.keras")
    patches = keras.Model(model.input, model.get_layer("patches").output)
    images = load_digits().images[:3].astype("float32")
    expected = np.stack([[img[gy * 2:gy * 2 + 2, gx * 2:gx * 2 + 2].ravel() / 16 for gy in range(4)
                          for gx in range(4)] for img in images])
    np.testing.assert_allclose(patches.predict(images, verbose=0), expected, atol=1e-6)
