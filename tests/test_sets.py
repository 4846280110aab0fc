"""SetPooling against NumPy and keras.layers.GlobalAveragePooling1D: masks, empty sets,
bitwise permutation invariance, Keras mask propagation, save/load/export."""

import doctest

import keras
import numpy as np
import pytest
from _layer_roundtrip import assert_save_load_export

import kerasml.layers.sets
from kerasml.layers.sets import SetPooling

RNG = np.random.default_rng(0)


def random_sets(batch=6, size=9, features=5):
    x = RNG.standard_normal((batch, size, features)).astype("float32")
    lengths = RNG.integers(1, size + 1, batch)
    lengths[0] = 0  # an empty set
    mask = np.arange(size)[None, :] < lengths[:, None]
    return x, mask


def np_pool(x, mask, mode):
    out = np.zeros((x.shape[0], x.shape[2]), "float64")
    for b in range(len(x)):
        real = x[b][mask[b]].astype("float64")
        if len(real):
            out[b] = {"sum": real.sum(0), "mean": real.mean(0), "max": real.max(0)}[mode]
    return out


def test_docstring_examples_run():
    assert doctest.testmod(kerasml.layers.sets).failed == 0


@pytest.mark.parametrize("exact", [True, False])
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_pooling_matches_numpy_and_empty_sets_give_zeros(mode, exact):
    x, mask = random_sets()
    got = keras.ops.convert_to_numpy(SetPooling(mode, exact=exact)(x, mask=mask))
    np.testing.assert_allclose(got, np_pool(x, mask, mode), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(got[0], 0.0)  # the empty set: no NaN, no -inf


def test_no_mask_pools_every_position():
    x, _ = random_sets()
    got = keras.ops.convert_to_numpy(SetPooling("sum")(x))
    np.testing.assert_allclose(got, x.astype("float64").sum(1), rtol=1e-5, atol=1e-5)


def test_mean_matches_keras_global_average_pooling_with_mask():
    x, mask = random_sets()
    keep = mask.any(axis=1)  # Keras divides by zero on an empty set
    expected = keras.layers.GlobalAveragePooling1D()(x[keep], mask=mask[keep])
    got = SetPooling("mean")(x[keep], mask=mask[keep])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(got), keras.ops.convert_to_numpy(expected),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_exact_pooling_is_bitwise_permutation_invariant(mode):
    # Large, varied magnitudes: float32 sums in another order differ in their last bits.
    x = (RNG.standard_normal((64, 50, 16)) * 10.0 ** RNG.integers(-3, 4, (64, 50, 16))).astype("float32")
    mask = np.arange(50)[None, :] < RNG.integers(1, 51, 64)[:, None]
    order = np.argsort(RNG.random(mask.shape), axis=1)  # shuffles padding too
    shuffled = np.take_along_axis(x, order[..., None], axis=1)
    shuffled_mask = np.take_along_axis(mask, order, axis=1)
    layer = SetPooling(mode, exact=True)
    before = keras.ops.convert_to_numpy(layer(x, mask=mask))
    after = keras.ops.convert_to_numpy(layer(shuffled, mask=shuffled_mask))
    np.testing.assert_array_equal(before, after)


def test_inexact_sum_is_order_dependent_in_float32():
    """Why exact=True exists: the plain float32 sum changes with the order."""
    x = (RNG.standard_normal((64, 50, 16)) * 10.0 ** RNG.integers(-3, 4, (64, 50, 16))).astype("float32")
    order = np.argsort(RNG.random((64, 50)), axis=1)
    shuffled = np.take_along_axis(x, order[..., None], axis=1)
    layer = SetPooling("sum", exact=False)
    diff = np.abs(keras.ops.convert_to_numpy(layer(x)) - keras.ops.convert_to_numpy(layer(shuffled)))
    assert diff.max() > 0


def test_keras_mask_reaches_the_layer():
    tokens = np.array([[3, 4, 0, 0], [5, 0, 0, 0]])
    inputs = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(10, 3, mask_zero=True)
    model = keras.Model(inputs, SetPooling("sum")(embedded(inputs)))
    table = keras.ops.convert_to_numpy(embedded.embeddings)
    expected = np.stack([table[3] + table[4], table[5]])
    np.testing.assert_allclose(model.predict(tokens, verbose=0), expected, rtol=1e-6, atol=1e-6)


def test_mixed_float16_sums_in_float32():
    x = np.full((1, 3000, 1), 1.0, "float16")  # float16 would stop counting at 2048
    got = SetPooling("sum", dtype="mixed_float16")(x)
    assert keras.backend.standardize_dtype(got.dtype) == "float16"
    assert float(keras.ops.convert_to_numpy(got)[0, 0]) == 3000.0


def test_bad_mode_rank_and_mask_are_named():
    with pytest.raises(ValueError, match="mode"):
        SetPooling("median")
    with pytest.raises(ValueError, match=r"\[batch, set, features\]"):
        SetPooling()(np.zeros((2, 3), "float32"))
    with pytest.raises(ValueError, match="boolean"):
        SetPooling()(np.zeros((2, 3, 1), "float32"), mask=np.ones((2, 3), "float32"))


@pytest.mark.parametrize("mode", ["sum", "max"])
def test_save_load_and_export(mode, tmp_path):
    elements = keras.Input((None, 4))
    mask = keras.Input((None,), dtype="bool")
    pooled = SetPooling(mode, name="pool")(keras.layers.Dense(6, activation="relu")(elements), mask=mask)
    model = keras.Model([elements, mask], keras.layers.Dense(2)(pooled))
    x, m = random_sets(4, 7, 4)
    assert_save_load_export(model, [x, m], tmp_path)
    assert keras.saving.load_model(tmp_path / "model.keras").get_layer("pool").get_config()["mode"] == mode
