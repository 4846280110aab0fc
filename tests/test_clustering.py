"""clustering recipe: quick run, SavedModel serving raw images -> cluster probabilities,
NMI / ARI / Hungarian accuracy recomputed with scikit-learn and a brute-force matching,
baseline k-means recomputed with scikit-learn."""

import itertools
import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.metrics import adjusted_rand_score, confusion_matrix, normalized_mutual_info_score

from recipes import clustering

DIGITS = load_digits()
METRIC_KEYS = {"test_nmi", "test_ari", "test_cluster_accuracy"}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("clustering")
    return clustering.main(["--quick", "--output-dir", str(output_dir)]), output_dir


def brute_force_accuracy(labels, clusters):
    """Best share of agreement over every one-to-one cluster <-> label map (small cases only)."""
    label_ids, cluster_ids = list(np.unique(labels)), list(np.unique(clusters))
    best = 0
    if len(cluster_ids) <= len(label_ids):
        maps = (dict(zip(cluster_ids, chosen)) for chosen in itertools.permutations(label_ids, len(cluster_ids)))
    else:  # some clusters stay unmatched
        maps = (dict(zip(chosen, label_ids)) for chosen in itertools.permutations(cluster_ids, len(label_ids)))
    for mapping in maps:
        best = max(best, np.mean([mapping.get(c, -1) == y for c, y in zip(clusters, labels)]))
    return best


def test_cluster_accuracy_against_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(20):
        labels = rng.integers(0, 4, 40)
        clusters = np.where(rng.random(40) < 0.6, (labels + 1) % 4, rng.integers(0, 4, 40))
        got = clustering.cluster_metrics(labels, clusters)["test_cluster_accuracy"]
        assert got == pytest.approx(brute_force_accuracy(labels, clusters))
    # More clusters than labels: unmatched clusters count as wrong.
    labels, clusters = np.array([0, 0, 1, 1, 1]), np.array([0, 2, 1, 1, 3])
    assert clustering.cluster_metrics(labels, clusters)["test_cluster_accuracy"] == pytest.approx(
        brute_force_accuracy(labels, clusters))


def test_report_keys_and_finite_metrics(quick_run):
    report, output_dir = quick_run
    assert report["recipe"] == "clustering"
    assert METRIC_KEYS <= set(report["metrics"])
    assert set(report["baselines"]) == {"kmeans_pixels", "kmeans_pca", "autoencoder_kmeans"}
    for values in (report["metrics"], *report["baselines"].values()):
        assert all(math.isfinite(values[k]) for k in METRIC_KEYS)
    assert json.loads((output_dir / "metrics.json").read_text()) == report
    for name in ("history.csv", "history_dec.csv", "model.keras", "plots/confusion.png"):
        assert (output_dir / name).exists(), name


def test_saved_model_serves_probabilities_and_metrics_match_scikit_learn(quick_run):
    report, output_dir = quick_run
    test = np.array(report["data"]["test_indices"])
    images, labels = DIGITS.images[test].astype("float32"), DIGITS.target[test]
    saved_model = tf.saved_model.load(str(output_dir / "saved_model"))
    served = saved_model.serve(tf.constant(images)).numpy()
    keras_model = keras.saving.load_model(output_dir / "model.keras")
    probabilities = keras_model.predict(images, verbose=0)
    np.testing.assert_allclose(served, probabilities, atol=1e-5)
    assert served.shape == (len(test), report["config"]["clusters"])
    np.testing.assert_allclose(served.sum(axis=1), 1.0, atol=1e-5)

    clusters = probabilities.argmax(axis=1)
    metrics = report["metrics"]
    assert metrics["test_nmi"] == pytest.approx(normalized_mutual_info_score(labels, clusters), abs=1e-9)
    assert metrics["test_ari"] == pytest.approx(adjusted_rand_score(labels, clusters), abs=1e-9)
    # The reported cluster -> digit map reproduces the accuracy, and no map does better than
    # taking each cluster's most common digit (an upper bound for one-to-one maps).
    mapping = {int(c): d for c, d in report["cluster_to_digit"].items()}
    matched = np.array([mapping.get(int(c), -1) for c in clusters])
    assert metrics["test_cluster_accuracy"] == pytest.approx(np.mean(matched == labels))
    assert len(set(mapping.values())) == len(mapping)  # one-to-one
    table = confusion_matrix(labels, clusters, labels=range(10))  # rows: digits, columns: clusters
    assert metrics["test_cluster_accuracy"] <= table.max(axis=0).sum() / len(labels) + 1e-12


def test_pixel_kmeans_baseline_matches_scikit_learn(quick_run):
    report, _ = quick_run
    config = report["config"]
    test = np.array(report["data"]["test_indices"])
    fit = np.setdiff1d(np.arange(len(DIGITS.target)), test)
    pixels = DIGITS.data.astype("float32") / 16.0
    kmeans = KMeans(config["clusters"], n_init=config["kmeans_restarts"], random_state=config["seed"])
    clusters = kmeans.fit(pixels[fit]).predict(pixels[test])
    baseline = report["baselines"]["kmeans_pixels"]
    assert baseline["test_nmi"] == pytest.approx(
        normalized_mutual_info_score(DIGITS.target[test], clusters), abs=1e-6)
    assert baseline["test_ari"] == pytest.approx(adjusted_rand_score(DIGITS.target[test], clusters), abs=1e-6)
