"""Positional layers against keras_hub.layers.SinePositionEncoding and NumPy."""

import doctest

import keras
import keras_hub
import numpy as np
import pytest
from _layer_roundtrip import assert_save_load_export

import kerasml.layers.position
from kerasml.layers import LearnedPositionalEmbedding, SinusoidalPositionalEncoding

RNG = np.random.default_rng(0)


def test_docstring_examples_run():
    assert doctest.testmod(kerasml.layers.position).failed == 0


@pytest.mark.parametrize("width", [16, 7])
def test_sinusoidal_adds_keras_hub_sine_encoding(width):
    x = RNG.standard_normal((2, 50, width)).astype("float32")
    hub = keras_hub.layers.SinePositionEncoding()
    got = SinusoidalPositionalEncoding()(x)
    np.testing.assert_allclose(got, x + keras.ops.convert_to_numpy(hub(x)), atol=1e-5)
    shifted = SinusoidalPositionalEncoding()(x, start_index=30)
    np.testing.assert_allclose(
        shifted, x + keras.ops.convert_to_numpy(hub(x, start_index=30)), atol=1e-5
    )


def test_sinusoidal_matches_paper_formula():
    length, width = 20, 8
    got = keras.ops.convert_to_numpy(
        SinusoidalPositionalEncoding()(np.zeros((1, length, width), "float32"))
    )[0]
    pos, i = np.arange(length)[:, None], np.arange(width // 2)[None, :]
    angles = pos / 10000 ** (2 * i / width)
    np.testing.assert_allclose(got[:, 0::2], np.sin(angles), atol=1e-5)
    np.testing.assert_allclose(got[:, 1::2], np.cos(angles), atol=1e-5)


def test_sinusoidal_in_mixed_float16_keeps_dtype_and_values():
    keras.config.set_dtype_policy("mixed_float16")
    try:
        got = SinusoidalPositionalEncoding()(np.zeros((1, 64, 8), "float32"))
    finally:
        keras.config.set_dtype_policy("float32")
    assert keras.backend.standardize_dtype(got.dtype) == "float16"
    reference = keras_hub.layers.SinePositionEncoding()(np.zeros((1, 64, 8), "float32"))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(got).astype("float32"), reference, atol=2e-3
    )


def test_dropout_only_in_training():
    x = np.ones((2, 10, 8), "float32")
    layer = SinusoidalPositionalEncoding(dropout=0.5, seed=0)
    clean = keras.ops.convert_to_numpy(layer(x))
    dropped = keras.ops.convert_to_numpy(layer(x, training=True))
    assert (dropped == 0).mean() > 0.2
    kept = dropped != 0
    np.testing.assert_allclose(dropped[kept], 2 * clean[kept], rtol=1e-5)


def test_learned_embedding_adds_its_table_rows():
    x = RNG.standard_normal((2, 5, 4)).astype("float32")
    layer = LearnedPositionalEmbedding(max_length=9)
    got = layer(x)
    table = keras.ops.convert_to_numpy(layer.embeddings)
    np.testing.assert_allclose(got, x + table[:5], atol=1e-6)
    np.testing.assert_allclose(layer(x, start_index=4), x + table[4:9], atol=1e-6)


def test_masks_pass_through():
    tokens = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(10, 4, mask_zero=True)(tokens)
    a = SinusoidalPositionalEncoding()(x)
    b = LearnedPositionalEmbedding(6)(a)
    ids = np.array([[1, 2, 0], [3, 0, 0]])
    for out in keras.Model(tokens, [a, b])(ids):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(out._keras_mask), ids != 0)


def test_save_load_and_saved_model_export(tmp_path):
    tokens = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(20, 8, mask_zero=True)(tokens)
    x = SinusoidalPositionalEncoding(dropout=0.1)(x)
    x = LearnedPositionalEmbedding(max_length=12, dropout=0.1)(x)
    model = keras.Model(tokens, keras.layers.GlobalAveragePooling1D()(x))
    assert_save_load_export(model, np.array([[3, 4, 5, 0], [6, 0, 0, 0]], "int32"), tmp_path)


def test_bad_input_raises_value_errors_that_say_what_to_change():
    with pytest.raises(ValueError, match="max_length >= 12"):
        LearnedPositionalEmbedding(max_length=10)(np.zeros((1, 12, 4), "float32"))
    layer = LearnedPositionalEmbedding(max_length=10)
    layer(np.zeros((1, 10, 4), "float32"))
    with pytest.raises(ValueError, match="max_length >= 13"):
        layer(np.zeros((1, 5, 4), "float32"), start_index=8)
    with pytest.raises(ValueError, match=r"max_length >= 11"):
        inputs = keras.Input((11, 4))
        LearnedPositionalEmbedding(max_length=10)(inputs)
    with pytest.raises(ValueError, match="empty batch"):
        SinusoidalPositionalEncoding()(np.zeros((0, 5, 4), "float32"))
    with pytest.raises(ValueError, match=r"\[batch, time, features\]"):
        SinusoidalPositionalEncoding()(np.zeros((5, 4), "float32"))
