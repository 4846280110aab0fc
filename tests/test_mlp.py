"""gMLP layers against the paper's formulas written in NumPy."""

import doctest

import keras
import numpy as np
import pytest
from _layer_roundtrip import assert_save_load_export
from scipy.special import erf

import kerasml.layers.mlp
from kerasml.layers import GMLPBlock, SpatialGatingUnit

RNG = np.random.default_rng(0)


def np_layer_norm(x, epsilon=1e-6):
    return (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + epsilon)


def np_sgu(z, w, b, mask=None):
    """Z1 * (W · LayerNorm(Z2) + b), padded tokens zeroed before the mixing."""
    z1, z2 = np.split(z, 2, axis=-1)
    z2 = np_layer_norm(z2)
    if mask is not None:
        z2 = z2 * mask[..., None]
    return z1 * (np.einsum("ts,bsc->btc", w, z2) + b[:, None])


def randomise(layer):
    layer.set_weights(
        [RNG.standard_normal(w.shape).astype("float32") * 0.3 for w in layer.get_weights()]
    )


def test_docstring_examples_run():
    assert doctest.testmod(kerasml.layers.mlp).failed == 0


def test_spatial_gating_starts_near_identity_on_the_first_half():
    z = RNG.standard_normal((2, 8, 6)).astype("float32")
    layer = SpatialGatingUnit()
    out = keras.ops.convert_to_numpy(layer(z))
    assert np.abs(keras.ops.convert_to_numpy(layer.spatial_kernel)).max() <= 1e-3 / 8
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.spatial_bias), 1.0)
    np.testing.assert_allclose(out, z[..., :3], atol=1e-2)


@pytest.mark.parametrize("causal", [False, True])
def test_spatial_gating_matches_formula_with_mask(causal):
    z = RNG.standard_normal((2, 6, 8)).astype("float32")
    mask = np.array([[True] * 6, [True] * 4 + [False] * 2])
    layer = SpatialGatingUnit(causal=causal)
    layer(z)
    layer.spatial_kernel.assign(RNG.standard_normal((6, 6)).astype("float32"))
    w = keras.ops.convert_to_numpy(layer.spatial_kernel)
    w = np.tril(w) if causal else w
    b = keras.ops.convert_to_numpy(layer.spatial_bias)
    np.testing.assert_allclose(layer(z, mask=mask), np_sgu(z, w, b, mask), atol=1e-4)


def test_padding_and_future_tokens_do_not_leak():
    z = RNG.standard_normal((1, 6, 4)).astype("float32")
    changed = z.copy()
    changed[0, 4:] += 10.0
    mask = np.array([[True] * 4 + [False] * 2])
    layer = SpatialGatingUnit()
    layer(z)
    layer.spatial_kernel.assign(RNG.standard_normal((6, 6)).astype("float32"))
    np.testing.assert_allclose(
        layer(z, mask=mask)[:, :4], layer(changed, mask=mask)[:, :4], atol=1e-5
    )
    causal = SpatialGatingUnit(causal=True)
    causal(z)
    causal.spatial_kernel.assign(RNG.standard_normal((6, 6)).astype("float32"))
    np.testing.assert_allclose(causal(z)[:, :4], causal(changed)[:, :4], atol=1e-5)


def test_gmlp_block_matches_formula():
    x = RNG.standard_normal((2, 5, 4)).astype("float32")
    block = GMLPBlock(ffn_units=8)
    block(x)
    randomise(block)
    gamma, beta = (keras.ops.convert_to_numpy(v) for v in (block.norm.gamma, block.norm.beta))
    w1, b1 = (keras.ops.convert_to_numpy(v) for v in (block.expand.kernel, block.expand.bias))
    w2, b2 = (keras.ops.convert_to_numpy(v) for v in (block.contract.kernel, block.contract.bias))
    sgu = block.gating
    sgu_gamma, sgu_beta = (keras.ops.convert_to_numpy(v) for v in (sgu.norm.gamma, sgu.norm.beta))
    w, b = (keras.ops.convert_to_numpy(v) for v in (sgu.spatial_kernel, sgu.spatial_bias))

    hidden = (np_layer_norm(x) * gamma + beta) @ w1 + b1
    hidden = 0.5 * hidden * (1 + erf(hidden / np.sqrt(2)))  # exact GELU
    z1, z2 = np.split(hidden, 2, axis=-1)
    gated = z1 * (
        np.einsum("ts,bsc->btc", w, np_layer_norm(z2) * sgu_gamma + sgu_beta) + b[:, None]
    )
    np.testing.assert_allclose(block(x), x + gated @ w2 + b2, atol=1e-4)


def test_masks_propagate():
    tokens = keras.Input((6,), dtype="int32")
    x = keras.layers.Embedding(10, 4, mask_zero=True)(tokens)
    y = GMLPBlock(ffn_units=8)(x)
    ids = np.array([[1, 2, 3, 0, 0, 0]])
    out = keras.Model(tokens, y)(ids)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out._keras_mask), ids != 0)


def test_save_load_and_saved_model_export(tmp_path):
    inputs = keras.Input((6, 4))
    x = GMLPBlock(ffn_units=8, dropout=0.1)(inputs)
    x = GMLPBlock(ffn_units=8, causal=True)(x)
    x = SpatialGatingUnit()(x)
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(x)))
    randomise(model)
    assert_save_load_export(
        model, RNG.standard_normal((2, 6, 4)).astype("float32"), tmp_path, atol=1e-4
    )


def test_bad_input_raises_value_errors_that_say_what_to_change():
    with pytest.raises(ValueError, match="fixed sequence length"):
        SpatialGatingUnit()(keras.Input((None, 4)))
    with pytest.raises(ValueError, match="even number"):
        SpatialGatingUnit()(np.zeros((1, 3, 5), "float32"))
    with pytest.raises(ValueError, match="ffn_units must be even"):
        GMLPBlock(ffn_units=7)
    layer = SpatialGatingUnit()
    layer(np.zeros((1, 3, 4), "float32"))
    with pytest.raises(ValueError, match="Pad or crop the sequences to 3"):
        layer(np.zeros((1, 4, 4), "float32"))
    with pytest.raises(ValueError, match="empty batch"):
        layer(np.zeros((0, 3, 4), "float32"))
    with pytest.raises(ValueError, match=r"`mask` has shape \(1, 2\)"):
        layer(np.zeros((1, 3, 4), "float32"), mask=np.ones((1, 2), bool))
