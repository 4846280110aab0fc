"""deep_sets recipe: quick run, SavedModel serving padded sets + masks, permutation
invariance checked here on fresh sets, MAE by size recomputed with scikit-learn."""

import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import load_digits
from sklearn.metrics import mean_absolute_error

from recipes import deep_sets

DIGITS = load_digits()


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("deep_sets")
    return deep_sets.main(["--quick", "--output-dir", str(output_dir)]), output_dir


def padded_sets(sizes, max_size, seed):
    """Sets of random digit images built here, zero-padded, with their masks and label sums."""
    rng = np.random.default_rng(seed)
    images = np.zeros((len(sizes), max_size, 8, 8), "float32")
    mask = np.zeros((len(sizes), max_size), bool)
    sums = np.zeros(len(sizes))
    for row, size in enumerate(sizes):
        chosen = rng.choice(len(DIGITS.target), size, replace=False)
        images[row, :size], mask[row, :size] = DIGITS.images[chosen], True
        sums[row] = DIGITS.target[chosen].sum()
    return images, mask, sums


def test_report_keys_and_finite_metrics(quick_run):
    report, output_dir = quick_run
    metrics = report["metrics"]
    assert report["recipe"] == "deep_sets"
    assert {"test_mae_by_size", "permutation_max_abs_diff", "test_mae"} <= set(metrics)
    assert set(report["baselines"]) == {"lstm", "size_times_mean_digit"}
    sizes = [str(s) for s in report["config"]["test_sizes"]]
    for values in (metrics, report["baselines"]["lstm"]):
        assert list(values["test_mae_by_size"]) == sizes
        assert all(math.isfinite(v) for v in values["test_mae_by_size"].values())
        assert math.isfinite(values["permutation_max_abs_diff"])
    assert json.loads((output_dir / "metrics.json").read_text()) == report
    for name in ("history.csv", "history_lstm.csv", "model.keras", "plots/mae_by_size.png", "test_sets.npz"):
        assert (output_dir / name).exists(), name


def test_mae_by_size_matches_scikit_learn_on_the_saved_test_sets(quick_run):
    report, output_dir = quick_run
    saved = np.load(output_dir / "test_sets.npz")
    indices, sizes = saved["image_indices"], saved["sizes"]
    # Targets recomputed from the digit labels; each set holds `size` distinct images.
    real = indices >= 0
    np.testing.assert_array_equal(real.sum(axis=1), sizes)
    sums = np.where(real, DIGITS.target[np.maximum(indices, 0)], 0).sum(axis=1)
    np.testing.assert_array_equal(saved["sums"], sums)
    assert all(len(set(row[row >= 0])) == size for row, size in zip(indices, sizes))
    for model, values in (("deep_sets", report["metrics"]), ("lstm", report["baselines"]["lstm"])):
        for size, mae in values["test_mae_by_size"].items():
            rows = sizes == int(size)
            assert mae == pytest.approx(mean_absolute_error(sums[rows], saved[model][rows]), rel=1e-5)
    size_only = report["baselines"]["size_times_mean_digit"]["test_mae_by_size"]
    for size, mae in size_only.items():
        rows = sizes == int(size)
        assert mae == pytest.approx(mean_absolute_error(sums[rows], np.full(rows.sum(), 4.5 * int(size))), rel=1e-5)


def test_saved_model_serves_padded_sets_and_is_permutation_invariant(quick_run):
    _, output_dir = quick_run
    images, mask, _ = padded_sets([1, 3, 10, 17, 40, 60], max_size=60, seed=1)  # 60 > any size trained on
    saved_model = tf.saved_model.load(str(output_dir / "saved_model"))
    served = saved_model.serve(tf.constant(images), tf.constant(mask)).numpy()
    keras_model = keras.saving.load_model(output_dir / "model.keras")
    np.testing.assert_allclose(served, keras_model.predict([images, mask], verbose=0), rtol=1e-4, atol=1e-4)
    assert served.shape == (6,)

    rng = np.random.default_rng(2)
    for _ in range(3):
        order = np.argsort(rng.random(mask.shape), axis=1)  # real elements and padding alike
        shuffled = saved_model.serve(tf.constant(np.take_along_axis(images, order[..., None, None], 1)),
                                     tf.constant(np.take_along_axis(mask, order, 1))).numpy()
        assert np.max(np.abs(shuffled - served)) <= 1e-5
    # Padding is ignored: the same sets padded to another length give the same sums.
    shorter = saved_model.serve(tf.constant(images[:3, :12]), tf.constant(mask[:3, :12])).numpy()
    np.testing.assert_allclose(shorter, served[:3], atol=1e-4)


def test_max_pooling_quick_run_is_invariant(tmp_path):
    report = deep_sets.main(["--quick", "--no-export", "--pool", "max", "--output-dir", str(tmp_path)])
    assert report["config"]["pool"] == "max"
    assert report["metrics"]["permutation_max_abs_diff"] <= 1e-5
