"""Heads for padded, masked sequences: one output per valid step, or the last valid step.

Loss and metrics over padded steps: Keras 3 already weights both by the mask
that rides on the model's output (``keras.losses.Loss`` and the
``MeanMetricWrapper`` metrics such as accuracy read it and give padded steps
weight 0; a loss's mean is taken over the valid steps only). ``SequenceHead``
keeps its input's mask on its output, so plain
``model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])``
ignores padding; no custom loss is needed. Two caveats: pad the labels with
any *valid* class id (e.g. 0: sparse crossentropy rejects -1 even at weight 0),
and the mask must reach the output, i.e. every layer after the masking one must
support masking (Keras warns when one drops it).
"""

import keras
from keras import ops

from kerasml.layers._checks import check_mask, check_sequence


@keras.saving.register_keras_serializable(package="kerasml")
class SequenceHead(keras.layers.Layer):
    """A per-step Dense head that honours the padding mask.

    What ``TimeDistributed(Dense(units))`` computes on the valid steps; padded
    steps output exact zeros instead of the head applied to padding, and the
    mask stays on the output, so Keras' losses and metrics skip padded steps
    (see this module's docstring). Used for sequence labelling after a
    ``return_sequences=True`` RNN (e.g. Graves, "Supervised Sequence Labelling
    with Recurrent Neural Networks", 2012).

    Args:
        units: output width per step (e.g. number of tags).
        activation: activation of the head (e.g. "softmax"), default linear.
        use_bias: whether to add a bias.
        kernel_initializer, bias_initializer: initialisers of the head.
        **kwargs: ``keras.layers.Layer`` arguments.

    Call arguments:
        inputs: ``[batch, time, features]``.
        mask: optional boolean ``[batch, time]`` (True = keep); Keras fills it in
            from the input's mask.

    Returns:
        ``[batch, time, units]``, zero at masked steps, carrying the mask.

    Example:
        >>> import numpy as np
        >>> tokens = keras.Input((None,), dtype="int32")
        >>> x = keras.layers.Embedding(50, 8, mask_zero=True)(tokens)
        >>> x = keras.layers.GRU(16, return_sequences=True)(x)
        >>> model = keras.Model(tokens, SequenceHead(5, activation="softmax")(x))
        >>> model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        >>> tuple(model.predict(np.array([[3, 4, 0]]), verbose=0).shape)
        (1, 3, 5)
    """

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = units
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.supports_masking = True

    def build(self, input_shape):
        self.kernel = self.add_weight(
            (input_shape[-1], self.units), self.kernel_initializer, name="kernel"
        )
        self.bias = (
            self.add_weight((self.units,), self.bias_initializer, name="bias")
            if self.use_bias
            else None
        )
        self.built = True

    def call(self, inputs, mask=None):
        check_sequence(self, inputs)
        check_mask(mask, "mask", inputs.shape[:2])
        outputs = ops.matmul(inputs, self.kernel)
        if self.bias is not None:
            outputs = outputs + self.bias
        outputs = self.activation(outputs)
        if mask is None:
            return outputs
        return ops.where(ops.expand_dims(mask, -1), outputs, ops.zeros_like(outputs))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }


@keras.saving.register_keras_serializable(package="kerasml")
class LastStepHead(keras.layers.Layer):
    """Takes the last *valid* step of a padded, masked sequence.

    ``inputs[:, -1]`` of a right-padded batch is padding for every sequence
    shorter than the batch; this layer gathers step max{t : mask[b, t]} per
    sequence instead, wherever the padding sits (right, left, or holes). It is
    what ``return_sequences=False`` means for masked RNNs, made available for
    any sequence model (Transformer encoders, convolutions, ``return_sequences``
    RNNs feeding a ``SequenceHead`` as well). A fully masked sequence gives
    zeros. Without a mask it returns ``inputs[:, -1]``.

    Args:
        **kwargs: ``keras.layers.Layer`` arguments.

    Call arguments:
        inputs: ``[batch, time, features]``.
        mask: optional boolean ``[batch, time]`` (True = keep); Keras fills it in
            from the input's mask.

    Returns:
        ``[batch, features]``, with no mask.

    Example:
        >>> import numpy as np
        >>> x = np.arange(12, dtype="float32").reshape(2, 3, 2)
        >>> mask = np.array([[True, True, True], [True, False, False]])
        >>> keras.ops.convert_to_numpy(LastStepHead()(x, mask=mask)).tolist()
        [[4.0, 5.0], [6.0, 7.0]]
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        check_sequence(self, inputs)
        check_mask(mask, "mask", inputs.shape[:2])
        if mask is None:
            return inputs[:, -1]
        steps = ops.arange(ops.shape(inputs)[1])
        last = ops.max(ops.where(mask, steps, -1), axis=1)  # -1: no valid step
        picked = ops.take_along_axis(inputs, ops.reshape(ops.maximum(last, 0), (-1, 1, 1)), axis=1)
        picked = ops.squeeze(picked, 1)
        return ops.where(ops.expand_dims(last >= 0, -1), picked, ops.zeros_like(picked))

    def compute_mask(self, inputs, mask=None):
        return None  # the time axis is gone

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])
