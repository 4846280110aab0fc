"""DEC's soft assignment and target distribution against NumPy (Xie et al. 2016, eqs. 1
and 3); a DEC step lowers KL(P || Q); save/load/export."""

import doctest

import keras
import numpy as np
import pytest
from _layer_roundtrip import assert_save_load_export

import kerasml.layers.clustering
from kerasml.layers.clustering import ClusterAssignment, dec_target_distribution

RNG = np.random.default_rng(0)


def np_soft_assignment(z, mu, alpha):
    squared = ((z[:, None, :] - mu[None, :, :]) ** 2).sum(-1)
    kernel = (1 + squared / alpha) ** (-(alpha + 1) / 2)
    return kernel / kernel.sum(1, keepdims=True)


def np_target(q):
    weight = q**2 / q.sum(0)
    return weight / weight.sum(1, keepdims=True)


def test_docstring_examples_run():
    assert doctest.testmod(kerasml.layers.clustering).failed == 0


@pytest.mark.parametrize("alpha", [1.0, 3.0])
def test_soft_assignment_matches_numpy(alpha):
    z = RNG.standard_normal((20, 4)).astype("float32")
    mu = RNG.standard_normal((5, 4)).astype("float32")
    layer = ClusterAssignment(5, alpha=alpha)
    layer.build(z.shape)
    layer.set_centroids(mu)
    got = keras.ops.convert_to_numpy(layer(z))
    np.testing.assert_allclose(got, np_soft_assignment(z.astype("float64"), mu.astype("float64"), alpha),
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got.sum(1), 1.0, rtol=1e-6)


def test_target_distribution_matches_numpy_and_sharpens():
    q = RNG.dirichlet(np.ones(4), 30).astype("float32")
    p = keras.ops.convert_to_numpy(dec_target_distribution(q))
    np.testing.assert_allclose(p, np_target(q.astype("float64")), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-6)
    assert np.mean(p.max(1) >= q.max(1) - 1e-6) > 0.9  # mostly more confident than q


def test_a_dec_step_lowers_the_kl_divergence():
    z = np.concatenate([RNG.normal(-2, 1, (50, 2)), RNG.normal(2, 1, (50, 2))]).astype("float32")
    points = keras.Input((2,))
    assign = ClusterAssignment(2)
    model = keras.Model(points, assign(keras.layers.Dense(2)(points)))
    assign.set_centroids(np.array([[-1.0, 0.0], [1.0, 0.0]], "float32"))
    model.compile(keras.optimizers.SGD(0.01, momentum=0.9), loss="kld")
    target = np_target(model.predict(z, verbose=0).astype("float64")).astype("float32")

    def kl():
        q = model.predict(z, verbose=0).astype("float64")
        return np.mean(np.sum(target * np.log(target / q), axis=1))

    before = kl()
    model.fit(z, target, epochs=5, batch_size=25, verbose=0)
    assert kl() < before


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="n_clusters"):
        ClusterAssignment(0)
    layer = ClusterAssignment(3)
    with pytest.raises(ValueError, match=r"\[batch, dim\]"):
        layer.build((None, 4, 2))
    layer.build((None, 2))
    with pytest.raises(ValueError, match="shape"):
        layer.set_centroids(np.zeros((2, 2)))


def test_save_load_and_export(tmp_path):
    points = keras.Input((3,))
    assign = ClusterAssignment(4, alpha=2.0, name="clusters")
    model = keras.Model(points, assign(keras.layers.Dense(5)(points)))
    assign.set_centroids(RNG.standard_normal((4, 5)).astype("float32"))
    assert_save_load_export(model, RNG.standard_normal((6, 3)).astype("float32"), tmp_path)
    loaded = keras.saving.load_model(tmp_path / "model.keras").get_layer("clusters")
    assert (loaded.n_clusters, loaded.alpha) == (4, 2.0)
