"""Positional information added to token embeddings: fixed sinusoids or a learned table.

Both layers return ``inputs + P`` (not P alone, as keras_hub's layers do), so
they drop into a model between the embedding and the first attention block,
and the embedding's padding mask passes through them unchanged.
"""

import keras
from keras import ops

from kerasml.layers._checks import check_sequence


@keras.saving.register_keras_serializable(package="kerasml")
class SinusoidalPositionalEncoding(keras.layers.Layer):
    """Adds the sinusoidal position encoding of Vaswani et al. (2017): X + P.

    Paper: "Attention Is All You Need", https://arxiv.org/abs/1706.03762.
    P[t, 2i] = sin(t / w^(2i/d)) and P[t, 2i+1] = cos(t / w^(2i/d)), with w
    the ``max_wavelength`` and d the feature width: the same P as
    ``keras_hub.layers.SinePositionEncoding``. P is computed in float32 and cast
    to the input dtype, so float16 models still tell distant positions apart.
    The paper also scales the embeddings by √d before adding P; do that in the
    embedding if wanted.

    Args:
        max_wavelength: the longest wavelength, w (10000 in the paper).
        dropout: dropout rate applied to X + P (training only; 0.1 in the paper).
        seed: seed for the dropout.
        **kwargs: ``keras.layers.Layer`` arguments.

    Call arguments:
        inputs: ``[batch, time, features]``.
        start_index: position of the first step (for step-by-step decoding).
        training: whether dropout is active.

    Returns:
        ``inputs + P``, same shape and dtype; the input's mask passes through.

    Example:
        >>> import numpy as np
        >>> tokens = keras.Input((None,), dtype="int32")
        >>> x = keras.layers.Embedding(100, 16, mask_zero=True)(tokens)
        >>> x = SinusoidalPositionalEncoding(dropout=0.1)(x)
        >>> tuple(keras.Model(tokens, x)(np.array([[4, 5, 0]])).shape)
        (1, 3, 16)
    """

    def __init__(self, max_wavelength=10000, dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.max_wavelength = max_wavelength
        self.dropout = dropout
        self.seed = seed
        self.supports_masking = True
        self._dropout_layer = keras.layers.Dropout(dropout, seed=seed, dtype=self.dtype_policy)

    def call(self, inputs, start_index=0, training=None):
        check_sequence(self, inputs)
        length, width = ops.shape(inputs)[1], ops.shape(inputs)[2]
        positions = ops.cast(ops.arange(length) + start_index, "float32")
        channels = ops.arange(width)
        inv_timescales = ops.power(
            1.0 / self.max_wavelength,
            ops.cast(2 * (channels // 2), "float32") / ops.cast(width, "float32"),
        )
        angles = ops.expand_dims(positions, 1) * ops.expand_dims(inv_timescales, 0)
        encoding = ops.where(channels % 2 == 0, ops.sin(angles), ops.cos(angles))
        outputs = inputs + ops.cast(encoding, inputs.dtype)
        return self._dropout_layer(outputs, training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "max_wavelength": self.max_wavelength,
            "dropout": self.dropout,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package="kerasml")
class LearnedPositionalEmbedding(keras.layers.Layer):
    """Adds a learned embedding per position: X + E[start : start + time].

    Paper: Gehring et al., "Convolutional Sequence to Sequence Learning", 2017
    (https://arxiv.org/abs/1705.03122), as used by BERT and GPT. The table has
    ``max_length`` rows, so it cannot encode longer sequences: those raise a
    ``ValueError`` when the length is known while building or calling (eager
    calls, or inputs declared with a fixed length).

    Args:
        max_length: number of positions in the table.
        embeddings_initializer: initialiser of the table.
        dropout: dropout rate applied to X + E (training only).
        seed: seed for the dropout.
        **kwargs: ``keras.layers.Layer`` arguments.

    Call arguments:
        inputs: ``[batch, time, features]`` with time <= ``max_length``.
        start_index: position of the first step (for step-by-step decoding).
        training: whether dropout is active.

    Returns:
        ``inputs + E[start_index : start_index + time]``; the mask passes through.

    Example:
        >>> import numpy as np
        >>> layer = LearnedPositionalEmbedding(max_length=8)
        >>> tuple(layer(np.zeros((2, 5, 4), "float32")).shape)
        (2, 5, 4)
    """

    def __init__(
        self, max_length, embeddings_initializer="glorot_uniform", dropout=0.0, seed=None, **kwargs
    ):
        super().__init__(**kwargs)
        self.max_length = max_length
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.dropout = dropout
        self.seed = seed
        self.supports_masking = True
        self._dropout_layer = keras.layers.Dropout(dropout, seed=seed, dtype=self.dtype_policy)

    def build(self, input_shape):
        self._check_length(input_shape[1])
        self.embeddings = self.add_weight(
            (self.max_length, input_shape[-1]), self.embeddings_initializer, name="embeddings"
        )
        self.built = True

    def _check_length(self, length, start_index=0):
        if (
            isinstance(start_index, int)
            and length is not None
            and start_index + length > self.max_length
        ):
            raise ValueError(
                f"Sequence positions {start_index}..{start_index + length - 1} exceed the "
                f"learned table of max_length={self.max_length}. Build the layer with "
                f"max_length >= {start_index + length}, or truncate the sequences."
            )

    def call(self, inputs, start_index=0, training=None):
        check_sequence(self, inputs)
        self._check_length(inputs.shape[1], start_index)
        length, width = ops.shape(inputs)[1], ops.shape(inputs)[2]
        table = ops.slice(self.embeddings, (start_index, 0), (length, width))
        return self._dropout_layer(inputs + ops.cast(table, inputs.dtype), training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "max_length": self.max_length,
            "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
            "dropout": self.dropout,
            "seed": self.seed,
        }
