"""Attention layers against NumPy formulas, keras.layers.MultiHeadAttention and
keras.ops.dot_product_attention; masks, mixed precision, saving, bad input."""

import doctest

import keras
import numpy as np
import pytest
import tensorflow as tf
from _layer_roundtrip import assert_save_load_export

import kerasml.layers.attention
from kerasml.layers import (
    AdditiveAttention,
    AttentionPooling,
    MultiHeadAttention,
    ScaledDotProductAttention,
    masked_softmax,
)

RNG = np.random.default_rng(0)


def rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


def np_masked_softmax(scores, mask):
    """Reference: softmax over the kept entries; rows with none kept are all zero."""
    mask = np.broadcast_to(mask, scores.shape)
    shifted = np.where(mask, scores, -np.inf)
    row_max = shifted.max(-1, keepdims=True)
    exp = np.where(mask, np.exp(scores - np.where(np.isfinite(row_max), row_max, 0)), 0.0)
    total = exp.sum(-1, keepdims=True)
    return np.divide(exp, total, out=np.zeros_like(exp), where=total > 0)


def np_attention(q, k, v, mask):
    weights = np_masked_softmax(q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1]), mask)
    return weights @ v, weights


def np_keep_mask(lengths, time):
    return np.arange(time)[None, :] < np.asarray(lengths)[:, None]


@pytest.fixture(params=["float32", "mixed_float16"])
def policy(request):
    keras.config.set_dtype_policy(request.param)
    yield request.param
    keras.config.set_dtype_policy("float32")


def test_docstring_examples_run():
    assert doctest.testmod(kerasml.layers.attention).failed == 0


def test_masked_softmax_matches_numpy_and_zeroes_fully_masked_rows():
    scores = rand(3, 4, 6) * 5
    mask = RNG.random((3, 4, 6)) > 0.4
    mask[1, 2] = False  # one fully masked row
    got = keras.ops.convert_to_numpy(masked_softmax(scores, mask))
    np.testing.assert_allclose(got, np_masked_softmax(scores, mask), atol=1e-6)
    np.testing.assert_array_equal(got[1, 2], 0.0)
    no_mask = keras.ops.convert_to_numpy(masked_softmax(scores))
    np.testing.assert_allclose(no_mask, np_masked_softmax(scores, True), atol=1e-6)


def test_a_single_key_gets_weight_one_without_keras_size_one_warning(recwarn):
    scores = rand(2, 3, 1) * 5
    mask = np.array([True, False]).reshape(2, 1, 1).repeat(3, axis=1)
    got = keras.ops.convert_to_numpy(masked_softmax(scores, mask))
    np.testing.assert_allclose(got, np_masked_softmax(scores, mask), atol=1e-6)
    value = rand(2, 1, 4)  # one key: the first step of greedy decoding; its value is the output
    out = ScaledDotProductAttention()(rand(2, 3, 4), value)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out), np.repeat(value, 3, axis=1), atol=1e-6)
    assert not [w for w in recwarn if "size 1" in str(w.message)]


def test_masked_softmax_float16_huge_scores_stay_finite():
    scores = np.full((2, 5), 60000, "float16")  # near float16's max
    mask = np.array([[True, False, True, False, False], [False] * 5])
    got = keras.ops.convert_to_numpy(masked_softmax(scores, mask))
    assert got.dtype == np.float16
    np.testing.assert_allclose(got, [[0.5, 0, 0.5, 0, 0], [0, 0, 0, 0, 0]])


def test_scaled_dot_product_matches_numpy_with_masks_and_causal():
    q, k, v = rand(3, 5, 8), rand(3, 7, 8), rand(3, 7, 4)
    query_mask, value_mask = np_keep_mask([5, 3, 5], 5), np_keep_mask([7, 4, 2], 7)
    explicit = RNG.random((3, 5, 7)) > 0.2
    causal = np.tril(np.ones((5, 7), bool))
    out, weights = ScaledDotProductAttention()(
        q,
        v,
        key=k,
        query_mask=query_mask,
        value_mask=value_mask,
        attention_mask=explicit,
        use_causal_mask=True,
        return_attention_scores=True,
    )
    mask = query_mask[:, :, None] & value_mask[:, None, :] & explicit & causal
    ref_out, ref_weights = np_attention(q, k, v, mask)
    np.testing.assert_allclose(weights, ref_weights, atol=1e-6)
    np.testing.assert_allclose(out, ref_out, atol=1e-5)


def test_scaled_dot_product_multi_head_matches_keras_dot_product_attention():
    q, k, v = rand(2, 6, 3, 8), rand(2, 6, 3, 8), rand(2, 6, 3, 8)
    value_mask = np_keep_mask([6, 4], 6)  # every causal row keeps key 0: no empty rows
    ours = ScaledDotProductAttention()(q, v, key=k, value_mask=value_mask, use_causal_mask=True)
    keras_out = keras.ops.dot_product_attention(
        q, k, v, mask=value_mask[:, None, None, :], is_causal=True
    )
    np.testing.assert_allclose(ours, keras_out, atol=1e-5)
    # a per-head attention_mask
    head_mask = RNG.random((2, 3, 6, 6)) > 0.3
    head_mask[..., 0] = True
    ours = ScaledDotProductAttention()(q, v, key=k, attention_mask=head_mask)
    keras_out = keras.ops.dot_product_attention(q, k, v, mask=head_mask)
    np.testing.assert_allclose(ours, keras_out, atol=1e-5)


def test_fully_masked_queries_output_zero_without_returning_weights():
    q, k, v = rand(2, 5, 3, 4), rand(2, 6, 3, 4), rand(2, 6, 3, 4)
    query_mask, value_mask = np_keep_mask([5, 2], 5), np_keep_mask([6, 3], 6)
    head_mask = RNG.random((2, 3, 5, 6)) > 0.5  # some (query, head) rows fully masked
    out = ScaledDotProductAttention()(
        q, v, key=k, query_mask=query_mask, value_mask=value_mask, attention_mask=head_mask
    )
    mask = query_mask[:, None, :, None] & value_mask[:, None, None, :] & head_mask
    per_head = [np.swapaxes(t, 1, 2) for t in (q, k, v)]  # [b, heads, t, d]
    ref_out, _ = np_attention(*per_head, mask)
    np.testing.assert_allclose(out, np.swapaxes(ref_out, 1, 2), atol=1e-5)
    assert (~mask.any(-1)).any()

    x = rand(2, 4, 6)
    keep = np.array([[True, True, False, False], [False] * 4])
    out = AdditiveAttention(5)(x, x, query_mask=keep, value_mask=keep)
    np.testing.assert_array_equal(np.asarray(out)[~keep], 0.0)


def test_additive_attention_matches_bahdanau_formula():
    q, k, v = rand(2, 3, 5), rand(2, 4, 6), rand(2, 4, 7)
    value_mask = np_keep_mask([4, 2], 4)
    layer = AdditiveAttention(units=9)
    layer(q, v, key=k)
    layer.bias.assign(rand(9))
    out, weights = layer(q, v, key=k, value_mask=value_mask, return_attention_scores=True)
    w_q, w_k, w_v = (
        keras.ops.convert_to_numpy(w)
        for w in (layer.query_kernel, layer.key_kernel, layer.score_kernel)
    )
    b = keras.ops.convert_to_numpy(layer.bias)
    hidden = np.tanh((q @ w_q)[:, :, None, :] + (k @ w_k)[:, None, :, :] + b)  # [b, t, s, u]
    ref_weights = np_masked_softmax((hidden @ w_v)[..., 0], value_mask[:, None, :])
    np.testing.assert_allclose(weights, ref_weights, atol=1e-6)
    np.testing.assert_allclose(out, ref_weights @ v, atol=1e-5)


def copy_of_keras_mha(keras_layer, query, value, **kwargs):
    ours = MultiHeadAttention(
        keras_layer.num_heads, keras_layer.key_dim, value_dim=keras_layer.value_dim, **kwargs
    )
    ours(query, value)
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in keras_layer.get_weights()]
    ours.set_weights(keras_layer.get_weights())
    return ours


def test_multi_head_attention_matches_keras_with_copied_weights():
    query, value = rand(2, 5, 12), rand(2, 7, 10)
    reference = keras.layers.MultiHeadAttention(
        num_heads=3, key_dim=4, value_dim=6, output_shape=(9,)
    )
    reference(query, value)
    ours = copy_of_keras_mha(reference, query, value, output_dim=9)
    np.testing.assert_allclose(ours(query, value), reference(query, value), atol=1e-5)

    value_mask = np_keep_mask([7, 3], 7)
    out, scores = ours(query, value, value_mask=value_mask, return_attention_scores=True)
    ref_out, ref_scores = reference(
        query, value, value_mask=value_mask, return_attention_scores=True
    )
    np.testing.assert_allclose(out, ref_out, atol=1e-5)
    np.testing.assert_allclose(scores, ref_scores, atol=1e-6)


def test_multi_head_attention_matches_keras_with_propagated_masks_and_causal():
    tokens = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(20, 16, mask_zero=True)(tokens)
    reference = keras.layers.MultiHeadAttention(num_heads=4, key_dim=4)
    ours = MultiHeadAttention(num_heads=4, key_dim=4)
    keras_model = keras.Model(tokens, reference(embedded, embedded, use_causal_mask=True))
    our_model = keras.Model(tokens, ours(embedded, embedded, use_causal_mask=True))
    our_model.set_weights(keras_model.get_weights())  # embedding + attention, same order
    ids = np.array([[3, 4, 5, 6, 7], [8, 9, 0, 0, 0]])
    valid = ids != 0
    got, want = our_model(ids), keras_model(ids)
    # Padded queries: keras's fused path averages uniformly, ours gives zero
    # weights (output = output bias); compare the valid queries.
    np.testing.assert_allclose(np.asarray(got)[valid], np.asarray(want)[valid], atol=1e-5)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(got._keras_mask), valid)


def test_attention_pooling_matches_numpy():
    x = rand(3, 6, 8)
    mask = np_keep_mask([6, 2, 0], 6)
    layer = AttentionPooling(units=5)
    layer(x)
    layer.query.assign(rand(5))
    pooled, weights = layer(x, mask=mask, return_attention_scores=True)
    keys = x @ keras.ops.convert_to_numpy(layer.key_kernel)
    query = keras.ops.convert_to_numpy(layer.query)
    ref_weights = np_masked_softmax(keys @ query / np.sqrt(5), mask)
    np.testing.assert_allclose(weights, ref_weights, atol=1e-6)
    np.testing.assert_allclose(pooled, np.einsum("bt,btf->bf", ref_weights, x), atol=1e-5)
    np.testing.assert_array_equal(pooled[2], 0.0)  # an empty set pools to zeros


def test_attention_pooling_starts_as_masked_mean():
    x, mask = rand(2, 4, 3), np_keep_mask([4, 3], 4)
    pooled = AttentionPooling()(x, mask=mask)
    np.testing.assert_allclose(
        pooled, (x * mask[..., None]).sum(1) / mask.sum(1, keepdims=True), atol=1e-6
    )


def attention_calls():
    """Each layer called on a batch whose second sequence is entirely padding."""
    x = rand(2, 4, 8)
    mask = np.array([[True, True, True, False], [False] * 4])
    return {
        "scaled_dot": lambda: ScaledDotProductAttention()(
            x, x, query_mask=mask, value_mask=mask, return_attention_scores=True
        ),
        "additive": lambda: AdditiveAttention(6)(
            x, x, value_mask=mask, return_attention_scores=True
        ),
        "multi_head": lambda: MultiHeadAttention(2, 4)(
            x, x, value_mask=mask, use_causal_mask=True, return_attention_scores=True
        ),
        "pooling": lambda: AttentionPooling()(x, mask=mask, return_attention_scores=True),
    }


@pytest.mark.parametrize("name", list(attention_calls()))
def test_fully_masked_rows_get_zero_weights_and_no_nan(name, policy):
    call = attention_calls()[name]
    with tf.GradientTape() as tape:
        out, weights = call()
        loss = keras.ops.sum(keras.ops.cast(out, "float32"))
    trainable = tape.watched_variables()
    grads = tape.gradient(loss, trainable)
    weights = keras.ops.convert_to_numpy(keras.ops.cast(weights, "float32"))
    assert np.isfinite(keras.ops.convert_to_numpy(keras.ops.cast(out, "float32"))).all()
    np.testing.assert_array_equal(weights[1], 0.0)  # fully masked sequence: all zero
    assert weights[0].sum(-1).max() == pytest.approx(1.0, abs=1e-2)
    assert all(np.isfinite(keras.ops.convert_to_numpy(g)).all() for g in grads if g is not None)
    if policy == "mixed_float16":
        assert keras.backend.standardize_dtype(out.dtype) == "float16"


def test_dropout_applies_to_weights_only_in_training():
    x = rand(2, 6, 8)
    layer = ScaledDotProductAttention(dropout=0.5, seed=1)
    inference = layer(x, x)
    np.testing.assert_allclose(layer(x, x), inference)
    out, weights = layer(x, x, training=True, return_attention_scores=True)
    assert not np.allclose(out, inference)
    np.testing.assert_allclose(np.asarray(weights).sum(-1), 1.0, atol=1e-5)  # before dropout


def test_masks_propagate_through_the_layers():
    tokens = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(20, 8, mask_zero=True)(tokens)
    y = ScaledDotProductAttention()(x, x)
    z = MultiHeadAttention(2, 4)(y, y)
    a = AdditiveAttention(4)(z, z)
    pooled = AttentionPooling()(a)
    model = keras.Model(tokens, [y, z, a, pooled])
    ids = np.array([[1, 2, 0], [3, 0, 0]])
    outs = model(ids)
    for out in outs[:3]:
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(out._keras_mask), ids != 0)
    assert getattr(outs[3], "_keras_mask", None) is None


def test_save_load_and_saved_model_export(tmp_path):
    tokens = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(30, 16, mask_zero=True)(tokens)
    x = MultiHeadAttention(4, 4, dropout=0.1)(x, x, use_causal_mask=True)
    x = ScaledDotProductAttention(dropout=0.1)(x, x)
    x = AdditiveAttention(8)(x, x)
    outputs = keras.layers.Dense(3)(AttentionPooling(units=6)(x))
    model = keras.Model(tokens, outputs)
    assert_save_load_export(model, np.array([[5, 6, 7, 0], [8, 9, 0, 0]], "int32"), tmp_path)


def test_bad_input_raises_value_errors_that_say_what_to_change():
    q, kv = rand(2, 3, 8), rand(2, 4, 6)
    with pytest.raises(ValueError, match="width 8 but `key` has width 6"):
        ScaledDotProductAttention()(q, kv)
    with pytest.raises(ValueError, match="boolean mask"):
        ScaledDotProductAttention()(q, q, value_mask=np.ones((2, 3), "float32"))
    with pytest.raises(ValueError, match=r"`value_mask` has shape \(2, 5\)"):
        AdditiveAttention(4)(q, kv, value_mask=np.ones((2, 5), bool))
    with pytest.raises(ValueError, match="attention_mask"):
        ScaledDotProductAttention()(q, q, attention_mask=np.ones((2, 3, 5), bool))
    with pytest.raises(ValueError, match="empty batch"):
        MultiHeadAttention(2, 4)(np.zeros((0, 3, 8), "float32"), np.zeros((0, 3, 8), "float32"))
    with pytest.raises(ValueError, match="equal lengths"):
        ScaledDotProductAttention()(q, rand(2, 4, 8), key=rand(2, 5, 8))
    with pytest.raises(ValueError, match=r"\[batch, time, features\]"):
        AttentionPooling()(rand(2, 8))
    with pytest.raises(ValueError, match="boolean mask"):
        keras.ops.convert_to_numpy(masked_softmax(rand(2, 3), np.ones((2, 3), "int32")))
