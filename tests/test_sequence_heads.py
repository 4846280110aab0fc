"""Sequence heads against keras.layers.Dense / LSTM and NumPy; Keras' mask-aware loss
and metrics ignore padded steps."""

import doctest

import keras
import numpy as np
import pytest
from _layer_roundtrip import assert_save_load_export

import kerasml.layers.sequence
from kerasml.layers import LastStepHead, SequenceHead

RNG = np.random.default_rng(0)


def test_docstring_examples_run():
    assert doctest.testmod(kerasml.layers.sequence).failed == 0


def test_sequence_head_is_dense_on_valid_steps_and_zero_on_padding():
    x = RNG.standard_normal((2, 5, 6)).astype("float32")
    mask = np.array([[True] * 5, [True, True, False, False, False]])
    head = SequenceHead(3, activation="softmax")
    dense = keras.layers.Dense(3, activation="softmax")
    dense.build(x.shape)
    head.build(x.shape)
    head.set_weights(dense.get_weights())
    got = keras.ops.convert_to_numpy(head(x, mask=mask))
    np.testing.assert_allclose(got[mask], keras.ops.convert_to_numpy(dense(x))[mask], atol=1e-6)
    np.testing.assert_array_equal(got[~mask], 0.0)


def test_keras_loss_and_accuracy_ignore_padded_steps():
    ids = np.array([[1, 2, 3, 4], [5, 6, 0, 0], [7, 0, 0, 0]])
    mask = ids != 0
    labels = RNG.integers(0, 4, ids.shape)
    labels[~mask] = 0  # padding labels: a valid class id, which the weights then ignore
    tokens = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(10, 8, mask_zero=True)(tokens)
    x = keras.layers.GRU(8, return_sequences=True)(x)
    model = keras.Model(tokens, SequenceHead(4, activation="softmax")(x))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    loss, accuracy = model.evaluate(ids, labels, batch_size=len(ids), verbose=0)

    probs = model.predict(ids, verbose=0)
    step_probs = np.take_along_axis(probs, labels[..., None], -1)[..., 0]
    np.testing.assert_allclose(loss, -np.log(step_probs[mask]).mean(), rtol=1e-5)
    # Padded steps predict all-zero probabilities: counted, each would add -log(1e-7) ≈ 16.
    np.testing.assert_array_equal(probs[~mask], 0.0)
    np.testing.assert_allclose(accuracy, (probs.argmax(-1) == labels)[mask].mean(), rtol=1e-6)


def np_last_valid(x, mask):
    out = np.zeros((x.shape[0], x.shape[2]), x.dtype)
    for b in range(len(x)):
        steps = np.flatnonzero(mask[b])
        if steps.size:
            out[b] = x[b, steps[-1]]
    return out


def test_last_step_head_takes_last_valid_step_for_any_padding():
    x = RNG.standard_normal((4, 5, 3)).astype("float32")
    mask = np.array(
        [
            [True, True, True, False, False],  # right padding
            [False, False, True, True, True],  # left padding
            [True, False, True, False, False],  # holes
            [False] * 5,  # empty: zeros
        ]
    )
    np.testing.assert_allclose(LastStepHead()(x, mask=mask), np_last_valid(x, mask))
    np.testing.assert_allclose(LastStepHead()(x), x[:, -1])


def test_last_step_head_equals_keras_lstm_final_output_on_padded_batch():
    ids = np.array([[1, 2, 3, 4, 5], [6, 7, 0, 0, 0]])
    tokens = keras.Input((None,), dtype="int32")
    embedding = keras.layers.Embedding(10, 4, mask_zero=True)
    sequence = keras.layers.LSTM(6, return_sequences=True)
    final = keras.layers.LSTM(6)
    embedded = embedding(tokens)
    ours = LastStepHead()(sequence(embedded))
    reference = final(embedded)
    model = keras.Model(tokens, [ours, reference])
    final.set_weights(sequence.get_weights())
    got, want = model(ids)
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_masks_propagate():
    tokens = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(10, 4, mask_zero=True)(tokens)
    per_step = SequenceHead(2)(x)
    last = LastStepHead()(x)
    ids = np.array([[1, 2, 0]])
    per_step, last = keras.Model(tokens, [per_step, last])(ids)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(per_step._keras_mask), ids != 0)
    assert getattr(last, "_keras_mask", None) is None


def test_save_load_and_saved_model_export(tmp_path):
    tokens = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(20, 8, mask_zero=True)(tokens)
    x = keras.layers.GRU(8, return_sequences=True)(x)
    tags = SequenceHead(3, activation="softmax")(x)
    label = keras.layers.Dense(2)(LastStepHead()(x))
    pooled_tags = keras.layers.GlobalAveragePooling1D()(tags)  # mask-aware
    model = keras.Model(tokens, keras.layers.Concatenate()([pooled_tags, label]))
    assert_save_load_export(model, np.array([[3, 4, 5, 0], [6, 7, 8, 9]], "int32"), tmp_path)


def test_bad_input_raises_value_errors_that_say_what_to_change():
    x = np.zeros((2, 4, 3), "float32")
    with pytest.raises(ValueError, match=r"`mask` has shape \(2, 5\)"):
        SequenceHead(2)(x, mask=np.ones((2, 5), bool))
    with pytest.raises(ValueError, match="boolean mask"):
        LastStepHead()(x, mask=np.ones((2, 4), "float32"))
    with pytest.raises(ValueError, match="empty batch"):
        LastStepHead()(np.zeros((0, 4, 3), "float32"))
    with pytest.raises(ValueError, match=r"\[batch, time, features\]"):
        SequenceHead(2)(np.zeros((2, 3), "float32"))
