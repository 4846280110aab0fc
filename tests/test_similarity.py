"""similarity recipe: quick runs of both losses; the exported encoder serves raw images;
recall@K and verification AUC recomputed here (NumPy loops, scikit-learn's roc_auc_score)
for the model and the raw-pixel baseline."""

import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score

from recipes import similarity

DIGITS = load_digits()
UNSEEN = np.isin(DIGITS.target, [7, 8, 9])
METRIC_KEYS = {"test_recall_at_1", "test_recall_at_5", "test_verification_auc"}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("similarity")
    return similarity.main(["--quick", "--output-dir", str(output_dir)]), output_dir


def reference_metrics(vectors, labels):
    """Recall@1/5 by an explicit loop over queries, AUC by scikit-learn, cosine similarity."""
    unit = vectors.astype("float64") / np.linalg.norm(vectors.astype("float64"), axis=1, keepdims=True)
    sims = unit @ unit.T
    hits = {1: 0, 5: 0}
    for query in range(len(labels)):
        others = [i for i in range(len(labels)) if i != query]
        ranked = sorted(others, key=lambda i: -sims[query, i])
        for k in hits:
            hits[k] += any(labels[i] == labels[query] for i in ranked[:k])
    first, second = np.triu_indices(len(labels), k=1)
    return {"test_recall_at_1": hits[1] / len(labels), "test_recall_at_5": hits[5] / len(labels),
            "test_verification_auc": roc_auc_score(labels[first] == labels[second], sims[first, second])}


def test_report_keys_and_finite_metrics(quick_run):
    report, output_dir = quick_run
    assert report["recipe"] == "similarity"
    assert report["config"]["loss"] == "triplet"
    assert METRIC_KEYS <= set(report["metrics"])
    assert set(report["baselines"]) == {"raw_pixel_cosine"}
    for values in (report["metrics"], report["baselines"]["raw_pixel_cosine"]):
        assert all(math.isfinite(values[k]) and 0 <= values[k] <= 1 for k in METRIC_KEYS)
    assert report["data"]["unseen_images"] == UNSEEN.sum()
    assert json.loads((output_dir / "metrics.json").read_text()) == report
    for name in ("history.csv", "model.keras", "plots/recall_at_k.png", "plots/verification_roc.png"):
        assert (output_dir / name).exists(), name


def test_saved_encoder_serves_raw_images_and_metrics_match_references(quick_run):
    report, output_dir = quick_run
    images = DIGITS.images[UNSEEN].astype("float32")
    labels = DIGITS.target[UNSEEN]
    saved_model = tf.saved_model.load(str(output_dir / "saved_model"))
    served = saved_model.serve(tf.constant(images)).numpy()
    encoder = keras.saving.load_model(output_dir / "model.keras")
    embeddings = encoder.predict(images, verbose=0)
    np.testing.assert_allclose(served, embeddings, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(served, axis=1), 1.0, atol=1e-5)  # unit length
    assert served.shape == (len(images), report["config"]["embedding_dim"])

    expected = reference_metrics(embeddings, labels)
    for key in METRIC_KEYS:
        assert report["metrics"][key] == pytest.approx(expected[key], abs=1e-6), key
    baseline = reference_metrics(images.reshape(len(images), -1), labels)
    for key in METRIC_KEYS:
        assert report["baselines"]["raw_pixel_cosine"][key] == pytest.approx(baseline[key], abs=1e-6), key


def test_contrastive_quick_run(tmp_path):
    report = similarity.main(["--quick", "--no-export", "--loss", "contrastive", "--output-dir", str(tmp_path)])
    assert report["config"]["loss"] == "contrastive"
    assert all(math.isfinite(report["metrics"][k]) for k in METRIC_KEYS)


def test_training_never_sees_unseen_digits():
    config = similarity.Config()
    _, labels, train, val, unseen = similarity.split(config)
    assert not set(labels[train]) & {7, 8, 9} and not set(labels[val]) & {7, 8, 9}
    np.testing.assert_array_equal(np.sort(unseen), np.flatnonzero(UNSEEN))
    members, same = similarity.draw_examples(labels[train], 500, "contrastive", np.random.default_rng(0))
    np.testing.assert_array_equal(labels[train][members[0]] == labels[train][members[1]], same.astype(bool))
    (anchor, positive, negative), _ = similarity.draw_examples(labels[train], 500, "triplet",
                                                               np.random.default_rng(0))
    assert np.all(anchor != positive)
    assert np.all(labels[train][anchor] == labels[train][positive])
    assert np.all(labels[train][anchor] != labels[train][negative])
