"""Transformer blocks against keras_hub's TransformerEncoder/TransformerDecoder with the
same weights copied across (post-LN and pre-LN), padding and causal masks, mask
propagation, mixed precision, saving and bad input."""

import doctest

import keras
import keras_hub
import numpy as np
import pytest
from _layer_roundtrip import assert_save_load_export

import kerasml.layers.transformer
from kerasml.layers import (
    SinusoidalPositionalEncoding,
    TransformerDecoderBlock,
    TransformerEncoderBlock,
)

RNG = np.random.default_rng(0)
WIDTH, HEADS, FFN = 16, 4, 24


def rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


def keep(lengths, time):
    return np.arange(time)[None, :] < np.asarray(lengths)[:, None]


def randomise(layer):
    """Non-trivial LayerNorm scales/offsets and biases, so every weight is exercised."""
    layer.set_weights([w + 0.2 * RNG.standard_normal(w.shape).astype("float32")
                       for w in layer.get_weights()])


def test_docstring_examples_run():
    assert doctest.testmod(kerasml.layers.transformer).failed == 0


@pytest.mark.parametrize("normalize_first", [False, True])
def test_encoder_block_matches_keras_hub_with_copied_weights(normalize_first):
    x, lengths = rand(3, 6, WIDTH), [6, 4, 1]
    mask = keep(lengths, 6)
    reference = keras_hub.layers.TransformerEncoder(FFN, HEADS, normalize_first=normalize_first)
    reference(x)
    randomise(reference)
    ours = TransformerEncoderBlock(HEADS, FFN, normalize_first=normalize_first)
    ours(x)
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in reference.get_weights()]
    ours.set_weights(reference.get_weights())

    np.testing.assert_allclose(ours(x), reference(x), atol=1e-5)  # no mask: every position
    got = keras.ops.convert_to_numpy(ours(x, mask=mask))
    want = keras.ops.convert_to_numpy(reference(x, padding_mask=mask))
    np.testing.assert_allclose(got[mask], want[mask], atol=1e-5)  # real tokens only
    # Padding is never attended to: changing it changes no real token's output.
    noisy = np.where(mask[..., None], x, rand(3, 6, WIDTH) * 10)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ours(noisy, mask=mask))[mask],
                               got[mask], atol=1e-5)


@pytest.mark.parametrize("normalize_first", [False, True])
def test_decoder_block_matches_keras_hub_with_causal_and_padding_masks(normalize_first):
    target, memory = rand(3, 5, WIDTH), rand(3, 7, WIDTH)
    target_mask, memory_mask = keep([5, 3, 2], 5), keep([7, 2, 5], 7)
    reference = keras_hub.layers.TransformerDecoder(FFN, HEADS, normalize_first=normalize_first)
    reference(target, memory)
    randomise(reference)
    ours = TransformerDecoderBlock(HEADS, FFN, normalize_first=normalize_first)
    ours(target, memory)
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in reference.get_weights()]
    ours.set_weights(reference.get_weights())

    np.testing.assert_allclose(ours(target, memory), reference(target, memory), atol=1e-5)
    got = keras.ops.convert_to_numpy(
        ours(target, memory, inputs_mask=target_mask, memory_mask=memory_mask))
    want = keras.ops.convert_to_numpy(reference(
        target, memory, decoder_padding_mask=target_mask, encoder_padding_mask=memory_mask))
    np.testing.assert_allclose(got[target_mask], want[target_mask], atol=1e-5)


def test_decoder_block_is_causal_and_ignores_source_padding():
    target, memory = rand(2, 6, WIDTH), rand(2, 5, WIDTH)
    memory_mask = keep([5, 3], 5)
    block = TransformerDecoderBlock(HEADS, FFN)
    base, weights = block(target, memory, memory_mask=memory_mask, return_attention_scores=True)
    base, weights = keras.ops.convert_to_numpy(base), keras.ops.convert_to_numpy(weights)
    # Changing target step 3 changes no earlier step (the causal mask).
    changed = target.copy()
    changed[:, 3] += 5
    out = keras.ops.convert_to_numpy(block(changed, memory, memory_mask=memory_mask))
    np.testing.assert_allclose(out[:, :3], base[:, :3], atol=1e-5)
    assert np.abs(out[:, 3:] - base[:, 3:]).max() > 1e-2
    # Changing padded source steps changes nothing; their cross-attention weight is zero.
    noisy = np.where(memory_mask[..., None], memory, rand(2, 5, WIDTH) * 10)
    np.testing.assert_allclose(block(target, noisy, memory_mask=memory_mask), base, atol=1e-5)
    assert weights.shape == (2, HEADS, 6, 5)
    np.testing.assert_array_equal(weights[1, :, :, 3:], 0.0)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)


def test_masks_propagate_through_an_encoder_decoder_model():
    source = keras.Input((None,), dtype="int32")
    target = keras.Input((None,), dtype="int32")
    memory = SinusoidalPositionalEncoding()(keras.layers.Embedding(20, WIDTH, mask_zero=True)(source))
    memory = TransformerEncoderBlock(HEADS, FFN)(memory)
    x = SinusoidalPositionalEncoding()(keras.layers.Embedding(20, WIDTH, mask_zero=True)(target))
    x, weights = TransformerDecoderBlock(HEADS, FFN)(x, memory, return_attention_scores=True)
    model = keras.Model([source, target], keras.layers.Dense(20)(x))  # both masks filled in by Keras
    assert tuple(weights.shape) == (None, HEADS, None, None)
    source_ids = np.array([[3, 4, 5, 0], [6, 7, 0, 0]])
    target_ids = np.array([[1, 2, 0], [1, 2, 3]])
    logits = keras.ops.convert_to_numpy(model([source_ids, target_ids]))
    # More source padding, or other tokens behind the padding, change no real output.
    longer = np.pad(source_ids, ((0, 0), (0, 3)))
    real = target_ids != 0
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model([longer, target_ids]))[real], logits[real], atol=1e-5)
    assert x._keras_mask is not None


def test_mixed_precision_outputs_are_finite_and_close_to_float32():
    x, mask = rand(2, 5, WIDTH), keep([5, 0], 5)  # the second sequence is all padding
    block = TransformerEncoderBlock(HEADS, FFN)
    want = keras.ops.convert_to_numpy(block(x, mask=mask))
    keras.config.set_dtype_policy("mixed_float16")
    try:
        half = TransformerEncoderBlock(HEADS, FFN)
        half(x)
        half.set_weights(block.get_weights())
        got = keras.ops.convert_to_numpy(half(x, mask=mask))
    finally:
        keras.config.set_dtype_policy("float32")
    assert got.dtype == np.float16 and np.all(np.isfinite(got))
    np.testing.assert_allclose(got[mask], want[mask], atol=3e-2)


def test_save_load_and_export(tmp_path):
    source = keras.Input((None,), dtype="int32")
    target = keras.Input((None,), dtype="int32")
    memory = keras.layers.Embedding(20, WIDTH, mask_zero=True)(source)
    memory = TransformerEncoderBlock(HEADS, FFN, dropout=0.1, normalize_first=True)(memory)
    x = keras.layers.Embedding(20, WIDTH, mask_zero=True)(target)
    x = TransformerDecoderBlock(HEADS, FFN, dropout=0.1, activation="gelu")(x, memory)
    model = keras.Model([source, target], x)
    inputs = [np.array([[3, 4, 5, 0], [6, 7, 0, 0]]), np.array([[1, 2, 0], [1, 2, 3]])]
    assert_save_load_export(model, inputs, tmp_path)


def test_bad_input_raises_clear_errors():
    with pytest.raises(ValueError, match="divisible by num_heads"):
        TransformerEncoderBlock(num_heads=3, intermediate_dim=8)(rand(2, 4, WIDTH))
    with pytest.raises(ValueError, match=r"\[batch, time, features\]"):
        TransformerEncoderBlock(HEADS, FFN)(rand(2, WIDTH))
    block = TransformerDecoderBlock(HEADS, FFN)
    with pytest.raises(ValueError, match="batch size"):
        block(rand(2, 3, WIDTH), rand(3, 4, WIDTH))
    with pytest.raises(ValueError, match="boolean mask"):
        block(rand(2, 3, WIDTH), rand(2, 4, WIDTH), memory_mask=np.ones((2, 4), "float32"))
