"""Transformer encoder and decoder blocks (Vaswani et al., 2017) on kerasml's attention.

Paper: "Attention Is All You Need", https://arxiv.org/abs/1706.03762.

Each block is a stack of sublayers, every one wrapped as
``LayerNorm(x + Dropout(sublayer(x)))`` (post-LN, the paper's order) or, with
``normalize_first=True``, ``x + Dropout(sublayer(LayerNorm(x)))`` (pre-LN,
which trains more stably in deep stacks). The sublayers are
``kerasml.layers.MultiHeadAttention`` (self-attention with the padding mask;
in the decoder also causal, then cross-attention over the encoder's output)
and a position-wise feed-forward network Dense(ReLU) -> Dense.

The blocks compute what ``keras_hub.layers.TransformerEncoder`` and
``TransformerDecoder`` compute with the same ``normalize_first`` (the tests
copy keras-hub's weights across: same order, same shapes, so
``block.set_weights(hub_layer.get_weights())`` works) at every real token.
Padded positions differ: kerasml's attention gives a padded query, or one
with no key left to attend to, a zero attention output where keras averages
uniformly; those positions carry the mask and nothing downstream reads them.
Add positions before the first block with ``SinusoidalPositionalEncoding``.
"""

import keras

from kerasml.layers._checks import check_mask, check_sequence
from kerasml.layers.attention import MultiHeadAttention, _fresh


class _TransformerBlock(keras.layers.Layer):
    """Shared arguments, sublayer factories and config of the two blocks."""

    def __init__(
        self,
        num_heads,
        intermediate_dim,
        dropout=0.0,
        activation="relu",
        layer_norm_epsilon=1e-5,
        normalize_first=False,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.activation = keras.activations.get(activation)
        self.layer_norm_epsilon = layer_norm_epsilon
        self.normalize_first = normalize_first
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.seed = seed
        self._seeds_used = 0
        self.supports_masking = True  # the output keeps the (first) input's mask

    def _next_seed(self):
        """A different seed per dropout: one seed shared would drop the same units everywhere."""
        if self.seed is None:
            return None
        self._seeds_used += 1
        return self.seed + self._seeds_used

    def _initializers(self):
        return {"kernel_initializer": _fresh(self.kernel_initializer),
                "bias_initializer": _fresh(self.bias_initializer)}

    def _head_dim(self, width):
        if width % self.num_heads:
            raise ValueError(
                f"{type(self).__name__}: the model width {width} must be divisible by "
                f"num_heads={self.num_heads} (each head gets width // num_heads features); "
                "change the embedding width or the number of heads."
            )
        return width // self.num_heads

    def _attention(self, name, width):
        return MultiHeadAttention(
            self.num_heads,
            self._head_dim(width),
            dropout=self.dropout,
            seed=self._next_seed(),
            dtype=self.dtype_policy,
            name=name,
            **self._initializers(),
        )

    def _norm(self, name):
        return keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name=name
        )

    def _dropout(self, name):
        return keras.layers.Dropout(self.dropout, seed=self._next_seed(), dtype=self.dtype_policy, name=name)

    def _feedforward_layers(self, input_shape):
        inner = keras.layers.Dense(
            self.intermediate_dim,
            activation=self.activation,
            dtype=self.dtype_policy,
            name="feedforward_intermediate_dense",
            **self._initializers(),
        )
        outer = keras.layers.Dense(
            input_shape[-1],
            dtype=self.dtype_policy,
            name="feedforward_output_dense",
            **self._initializers(),
        )
        inner.build(input_shape)
        outer.build((*input_shape[:-1], self.intermediate_dim))
        return inner, outer

    def _normalized_input(self, x, norm):
        """What a sublayer reads: x itself (post-LN) or LayerNorm(x) (pre-LN)."""
        return norm(x) if self.normalize_first else x

    def _add(self, residual, y, norm, dropout, training):
        """residual + Dropout(y), then LayerNorm (post-LN) or as is (pre-LN)."""
        y = residual + dropout(y, training=training)
        return y if self.normalize_first else norm(y)

    def _feedforward(self, x, training):
        """The position-wise feed-forward sublayer with its residual connection."""
        y = self._normalized_input(x, self.feedforward_norm)
        y = self.feedforward_outer(self.feedforward_inner(y))
        return self._add(x, y, self.feedforward_norm, self.feedforward_dropout, training)

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.dropout,
            "activation": keras.activations.serialize(self.activation),
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "normalize_first": self.normalize_first,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package="kerasml")
class TransformerEncoderBlock(_TransformerBlock):
    """One Transformer encoder layer: self-attention, then a feed-forward network.

    Paper: Vaswani et al., "Attention Is All You Need", 2017, section 3.1,
    https://arxiv.org/abs/1706.03762. Every token attends to every real
    (unpadded) token; each sublayer has a residual connection, dropout and
    layer normalisation (post-LN as in the paper; ``normalize_first=True`` for
    pre-LN). Same computation and weight layout as
    ``keras_hub.layers.TransformerEncoder``.

    Args:
        num_heads: attention heads; the input width must be divisible by it.
        intermediate_dim: hidden width of the feed-forward network (paper: 4x).
        dropout: dropout rate on the attention weights and on each sublayer's
            output before the residual add (paper: 0.1).
        activation: feed-forward activation (paper: ReLU).
        layer_norm_epsilon: LayerNormalization epsilon.
        normalize_first: pre-LN instead of the paper's post-LN.
        kernel_initializer, bias_initializer: for the attention and dense layers.
        seed: base seed of the dropouts (each dropout gets its own seed from it).
        **kwargs: ``keras.layers.Layer`` arguments (name, dtype, ...).

    Call arguments:
        inputs: ``[batch, time, width]`` (embeddings plus positions).
        mask: optional boolean padding mask ``[batch, time]``, True = real
            token; Keras fills it in from ``Embedding(mask_zero=True)``.
            Padded tokens are never attended to.
        return_attention_scores: if True, also return the self-attention
            weights ``[batch, heads, time, time]``.
        training: whether dropout is active.

    Returns:
        ``[batch, time, width]`` carrying the input's mask (and the weights if asked).

    Example:
        >>> import numpy as np
        >>> from kerasml.layers import SinusoidalPositionalEncoding
        >>> tokens = keras.Input((None,), dtype="int32")
        >>> x = keras.layers.Embedding(50, 32, mask_zero=True)(tokens)
        >>> x = SinusoidalPositionalEncoding()(x)
        >>> x = TransformerEncoderBlock(num_heads=4, intermediate_dim=64)(x)
        >>> tuple(keras.Model(tokens, x)(np.array([[3, 4, 5, 0]])).shape)
        (1, 4, 32)
    """

    def build(self, input_shape):
        # Creation order = keras_hub.layers.TransformerEncoder's weight order.
        width = input_shape[-1]
        self.self_attention = self._attention("self_attention", width)
        self.self_attention.build(input_shape, input_shape)
        self.self_attention_norm = self._norm("self_attention_layer_norm")
        self.self_attention_norm.build(input_shape)
        self.self_attention_dropout = self._dropout("self_attention_dropout")
        self.feedforward_norm = self._norm("feedforward_layer_norm")
        self.feedforward_norm.build(input_shape)
        self.feedforward_inner, self.feedforward_outer = self._feedforward_layers(input_shape)
        self.feedforward_dropout = self._dropout("feedforward_dropout")
        self.built = True

    def call(self, inputs, mask=None, return_attention_scores=False, training=None):
        check_sequence(self, inputs, "inputs", known_width=True)
        check_mask(mask, "mask", inputs.shape[:2])
        h = self._normalized_input(inputs, self.self_attention_norm)
        attended = self.self_attention(
            h, h, query_mask=mask, value_mask=mask, return_attention_scores=return_attention_scores,
            training=training,
        )
        attended, weights = attended if return_attention_scores else (attended, None)
        x = self._add(inputs, attended, self.self_attention_norm, self.self_attention_dropout,
                      training)
        x = self._feedforward(x, training)
        return (x, weights) if return_attention_scores else x


@keras.saving.register_keras_serializable(package="kerasml")
class TransformerDecoderBlock(_TransformerBlock):
    """One Transformer decoder layer: causal self-attention, cross-attention, feed-forward.

    Paper: Vaswani et al., "Attention Is All You Need", 2017, section 3.1,
    https://arxiv.org/abs/1706.03762. Target token i attends to target tokens
    0..i (the causal mask, so teacher forcing cannot peek at the answer), then
    to every real token of the encoder's output (the memory); each sublayer
    has a residual connection, dropout and layer normalisation (post-LN, or
    pre-LN with ``normalize_first=True``). Same computation and weight layout
    as ``keras_hub.layers.TransformerDecoder`` called with an encoder sequence.

    Args:
        num_heads, intermediate_dim, dropout, activation, layer_norm_epsilon,
        normalize_first, kernel_initializer, bias_initializer, seed, **kwargs:
            as in ``TransformerEncoderBlock``.

    Call arguments:
        inputs: target-side ``[batch, target_time, width]``.
        memory: the encoder's output ``[batch, source_time, memory_width]``.
        inputs_mask: optional boolean ``[batch, target_time]`` padding mask of
            the target (True = real); Keras fills it in from the inputs' mask.
        memory_mask: optional boolean ``[batch, source_time]`` padding mask of
            the source. Keras fills it in from the memory's mask inside one
            model; when the memory comes from another model (a separate
            encoder), pass it, e.g. ``keras.ops.not_equal(source_ids, 0)``.
        use_causal_mask: causal self-attention (default True; False only for
            experiments: the decoder then sees future target tokens).
        return_attention_scores: if True, also return the cross-attention
            weights ``[batch, heads, target_time, source_time]`` (which source
            tokens each output token looked at).
        training: whether dropout is active.

    Returns:
        ``[batch, target_time, width]`` carrying the target's mask (and the
        cross-attention weights if asked).

    Example:
        >>> import numpy as np
        >>> target = np.random.rand(2, 5, 32).astype("float32")
        >>> memory = np.random.rand(2, 7, 32).astype("float32")
        >>> source_mask = np.array([[True] * 7, [True] * 3 + [False] * 4])
        >>> block = TransformerDecoderBlock(num_heads=4, intermediate_dim=64)
        >>> out, weights = block(target, memory, memory_mask=source_mask,
        ...                      return_attention_scores=True)
        >>> tuple(out.shape), tuple(weights.shape)
        ((2, 5, 32), (2, 4, 5, 7))
    """

    def build(self, inputs_shape, memory_shape):
        # Creation order = keras_hub.layers.TransformerDecoder's weight order.
        width = inputs_shape[-1]
        self.self_attention = self._attention("self_attention", width)
        self.self_attention.build(inputs_shape, inputs_shape)
        self.self_attention_norm = self._norm("self_attention_layer_norm")
        self.self_attention_norm.build(inputs_shape)
        self.self_attention_dropout = self._dropout("self_attention_dropout")
        self.cross_attention = self._attention("cross_attention", width)
        self.cross_attention.build(inputs_shape, memory_shape)
        self.cross_attention_norm = self._norm("cross_attention_layer_norm")
        self.cross_attention_norm.build(inputs_shape)
        self.cross_attention_dropout = self._dropout("cross_attention_dropout")
        self.feedforward_inner, self.feedforward_outer = self._feedforward_layers(inputs_shape)
        self.feedforward_norm = self._norm("feedforward_layer_norm")
        self.feedforward_norm.build(inputs_shape)
        self.feedforward_dropout = self._dropout("feedforward_dropout")
        self.built = True

    def call(
        self,
        inputs,
        memory,
        inputs_mask=None,
        memory_mask=None,
        use_causal_mask=True,
        return_attention_scores=False,
        training=None,
    ):
        check_sequence(self, inputs, "inputs", known_width=True)
        check_sequence(self, memory, "memory", known_width=True)
        check_mask(inputs_mask, "inputs_mask", inputs.shape[:2])
        check_mask(memory_mask, "memory_mask", memory.shape[:2])
        if inputs.shape[0] is not None and memory.shape[0] not in (None, inputs.shape[0]):
            raise ValueError(
                f"`inputs` has batch size {inputs.shape[0]} but `memory` has "
                f"{memory.shape[0]}: each target sequence needs its own source's memory."
            )
        h = self._normalized_input(inputs, self.self_attention_norm)
        attended = self.self_attention(
            h, h, query_mask=inputs_mask, value_mask=inputs_mask, use_causal_mask=use_causal_mask,
            training=training,
        )
        x = self._add(inputs, attended, self.self_attention_norm, self.self_attention_dropout,
                      training)
        h = self._normalized_input(x, self.cross_attention_norm)
        attended = self.cross_attention(
            h, memory, query_mask=inputs_mask, value_mask=memory_mask,
            return_attention_scores=return_attention_scores,
            training=training,
        )
        attended, weights = attended if return_attention_scores else (attended, None)
        x = self._add(x, attended, self.cross_attention_norm, self.cross_attention_dropout,
                      training)
        x = self._feedforward(x, training)
        return (x, weights) if return_attention_scores else x
