"""similarity recipe: quick runs of the three losses; the exported ensemble serves raw images
and equals its members' embeddings concatenated and re-normalised (NumPy);
recall@K and verification AUC recomputed here (NumPy loops, scikit-learn's roc_auc_score)
for the model, the raw-pixel baseline and the held-out validation classes; the class split
keeps training, validation and test digits apart; bad flags are named."""

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
    assert report["config"]["ensemble"] == 2
    assert report["selection"]["refit"] and len(report["selection"]["epochs"]) == 2
    assert all(epochs in (1, 2) for epochs in report["selection"]["epochs"])
    assert json.loads((output_dir / "metrics.json").read_text()) == report
    for name in ("history.csv", "history_refit.csv", "history_member1.csv", "history_member1_refit.csv",
                 "model.keras", "plots/recall_at_k.png", "plots/verification_roc.png", "plots/history.png"):
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
    assert served.shape == (len(images), 2 * report["config"]["embedding_dim"])

    expected = reference_metrics(embeddings, labels)
    for key in METRIC_KEYS:
        assert report["metrics"][key] == pytest.approx(expected[key], abs=1e-6), key
    baseline = reference_metrics(images.reshape(len(images), -1), labels)
    for key in METRIC_KEYS:
        assert report["baselines"]["raw_pixel_cosine"][key] == pytest.approx(baseline[key], abs=1e-6), key


def test_ensemble_is_the_normalised_concatenation_of_independent_members(quick_run):
    """The exported model: each member's unit embedding, concatenated and divided by its norm
    (sqrt of the member count) in NumPy; so its cosine similarity is the members' mean."""
    _, output_dir = quick_run
    images = DIGITS.images[UNSEEN].astype("float32")
    ensemble = keras.saving.load_model(output_dir / "model.keras")
    members = [ensemble.get_layer(name) for name in ("encoder_refit", "encoder_member1_refit")]
    parts = [member.predict(images, verbose=0).astype("float64") for member in members]
    for part in parts:
        np.testing.assert_allclose(np.linalg.norm(part, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(parts[0], parts[1], atol=1e-2)  # independently initialised and trained
    joined = np.concatenate(parts, axis=1)
    expected = joined / np.linalg.norm(joined, axis=1, keepdims=True)
    embeddings = ensemble.predict(images, verbose=0)
    np.testing.assert_allclose(embeddings, expected, atol=1e-5)
    np.testing.assert_allclose(embeddings @ embeddings.T, (parts[0] @ parts[0].T + parts[1] @ parts[1].T) / 2,
                               atol=1e-5)


def test_contrastive_quick_run_with_one_encoder(tmp_path):
    report = similarity.main(["--quick", "--ensemble", "1", "--loss", "contrastive", "--output-dir",
                              str(tmp_path)])
    assert report["config"]["loss"] == "contrastive" and len(report["selection"]["epochs"]) == 1
    assert all(math.isfinite(report["metrics"][k]) for k in METRIC_KEYS)
    saved_model = tf.saved_model.load(str(tmp_path / "saved_model"))  # kept: serve needs its variables
    served = saved_model.serve(tf.constant(DIGITS.images[:50], "float32"))
    assert served.shape == (50, report["config"]["embedding_dim"])  # the encoder itself, no ensemble wrapper


def test_ensemble_of_no_encoders_says_what_to_change(tmp_path):
    with pytest.raises(ValueError, match="1 or more"):
        similarity.main(["--quick", "--ensemble", "0", "--output-dir", str(tmp_path)])


def test_without_refit_the_exported_encoder_is_the_selected_epoch(tmp_path):
    """--no-refit keeps the early-stopping members (best epoch's weights restored): each epoch
    count is its history's best, and the ensemble's scores on the validation digits, recomputed
    here from the exported model, are the ones the report gives."""
    report = similarity.main(["--quick", "--no-refit", "--loss", "batch_hard", "--epochs", "3",
                              "--output-dir", str(tmp_path)])
    assert report["selection"] == {"metric": "val_verification_auc", "epochs": report["selection"]["epochs"],
                                   "refit": False}
    for epochs, name in zip(report["selection"]["epochs"], ("history.csv", "history_member1.csv"), strict=True):
        history = np.genfromtxt(tmp_path / name, delimiter=",", names=True)
        assert epochs == int(np.argmax(history["val_verification_auc"])) + 1
    assert not list(tmp_path.glob("history*refit.csv"))
    val = np.isin(DIGITS.target, [5, 6])
    encoder = keras.saving.load_model(tmp_path / "model.keras")
    expected = reference_metrics(encoder.predict(DIGITS.images[val].astype("float32"), verbose=0),
                                 DIGITS.target[val])
    for key in METRIC_KEYS:
        assert report["metrics"][key.replace("test_", "val_")] == pytest.approx(expected[key], abs=1e-5), key
    pixels = reference_metrics(DIGITS.images[val].reshape(val.sum(), -1), DIGITS.target[val])
    for key in METRIC_KEYS:
        assert report["baselines"]["raw_pixel_cosine"][key.replace("test_", "val_")] == pytest.approx(
            pixels[key], abs=1e-6), key


def test_held_out_class_retrieval_logs_the_reference_metrics():
    images, labels = DIGITS.images[:200].astype("float32"), DIGITS.target[:200]
    encoder = keras.Sequential([keras.Input((8, 8)), keras.layers.Flatten(), keras.layers.Dense(5)])
    logs = {"loss": 1.0}
    similarity.HeldOutClassRetrieval(encoder, images, labels).on_epoch_end(0, logs)
    expected = reference_metrics(encoder.predict(images, verbose=0), labels)
    assert set(logs) == {"loss"} | {key.replace("test_", "val_") for key in METRIC_KEYS}
    for key in METRIC_KEYS:
        assert logs[key.replace("test_", "val_")] == pytest.approx(expected[key], abs=1e-6), key


def test_validation_classes_are_disjoint_from_training_and_test_classes():
    config = similarity.Config()
    _, labels, groups = similarity.split(config)
    train, val, unseen = (set(labels[groups[name]].tolist()) for name in ("train", "val", "unseen"))
    assert train == {0, 1, 2, 3, 4} and val == {5, 6} and unseen == {7, 8, 9}
    np.testing.assert_array_equal(np.sort(np.concatenate([groups["train"], groups["val"]])), groups["seen"])
    np.testing.assert_array_equal(groups["unseen"], np.flatnonzero(UNSEEN))
    assert len(groups["seen"]) + len(groups["unseen"]) == len(DIGITS.target)
    _, labels, groups = similarity.split(similarity.Config(val_classes=(0, 9), unseen_classes=(3, 4)))
    assert set(labels[groups["train"]].tolist()) == {1, 2, 5, 6, 7, 8}


@pytest.mark.parametrize("flags, message", [
    ({"val_classes": (6, 7)}, "must not include the unseen"),
    ({"val_classes": (5,)}, "at least two"),
    ({"unseen_classes": (0, 1, 2, 3, 4, 7, 8)}, "at least two"),
    ({"val_classes": (5, 12)}, "digits 0-9"),
])
def test_bad_class_flags_say_what_to_change(flags, message):
    with pytest.raises(ValueError, match=message):
        similarity.split(similarity.Config(**flags))


def test_examples_never_mix_training_and_held_out_digits():
    _, labels, groups = similarity.split(similarity.Config())
    train_labels = labels[groups["train"]]
    members, same = similarity.draw_examples(train_labels, 500, "contrastive", np.random.default_rng(0))
    np.testing.assert_array_equal(train_labels[members[0]] == train_labels[members[1]], same.astype(bool))
    (anchor, positive, negative), _ = similarity.draw_examples(train_labels, 500, "triplet",
                                                               np.random.default_rng(0))
    assert np.all(anchor != positive)
    assert np.all(train_labels[anchor] == train_labels[positive])
    assert np.all(train_labels[anchor] != train_labels[negative])
    (images,), classes = similarity.draw_examples(train_labels, 500, "batch_hard", np.random.default_rng(0))
    np.testing.assert_array_equal(classes, train_labels[images])
    assert set(classes.tolist()) == {0, 1, 2, 3, 4}


def test_same_seed_same_metrics(quick_run, tmp_path):
    report, _ = quick_run
    again = similarity.main(["--quick", "--no-export", "--output-dir", str(tmp_path)])
    assert again["selection"] == report["selection"]
    for key in METRIC_KEYS:
        assert again["metrics"][key] == pytest.approx(report["metrics"][key], abs=1e-6), key
