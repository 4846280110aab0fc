"""Attention scoring with boolean masks (True = keep), written with ``keras.ops``.

One convention holds for every layer here: a query whose keys are all masked
gets all-zero attention weights, so its attention output is zero. See
``masked_softmax`` for why.

Layout: single-head tensors are ``[batch, time, features]``; multi-head tensors
``[batch, time, heads, head_dim]`` as in ``keras.ops.dot_product_attention``.
Attention weights are ``[batch, (heads,) query_time, key_time]``.
"""

import math

import keras
from keras import backend, ops

from kerasml.layers._checks import check_mask, check_not_empty

# Finite on purpose: with -inf a fully masked row would be exp(-inf - -inf) = NaN.
_MASKED_SCORE = -1e9


def masked_softmax(scores, mask=None, axis=-1):
    """Softmax over ``axis`` that ignores masked entries.

    A row whose entries are all masked gets all-zero weights. Such a query has
    nothing it may attend to, and the two usual tricks both go wrong there:
    filling masked scores with -inf gives 0/0 = NaN, which poisons the loss and
    every gradient of the batch; filling them with a large negative number
    (d2l's -1e6, the fused path of ``keras.ops.dot_product_attention``) makes
    all entries tie, so the row silently becomes the uniform average of the
    very padding it was told to ignore. Zero weights make that query's output
    the empty sum, zero, and send no gradient into masked keys.

    Float16 and bfloat16 scores (mixed precision) are normalised in float32 and
    cast back, so the masked fill value never overflows.

    Args:
        scores: float tensor of attention scores.
        mask: optional boolean tensor broadcastable to ``scores``; True = keep.
        axis: the axis to normalise over (the key axis).

    Returns:
        Weights with the shape and dtype of ``scores``; masked entries are 0 and
        every row sums to 1, or to 0 if it has no unmasked entry.

    Example:
        >>> import numpy as np
        >>> w = masked_softmax(np.zeros((2, 3), "float32"),
        ...                    np.array([[True, True, False], [False, False, False]]))
        >>> keras.ops.convert_to_numpy(w).tolist()
        [[0.5, 0.5, 0.0], [0.0, 0.0, 0.0]]
    """
    if mask is None:
        return _softmax_fill_masked(scores, None, axis)
    mask = check_mask(ops.convert_to_tensor(mask), "mask", [None] * len(mask.shape))
    # Rows with a kept entry already have exact zeros where masked (exp underflows);
    # this only changes fully masked rows, from uniform to zero.
    weights = _softmax_fill_masked(scores, mask, axis)
    return ops.where(mask, weights, ops.zeros_like(weights))


def _softmax_fill_masked(scores, mask, axis=-1):
    """Softmax with masked scores filled by a large negative number: fully masked
    rows come out uniform. Low-precision scores are normalised in float32."""
    scores = ops.convert_to_tensor(scores)
    dtype = backend.standardize_dtype(scores.dtype)
    work = "float32" if dtype in ("float16", "bfloat16") else dtype
    scores = ops.cast(scores, work)
    if mask is not None:
        scores = ops.where(mask, scores, _MASKED_SCORE)
    if scores.shape[axis] == 1:
        # One key (the first step of greedy decoding): the softmax is 1, and keras.ops.softmax
        # would warn that a size-1 axis is "likely not what you intended". exp(s - s) is 1
        # and still passes NaN through.
        return ops.cast(ops.exp(scores - scores), dtype)
    return ops.cast(ops.softmax(scores, axis=axis), dtype)


def _fresh(initializer):
    """A new copy per weight, as keras does: one seeded initializer reused for
    several weights would give them identical values."""
    return initializer.__class__.from_config(initializer.get_config())


_LAYOUTS = {3: "[batch, time, features]", 4: "[batch, time, heads, head_dim]"}


def _differ(a, b):
    """Two static dimensions that are both known and unequal."""
    return a is not None and b is not None and a != b


def causal_mask(query_length, key_length):
    """Boolean ``[1, query_length, key_length]`` mask: query i sees keys 0..i."""
    rows = ops.expand_dims(ops.arange(query_length), -1)
    cols = ops.expand_dims(ops.arange(key_length), 0)
    return ops.expand_dims(ops.greater_equal(rows, cols), 0)


class _MaskedAttention(keras.layers.Layer):
    """Masks, dropout on the weights and returned weights; subclasses only score.

    Subclasses implement ``_scores(query, key)`` and ``_combine(weights, value)``.
    """

    _ranks = (3,)

    def __init__(self, dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.dropout = dropout
        self.seed = seed
        self.supports_masking = True  # the output keeps the query's mask
        self._dropout_layer = keras.layers.Dropout(dropout, seed=seed, dtype=self.dtype_policy)

    def build(self, query_shape, value_shape, key_shape=None):
        self.built = True

    def call(
        self,
        query,
        value,
        key=None,
        query_mask=None,
        value_mask=None,
        key_mask=None,
        attention_mask=None,
        use_causal_mask=False,
        return_attention_scores=False,
        training=None,
    ):
        key = value if key is None else key
        self._check_inputs(query, key, value)
        mask = self._attention_mask(
            query, key, query_mask, value_mask, key_mask, attention_mask, use_causal_mask
        )
        weights = _softmax_fill_masked(self._scores(query, key), mask)
        output = self._combine(self._dropout_layer(weights, training=training), value)
        if mask is None:
            return (output, weights) if return_attention_scores else output
        # Same result as masked_softmax, cheaper: rather than zeroing the fully masked
        # rows of the [.., T, S] weights, zero those queries' [.., T, d] outputs (this
        # also stops their gradient); the weights are zeroed only when returned.
        has_key = ops.any(mask, axis=-1)  # [batch, (heads,) query_time], maybe broadcast
        if len(output.shape) == 4:
            has_key = ops.transpose(has_key, (0, 2, 1))  # to the output's [b, t, heads]
        output = output * ops.cast(ops.expand_dims(has_key, -1), output.dtype)
        if not return_attention_scores:
            return output
        return output, ops.where(mask, weights, ops.zeros_like(weights))

    def _check_inputs(self, query, key, value):
        for name, x in (("query", query), ("key", key), ("value", value)):
            if len(x.shape) not in self._ranks or len(x.shape) != len(query.shape):
                layouts = " or ".join(_LAYOUTS[rank] for rank in self._ranks)
                raise ValueError(
                    f"{type(self).__name__} needs query, key and value as {layouts}; got "
                    f"`{name}` with shape {tuple(x.shape)} and query {tuple(query.shape)}."
                )
            check_not_empty(x, name)
        if _differ(key.shape[1], value.shape[1]):
            raise ValueError(
                f"`key` has {key.shape[1]} steps but `value` has {value.shape[1]}: "
                "each key scores the value at the same step, so give them equal lengths."
            )

    def _attention_mask(self, query, key, query_mask, value_mask, key_mask, attention_mask, causal):
        batch, q_len, k_len = query.shape[0], query.shape[1], key.shape[1]
        masks = []  # each [batch|1, q_len|1, k_len|1]
        if query_mask is not None:
            check_mask(query_mask, "query_mask", (batch, q_len))
            masks.append(ops.expand_dims(query_mask, -1))
        for name, mask in (("value_mask", value_mask), ("key_mask", key_mask)):
            if mask is not None:
                check_mask(mask, name, (batch, k_len))
                masks.append(ops.expand_dims(mask, -2))
        if causal:
            masks.append(causal_mask(ops.shape(query)[1], ops.shape(key)[1]))
        multi_head = len(query.shape) == 4
        if multi_head:
            masks = [ops.expand_dims(m, 1) for m in masks]  # broadcast over heads
        if attention_mask is not None:
            if multi_head and len(attention_mask.shape) == 4:
                check_mask(
                    attention_mask, "attention_mask", (batch, query.shape[2], q_len, k_len), True
                )
            else:
                check_mask(attention_mask, "attention_mask", (batch, q_len, k_len), True)
                if multi_head:
                    attention_mask = ops.expand_dims(attention_mask, 1)
            masks.append(attention_mask)
        if not masks:
            return None
        mask = masks[0]
        for m in masks[1:]:
            mask = ops.logical_and(mask, m)
        return mask

    def get_config(self):
        return {**super().get_config(), "dropout": self.dropout, "seed": self.seed}


@keras.saving.register_keras_serializable(package="kerasml")
class ScaledDotProductAttention(_MaskedAttention):
    """Scaled dot-product attention, softmax(q kᵀ / √d) v (Vaswani et al., 2017).

    Paper: "Attention Is All You Need", https://arxiv.org/abs/1706.03762.

    Computes what ``keras.ops.dot_product_attention`` computes, as a layer that
    takes Keras masks, a causal mask and dropout on the weights, and returns the
    weights on request. Deviation: a query whose keys are all masked gets zero
    weights and a zero output, where keras's fused path averages all keys
    uniformly (see ``masked_softmax``). Has no weights; query and key widths
    must match. (``keras.layers.Attention`` scores q·kᵀ without the 1/√d.)

    Args:
        dropout: dropout rate on the attention weights (training only).
        seed: seed for the dropout.
        **kwargs: ``keras.layers.Layer`` arguments (name, dtype, ...).

    Call arguments:
        query: ``[batch, query_time, d]``, or multi-head
            ``[batch, query_time, heads, d]`` (key and value then too).
        value: ``[batch, key_time, value_d]`` (or ``[batch, key_time, heads, value_d]``).
        key: optional, shaped like ``value`` but with width d; defaults to ``value``.
        query_mask, value_mask, key_mask: optional boolean ``[batch, time]``
            masks (True = keep). Keras fills them in from the inputs' masks
            (``Embedding(mask_zero=True)``, ``Masking``); pass them to override.
            A masked query gets zero weights, as in keras's MultiHeadAttention.
        attention_mask: optional boolean ``[batch, query_time, key_time]`` (or
            ``[batch, heads, query_time, key_time]``), ANDed with the masks above.
        use_causal_mask: if True, query i attends only to keys 0..i.
        return_attention_scores: if True, also return the attention weights
            (after the softmax, before dropout).
        training: whether dropout is active.

    Returns:
        ``[batch, query_time, value_d]`` (or ``[batch, query_time, heads, value_d]``)
        and, if asked, weights ``[batch, (heads,) query_time, key_time]``. The
        output carries the query's Keras mask. A query row with no unmasked key
        gets zero weights and a zero output, never NaN or a uniform average.

    Example:
        >>> import numpy as np
        >>> x = np.random.rand(2, 5, 8).astype("float32")
        >>> mask = np.array([[True] * 5, [True, True, True, False, False]])
        >>> out, w = ScaledDotProductAttention()(
        ...     x, x, value_mask=mask, use_causal_mask=True, return_attention_scores=True)
        >>> tuple(out.shape), tuple(w.shape)
        ((2, 5, 8), (2, 5, 5))
    """

    _ranks = (3, 4)

    def _check_inputs(self, query, key, value):
        super()._check_inputs(query, key, value)
        if _differ(query.shape[-1], key.shape[-1]):
            raise ValueError(
                f"`query` has width {query.shape[-1]} but `key` has width {key.shape[-1]}; "
                "dot-product scores need equal widths. Project them to a common width "
                "(keras.layers.Dense), or use MultiHeadAttention or AdditiveAttention, "
                "which learn their own projections."
            )

    def _scores(self, query, key):
        # Scaling the query (T*d values) is cheaper than scaling the scores (T*S).
        query = ops.multiply(query, ops.cast(1.0 / math.sqrt(query.shape[-1]), query.dtype))
        equation = "btnh,bsnh->bnts" if len(query.shape) == 4 else "btd,bsd->bts"
        return ops.einsum(equation, query, key)

    def _combine(self, weights, value):
        equation = "bnts,bsnh->btnh" if len(value.shape) == 4 else "bts,bsd->btd"
        return ops.einsum(equation, weights, value)


@keras.saving.register_keras_serializable(package="kerasml")
class AdditiveAttention(_MaskedAttention):
    """Additive (Bahdanau) attention: score(q, k) = vᵀ tanh(W_q q + W_k k + b).

    Paper: Bahdanau, Cho & Bengio, "Neural Machine Translation by Jointly
    Learning to Align and Translate", 2015, https://arxiv.org/abs/1409.0473.

    Unlike ``keras.layers.AdditiveAttention``, which scores tanh(q + k) without
    projections (so query and key must have equal widths), this layer learns
    W_q, W_k and v, so a decoder state and encoder outputs of different widths
    can be scored. Memory grows as batch * query_time * key_time * units.

    Args:
        units: width of the hidden scoring layer (W_q, W_k project to it).
        use_bias: whether to add b inside the tanh.
        dropout: dropout rate on the attention weights (training only).
        kernel_initializer, bias_initializer: initialisers for W_q, W_k, v and b.
        seed: seed for the dropout.
        **kwargs: ``keras.layers.Layer`` arguments (name, dtype, ...).

    Call arguments:
        query: ``[batch, query_time, query_features]``.
        value: ``[batch, key_time, value_features]``.
        key: optional ``[batch, key_time, key_features]``; defaults to ``value``.
        query_mask, value_mask, key_mask, attention_mask, use_causal_mask,
        return_attention_scores, training: as in ``ScaledDotProductAttention``.

    Returns:
        ``[batch, query_time, value_features]`` and, if asked, the weights
        ``[batch, query_time, key_time]``; fully masked query rows get zeros.

    Example:
        >>> import numpy as np
        >>> decoder = np.random.rand(2, 3, 16).astype("float32")
        >>> encoder = np.random.rand(2, 7, 32).astype("float32")
        >>> context = AdditiveAttention(units=10)(decoder, encoder)
        >>> tuple(context.shape)
        (2, 3, 32)
    """

    def __init__(
        self,
        units,
        use_bias=True,
        dropout=0.0,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        seed=None,
        **kwargs,
    ):
        super().__init__(dropout=dropout, seed=seed, **kwargs)
        self.units = units
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, query_shape, value_shape, key_shape=None):
        key_shape = value_shape if key_shape is None else key_shape
        init = self.kernel_initializer
        self.query_kernel = self.add_weight(
            (query_shape[-1], self.units), _fresh(init), name="query_kernel"
        )
        self.key_kernel = self.add_weight(
            (key_shape[-1], self.units), _fresh(init), name="key_kernel"
        )
        self.bias = (
            self.add_weight((self.units,), self.bias_initializer, name="bias")
            if self.use_bias
            else None
        )
        # v is a vector; glorot on a [units, 1] kernel, like a Dense(1) scorer.
        self.score_kernel = self.add_weight((self.units, 1), _fresh(init), name="score_kernel")
        self.built = True

    def _scores(self, query, key):
        q = ops.matmul(query, self.query_kernel)  # [b, t, u]
        k = ops.matmul(key, self.key_kernel)  # [b, s, u]
        if self.bias is not None:
            q = q + self.bias  # added once to the smaller tensor, not to [b, t, s, u]
        hidden = ops.tanh(ops.expand_dims(q, 2) + ops.expand_dims(k, 1))  # [b, t, s, u]
        return ops.squeeze(ops.matmul(hidden, self.score_kernel), -1)

    def _combine(self, weights, value):
        return ops.matmul(weights, value)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }


@keras.saving.register_keras_serializable(package="kerasml")
class MultiHeadAttention(keras.layers.Layer):
    """Multi-head attention built on ``ScaledDotProductAttention``.

    Paper: Vaswani et al., "Attention Is All You Need", 2017,
    https://arxiv.org/abs/1706.03762.

    Computes what ``keras.layers.MultiHeadAttention`` computes for 3-D inputs,
    with the same weights in the same order and shapes (query, key, value
    kernels ``[features, heads, head_dim]`` and biases ``[heads, head_dim]``,
    output kernel ``[heads, value_dim, output_dim]`` and bias ``[output_dim]``),
    so ``set_weights(keras_mha.get_weights())`` transfers a trained layer.
    Deviations from keras: a query whose keys are all masked gets zero weights
    (keras's fused path averages them uniformly), masks are checked, and there
    is no ``attention_axes``/``output_shape`` (use ``output_dim``).

    Args:
        num_heads: number of attention heads.
        key_dim: width of each head's query and key.
        value_dim: width of each head's value; defaults to ``key_dim``.
        dropout: dropout rate on the attention weights.
        use_bias: whether the four projections have biases.
        output_dim: output width; defaults to the query's width.
        kernel_initializer, bias_initializer: initialisers of the projections.
        seed: seed for the dropout.
        **kwargs: ``keras.layers.Layer`` arguments (name, dtype, ...).

    Call arguments:
        query: ``[batch, query_time, query_features]``.
        value: ``[batch, key_time, value_features]``.
        key: optional ``[batch, key_time, key_features]``; defaults to ``value``.
        query_mask, value_mask, key_mask, attention_mask, use_causal_mask,
        return_attention_scores, training: as in ``ScaledDotProductAttention``.

    Returns:
        ``[batch, query_time, output_dim]`` carrying the query's Keras mask and,
        if asked, the weights ``[batch, heads, query_time, key_time]``.

    Example:
        >>> import numpy as np
        >>> tokens = keras.Input((None,), dtype="int32")
        >>> x = keras.layers.Embedding(100, 32, mask_zero=True)(tokens)
        >>> x = MultiHeadAttention(num_heads=4, key_dim=8)(x, x, use_causal_mask=True)
        >>> model = keras.Model(tokens, x)
        >>> tuple(model(np.array([[5, 6, 7, 0, 0]])).shape)
        (1, 5, 32)
    """

    def __init__(
        self,
        num_heads,
        key_dim,
        value_dim=None,
        dropout=0.0,
        use_bias=True,
        output_dim=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = value_dim or key_dim
        self.dropout = dropout
        self.use_bias = use_bias
        self.output_dim = output_dim
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.seed = seed
        self.supports_masking = True
        self.attention = ScaledDotProductAttention(dropout, seed=seed, dtype=self.dtype_policy)

    def build(self, query_shape, value_shape, key_shape=None):
        key_shape = value_shape if key_shape is None else key_shape
        for name, shape in (("query", query_shape), ("value", value_shape), ("key", key_shape)):
            if len(shape) != 3 or shape[-1] is None:
                raise ValueError(
                    f"MultiHeadAttention needs `{name}` as [batch, time, features] with a known "
                    f"feature width; got shape {tuple(shape)}."
                )
        heads, out = self.num_heads, self.output_dim or query_shape[-1]
        # Creation order = keras.layers.MultiHeadAttention's weight order.
        self.query_kernel, self.query_bias = self._projection(
            "query", query_shape[-1], self.key_dim
        )
        self.key_kernel, self.key_bias = self._projection("key", key_shape[-1], self.key_dim)
        self.value_kernel, self.value_bias = self._projection(
            "value", value_shape[-1], self.value_dim
        )
        self.output_kernel = self.add_weight(
            (heads, self.value_dim, out), _fresh(self.kernel_initializer), name="output_kernel"
        )
        self.output_bias = (
            self.add_weight((out,), _fresh(self.bias_initializer), name="output_bias")
            if self.use_bias
            else None
        )
        self.built = True

    def _projection(self, name, features, width):
        kernel = self.add_weight(
            (features, self.num_heads, width),
            _fresh(self.kernel_initializer),
            name=f"{name}_kernel",
        )
        bias = (
            self.add_weight(
                (self.num_heads, width), _fresh(self.bias_initializer), name=f"{name}_bias"
            )
            if self.use_bias
            else None
        )
        return kernel, bias

    @staticmethod
    def _project(x, kernel, bias):
        y = ops.einsum("btd,dnh->btnh", x, kernel)
        return y if bias is None else y + bias

    def call(
        self,
        query,
        value,
        key=None,
        query_mask=None,
        value_mask=None,
        key_mask=None,
        attention_mask=None,
        use_causal_mask=False,
        return_attention_scores=False,
        training=None,
    ):
        key = value if key is None else key
        result = self.attention(
            self._project(query, self.query_kernel, self.query_bias),
            self._project(value, self.value_kernel, self.value_bias),
            key=self._project(key, self.key_kernel, self.key_bias),
            query_mask=query_mask,
            value_mask=value_mask,
            key_mask=key_mask,
            attention_mask=attention_mask,
            use_causal_mask=use_causal_mask,
            return_attention_scores=return_attention_scores,
            training=training,
        )
        output, weights = result if return_attention_scores else (result, None)
        output = ops.einsum("btnh,nhd->btd", output, self.output_kernel)
        if self.output_bias is not None:
            output = output + self.output_bias
        return (output, weights) if return_attention_scores else output

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "key_dim": self.key_dim,
            "value_dim": self.value_dim,
            "dropout": self.dropout,
            "use_bias": self.use_bias,
            "output_dim": self.output_dim,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package="kerasml")
class AttentionPooling(keras.layers.Layer):
    """Pools a masked sequence or set into one vector with a learned query.

    Attention pooling (Bahdanau et al., 2015; as a pooling layer in Yang et al.,
    "Hierarchical Attention Networks", NAACL 2016, and Lee et al., "Set
    Transformer", ICML 2019): a learned query q scores keys W_k x_t with
    ``ScaledDotProductAttention``, and the output is the weighted sum of the
    inputs x_t. The query biases which elements are selected. With the default
    zero query the layer starts as a masked mean; a set whose elements are all
    masked pools to zeros.

    Args:
        units: width of the query and keys; defaults to the input width.
        dropout: dropout rate on the pooling weights.
        kernel_initializer: initialiser of W_k.
        query_initializer: initialiser of q (default zeros: a masked mean).
        seed: seed for the dropout.
        **kwargs: ``keras.layers.Layer`` arguments.

    Call arguments:
        inputs: ``[batch, time, features]``.
        mask: optional boolean ``[batch, time]`` (True = keep); Keras fills it in
            from the input's mask.
        return_attention_scores: if True, also return the weights ``[batch, time]``.
        training: whether dropout is active.

    Returns:
        ``[batch, features]`` (and the weights if asked); no mask.

    Example:
        >>> import numpy as np
        >>> x = np.random.rand(2, 6, 16).astype("float32")
        >>> mask = np.array([[True] * 6, [True, True, False, False, False, False]])
        >>> tuple(AttentionPooling()(x, mask=mask).shape)
        (2, 16)
    """

    def __init__(
        self,
        units=None,
        dropout=0.0,
        kernel_initializer="glorot_uniform",
        query_initializer="zeros",
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = units
        self.dropout = dropout
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.query_initializer = keras.initializers.get(query_initializer)
        self.seed = seed
        self.supports_masking = True
        self.attention = ScaledDotProductAttention(dropout, seed=seed, dtype=self.dtype_policy)

    def build(self, input_shape):
        units = self.units or input_shape[-1]
        self.key_kernel = self.add_weight(
            (input_shape[-1], units), self.kernel_initializer, name="key_kernel"
        )
        self.query = self.add_weight((units,), self.query_initializer, name="query")
        self.built = True

    def call(self, inputs, mask=None, return_attention_scores=False, training=None):
        if len(inputs.shape) != 3:
            raise ValueError(
                "AttentionPooling needs [batch, time, features] inputs; got shape "
                f"{tuple(inputs.shape)}."
            )
        keys = ops.matmul(inputs, self.key_kernel)
        query = ops.broadcast_to(self.query, (ops.shape(inputs)[0], 1, keys.shape[-1]))
        result = self.attention(
            ops.cast(query, keys.dtype),
            inputs,
            key=keys,
            value_mask=mask,
            return_attention_scores=return_attention_scores,
            training=training,
        )
        if return_attention_scores:
            return result[0][:, 0], result[1][:, 0]
        return result[:, 0]

    def compute_mask(self, inputs, mask=None):
        return None  # the time axis is pooled away

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "dropout": self.dropout,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "query_initializer": keras.initializers.serialize(self.query_initializer),
            "seed": self.seed,
        }
