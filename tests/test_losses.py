"""Contrastive, triplet and batch-hard triplet losses against NumPy formulas (Hadsell et al.
2006, FaceNet, Hermans et al. 2017); Keras reductions, finite gradients at zero distance,
saving, bad input."""

import doctest

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasml.losses
from kerasml.losses import (BatchHardTripletLoss, ContrastiveLoss, TripletLoss, batch_hard_triplet_loss,
                            contrastive_loss, triplet_loss)

RNG = np.random.default_rng(0)


def np_contrastive(same, left, right, margin):
    d = np.sqrt(((left - right) ** 2).sum(-1))
    return same * d**2 + (1 - same) * np.maximum(margin - d, 0) ** 2


def np_triplet(anchor, positive, negative, margin, squared):
    dp = ((anchor - positive) ** 2).sum(-1)
    dn = ((anchor - negative) ** 2).sum(-1)
    if not squared:
        dp, dn = np.sqrt(dp), np.sqrt(dn)
    return np.maximum(dp - dn + margin, 0)


def np_batch_hard(labels, embeddings, margin):
    """Hermans et al. 2017, eq. 3, by explicit loops over anchors, positives and negatives."""
    losses = []
    for a in range(len(labels)):
        distance = [np.sqrt(((embeddings[a] - e) ** 2).sum()) for e in embeddings]
        positives = [distance[p] for p in range(len(labels)) if p != a and labels[p] == labels[a]]
        negatives = [distance[n] for n in range(len(labels)) if labels[n] != labels[a]]
        if not negatives:
            losses.append(0.0)
            continue
        losses.append(max(max(positives, default=0.0) - min(negatives) + margin, 0.0))
    return np.array(losses)


def test_docstring_examples_run():
    assert doctest.testmod(kerasml.losses).failed == 0


@pytest.mark.parametrize("margin", [0.5, 2.0])
def test_contrastive_matches_numpy(margin):
    left = RNG.standard_normal((32, 5))
    direction = RNG.standard_normal((32, 5))
    radius = RNG.uniform(0, 2 * margin, (32, 1))  # distances on both sides of the margin
    right = left + radius * direction / np.linalg.norm(direction, axis=1, keepdims=True)
    pairs = np.stack([left, right], axis=1).astype("float32")
    same = RNG.integers(0, 2, 32).astype("float32")
    expected = np_contrastive(same, pairs[:, 0].astype("float64"), pairs[:, 1].astype("float64"), margin)
    got = keras.ops.convert_to_numpy(contrastive_loss(same, pairs, margin))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert (expected[same == 0] > 0).any() and (expected[same == 0] == 0).any()  # both sides of the margin
    reduced = float(ContrastiveLoss(margin)(same, pairs))
    np.testing.assert_allclose(reduced, expected.mean(), rtol=1e-5)
    summed = float(ContrastiveLoss(margin, reduction="sum")(same, pairs))
    np.testing.assert_allclose(summed, expected.sum(), rtol=1e-5)


@pytest.mark.parametrize("squared", [True, False])
def test_triplet_matches_numpy(squared):
    triplets = RNG.standard_normal((32, 3, 4)).astype("float32")
    a, p, n = (triplets[:, i].astype("float64") for i in range(3))
    expected = np_triplet(a, p, n, 0.3, squared)
    got = keras.ops.convert_to_numpy(triplet_loss(np.zeros(32), triplets, 0.3, squared))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert (expected == 0).any() and (expected > 0).any()
    np.testing.assert_allclose(float(TripletLoss(0.3, squared)(np.zeros(32), triplets)), expected.mean(), rtol=1e-5)


def test_gradients_are_finite_for_identical_pairs():
    pairs = tf.Variable(np.ones((4, 2, 3), "float32"))  # distance exactly 0
    with tf.GradientTape() as tape:
        loss = ContrastiveLoss(1.0)(np.array([1.0, 0.0, 1.0, 0.0]), pairs)
    grad = tape.gradient(loss, pairs).numpy()
    assert np.isfinite(grad).all()
    triplets = tf.Variable(np.ones((4, 3, 3), "float32"))
    with tf.GradientTape() as tape:
        loss = TripletLoss(0.2, squared=False)(np.zeros(4), triplets)
    assert np.isfinite(tape.gradient(loss, triplets).numpy()).all()


def test_wrong_layout_is_named():
    with pytest.raises(ValueError, match=r"\[batch, 2, dim\]"):
        contrastive_loss(np.ones(4), np.zeros((4, 3, 2), "float32"))
    with pytest.raises(ValueError, match=r"\[batch, 3, dim\]"):
        triplet_loss(np.zeros(4), np.zeros((4, 6), "float32"))


def test_siamese_training_separates_classes_and_saves(tmp_path):
    """A tiny siamese model: the loss falls, and the compiled loss survives .keras saving."""
    x = np.concatenate([RNG.normal(0, 1, (64, 4)), RNG.normal(3, 1, (64, 4))]).astype("float32")
    y = np.repeat([0, 1], 64)
    left, right = RNG.integers(0, 128, 512), RNG.integers(0, 128, 512)
    same = (y[left] == y[right]).astype("float32")
    encoder = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    a, b = keras.Input((4,)), keras.Input((4,))
    siamese = keras.Model([a, b], keras.ops.stack([encoder(a), encoder(b)], axis=1))
    siamese.compile(keras.optimizers.Adam(0.05), loss=ContrastiveLoss(margin=2.0))
    history = siamese.fit([x[left], x[right]], same, epochs=5, batch_size=64, verbose=0).history["loss"]
    assert history[-1] < 0.5 * history[0]
    siamese.save(tmp_path / "siamese.keras")
    loaded = keras.saving.load_model(tmp_path / "siamese.keras")
    assert isinstance(loaded.loss, ContrastiveLoss) and loaded.loss.margin == 2.0
    restored = TripletLoss.from_config(TripletLoss(0.7, squared=False).get_config())
    assert (restored.margin, restored.squared) == (0.7, False)


@pytest.mark.parametrize("margin", [0.2, 1.0])
def test_batch_hard_triplet_matches_numpy(margin):
    embeddings = RNG.standard_normal((24, 4)).astype("float32")
    labels = np.array([0] * 8 + [1] * 8 + [2] * 7 + [3])  # class 3: an anchor without positives
    expected = np_batch_hard(labels, embeddings.astype("float64"), margin)
    got = keras.ops.convert_to_numpy(batch_hard_triplet_loss(labels, embeddings, margin))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(float(BatchHardTripletLoss(margin)(labels, embeddings)), expected.mean(), rtol=1e-4)
    one_class = keras.ops.convert_to_numpy(batch_hard_triplet_loss(np.zeros(6), embeddings[:6], margin))
    np.testing.assert_array_equal(one_class, np.zeros(6))  # no negatives: nothing to push apart


def test_batch_hard_gradients_finite_config_and_layout_named():
    embeddings = tf.Variable(np.ones((4, 3), "float32"))  # every distance exactly 0
    with tf.GradientTape() as tape:
        loss = BatchHardTripletLoss(0.2)(np.array([0, 0, 1, 1]), embeddings)
    assert np.isfinite(tape.gradient(loss, embeddings).numpy()).all()
    assert BatchHardTripletLoss.from_config(BatchHardTripletLoss(0.7).get_config()).margin == 0.7
    with pytest.raises(ValueError, match=r"\[batch, dim\]"):
        batch_hard_triplet_loss(np.zeros(4), np.zeros((4, 3, 2), "float32"))
