"""bayesian_optimization recipe: quick run, best-so-far curves recomputed from trials.csv,
test accuracy recomputed with scikit-learn from the reloaded SavedModel, bad flags."""

import json
import math

import keras
import keras_tuner
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from sklearn.datasets import load_digits
from sklearn.metrics import accuracy_score

from recipes import bayesian_optimization

DIGITS = load_digits()
METHODS = ("bayesian_optimization", "random_search")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("bayesian_optimization")
    return bayesian_optimization.main(["--quick", "--output-dir", str(output_dir)]), output_dir


def test_report_keys_and_finite_metrics(quick_run):
    report, output_dir = quick_run
    metrics = report["metrics"]
    assert report["recipe"] == "bayesian_optimization"
    for key in ("bo_best_val", "random_best_val", "test_accuracy", "bo_best_val_std", "random_best_val_std"):
        assert math.isfinite(metrics[key]), key
    assert json.loads((output_dir / "metrics.json").read_text()) == report
    for name in ("trials.csv", "history.csv", "model.keras", "plots/best_so_far.png"):
        assert (output_dir / name).exists(), name
    # keras-tuner wrote its trials under the run's directory, one project per search.
    projects = {p.name for p in (output_dir / "tuner").iterdir()}
    assert projects == {f"{method}_seed0" for method in METHODS}


def test_best_so_far_curves_follow_from_the_trials(quick_run):
    report, output_dir = quick_run
    trials = pd.read_csv(output_dir / "trials.csv")
    config = report["config"]
    assert len(trials) == config["trials"] * config["search_seeds"] * len(METHODS)
    finals = {}
    for (method, _), group in trials.groupby(["method", "seed"]):
        best, curve = -np.inf, []
        for score in group.sort_values("trial").val_accuracy:
            best = max(best, score)
            curve.append(best)
        np.testing.assert_allclose(group.sort_values("trial").best_so_far, curve)
        finals.setdefault(method, []).append(curve[-1])
    assert report["metrics"]["bo_best_val"] == pytest.approx(np.mean(finals["bayesian_optimization"]))
    assert report["metrics"]["random_best_val"] == pytest.approx(np.mean(finals["random_search"]))
    bo = trials[trials.method == "bayesian_optimization"]
    assert report["metrics"]["best_config"]["val_accuracy"] == pytest.approx(bo.val_accuracy.max())


def test_saved_model_reproduces_the_test_accuracy(quick_run):
    report, output_dir = quick_run
    saved = np.load(output_dir / "test_split.npz")
    images = DIGITS.images[saved["indices"]].astype("float32")
    reloaded = tf.saved_model.load(str(output_dir / "saved_model"))  # held: a dropped object frees its variables
    served = reloaded.serve(tf.constant(images)).numpy()
    keras_model = keras.saving.load_model(output_dir / "model.keras")
    np.testing.assert_allclose(served, keras_model.predict(images, verbose=0), atol=1e-5)
    np.testing.assert_array_equal(served.argmax(-1), saved["predicted"])
    accuracy = accuracy_score(DIGITS.target[saved["indices"]], served.argmax(-1))
    assert report["metrics"]["test_accuracy"] == pytest.approx(accuracy, abs=1e-6)


def test_splits_are_disjoint_and_stratified():
    config = bayesian_optimization.Config()
    train, val, test = bayesian_optimization.split(config, DIGITS.target)
    assert len(set(train) | set(val) | set(test)) == len(DIGITS.target)
    for part in (val, test):
        assert len(part) == pytest.approx(0.2 * len(DIGITS.target), abs=1)
        shares = np.bincount(DIGITS.target[part], minlength=10) / len(part)
        np.testing.assert_allclose(shares, np.bincount(DIGITS.target) / len(DIGITS.target), atol=0.01)


def test_the_model_follows_its_hyperparameters():
    hp = keras_tuner.HyperParameters()
    for name, value in {"l2": 1e-3, "dropout": 0.25, "units": 32, "layers": 3, "learning_rate": 0.01}.items():
        hp.Fixed(name, value)
    model = bayesian_optimization.build_model(hp)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.units for layer in dense] == [32, 32, 32, 10]
    assert all(layer.rate == 0.25 for layer in model.layers if isinstance(layer, keras.layers.Dropout))
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01)
    kernels = [layer.kernel.numpy() for layer in dense[:-1]]
    assert float(sum(model.losses)) == pytest.approx(1e-3 * sum(np.sum(k ** 2) for k in kernels), rel=1e-5)


def test_bad_budgets_name_the_flag(tmp_path):
    with pytest.raises(ValueError, match="--initial-points"):
        bayesian_optimization.main(["--quick", "--initial-points", "3", "--trials", "3",
                                    "--output-dir", str(tmp_path)])
    with pytest.raises(ValueError, match="--learning-rate is not used"):
        bayesian_optimization.main(["--quick", "--learning-rate", "0.01", "--output-dir", str(tmp_path)])
    with pytest.raises(ValueError, match="--search-seeds"):
        bayesian_optimization.main(["--quick", "--search-seeds", "0", "--output-dir", str(tmp_path)])
