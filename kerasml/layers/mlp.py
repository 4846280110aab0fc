"""gMLP: MLPs with spatial gating instead of attention (Liu et al., 2021).

Paper: Liu, Dai, So & Le, "Pay Attention to MLPs", NeurIPS 2021,
https://arxiv.org/abs/2105.08050.
"""

import keras
from keras import ops

from kerasml.layers._checks import check_mask, check_not_empty


@keras.saving.register_keras_serializable(package="kerasml")
class SpatialGatingUnit(keras.layers.Layer):
    """gMLP's spatial gating unit: s(Z) = Z1 * (W · LayerNorm(Z2) + b).

    Z is split in half along the channels; Z2 is normalised and mixed across
    the *sequence* axis by a learned [time, time] matrix W, and gates Z1
    element-wise. As in the paper W starts near zero and b at one, so the unit
    starts close to the identity on Z1 and training is stable. Because W is
    [time, time], the sequence length is fixed when the layer is built.

    Masked (padded) tokens are zeroed before the spatial mixing so they cannot
    leak into valid ones; with ``causal=True`` W is lower-triangular (token i
    mixes tokens 0..i only), as the paper does for language modelling.

    Args:
        causal: if True, token i only sees tokens up to i.
        epsilon: LayerNormalization epsilon.
        **kwargs: ``keras.layers.Layer`` arguments.

    Call arguments:
        inputs: ``[batch, time, channels]`` with an even number of channels and
            the time length the layer was built with.
        mask: optional boolean ``[batch, time]`` (True = keep).

    Returns:
        ``[batch, time, channels // 2]``; the mask passes through.

    Example:
        >>> import numpy as np
        >>> tuple(SpatialGatingUnit()(np.random.rand(2, 16, 64).astype("float32")).shape)
        (2, 16, 32)
    """

    def __init__(self, causal=False, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.causal = causal
        self.epsilon = epsilon
        self.supports_masking = True
        self.norm = keras.layers.LayerNormalization(epsilon=epsilon, dtype=self.dtype_policy)

    def build(self, input_shape):
        length, channels = input_shape[1], input_shape[-1]
        if length is None:
            raise ValueError(
                "SpatialGatingUnit needs a fixed sequence length (its spatial weights are "
                "[time, time]); declare it, e.g. keras.Input((time, channels)), and pad or "
                "crop sequences to it."
            )
        if channels is None or channels % 2:
            raise ValueError(
                f"SpatialGatingUnit splits the channels in half, so it needs an even number "
                f"of channels; got {channels}. Make the preceding projection's width even."
            )
        self.norm.build((*input_shape[:-1], channels // 2))
        # Paper, section 2.1: "initialize W as near-zero values and b as ones".
        eps = 1e-3 / length
        self.spatial_kernel = self.add_weight(
            (length, length), keras.initializers.RandomUniform(-eps, eps), name="spatial_kernel"
        )
        self.spatial_bias = self.add_weight((length,), "ones", name="spatial_bias")
        self.built = True

    def call(self, inputs, mask=None):
        length = self.spatial_kernel.shape[0]
        if len(inputs.shape) != 3 or inputs.shape[1] not in (None, length):
            raise ValueError(
                f"SpatialGatingUnit was built for sequences of length {length}; got inputs of "
                f"shape {tuple(inputs.shape)}. Pad or crop the sequences to {length} steps."
            )
        check_not_empty(inputs, "inputs")
        check_mask(mask, "mask", inputs.shape[:2])
        gate, mixed = ops.split(inputs, 2, axis=-1)
        mixed = self.norm(mixed)
        if mask is not None:
            mixed = ops.where(ops.expand_dims(mask, -1), mixed, ops.zeros_like(mixed))
        kernel = self.spatial_kernel
        if self.causal:
            kernel = ops.tril(kernel)
        mixed = ops.einsum("ts,bsc->btc", kernel, mixed) + ops.expand_dims(self.spatial_bias, -1)
        return gate * mixed

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] // 2)

    def get_config(self):
        return {**super().get_config(), "causal": self.causal, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="kerasml")
class GMLPBlock(keras.layers.Layer):
    """One gMLP block: x + Dense_d(SGU(act(Dense_ffn(LayerNorm(x))))).

    Figure 1 of the paper: channel projection up to ``ffn_units`` with GELU,
    the spatial gating unit (which halves the width), projection back to the
    input width, and a residual connection. Stack several for a gMLP model.

    Args:
        ffn_units: width of the expanded channel projection (even; the paper
            uses 6x the model width).
        activation: activation after the first projection (paper: GELU).
        causal: passed to ``SpatialGatingUnit``.
        dropout: dropout rate on the block's output before the residual add.
        epsilon: LayerNormalization epsilon.
        seed: seed for the dropout.
        **kwargs: ``keras.layers.Layer`` arguments.

    Call arguments:
        inputs: ``[batch, time, width]`` with the length the layer was built with.
        mask: optional boolean ``[batch, time]`` (True = keep).
        training: whether dropout is active.

    Returns:
        ``[batch, time, width]``; the mask passes through.

    Example:
        >>> import numpy as np
        >>> block = GMLPBlock(ffn_units=128)
        >>> tuple(block(np.random.rand(2, 16, 32).astype("float32")).shape)
        (2, 16, 32)
    """

    def __init__(
        self,
        ffn_units,
        activation="gelu",
        causal=False,
        dropout=0.0,
        epsilon=1e-6,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if ffn_units % 2:
            raise ValueError(
                f"ffn_units must be even (the gating unit halves it); got {ffn_units}."
            )
        self.ffn_units = ffn_units
        self.activation = keras.activations.get(activation)
        self.causal = causal
        self.dropout = dropout
        self.epsilon = epsilon
        self.seed = seed
        self.supports_masking = True
        policy = self.dtype_policy
        self.norm = keras.layers.LayerNormalization(epsilon=epsilon, dtype=policy)
        self.expand = keras.layers.Dense(ffn_units, activation=self.activation, dtype=policy)
        self.gating = SpatialGatingUnit(causal=causal, epsilon=epsilon, dtype=policy)
        self._dropout_layer = keras.layers.Dropout(dropout, seed=seed, dtype=policy)
        self.contract = None  # width known at build

    def build(self, input_shape):
        self.contract = keras.layers.Dense(input_shape[-1], dtype=self.dtype_policy)
        self.norm.build(input_shape)
        self.expand.build(input_shape)
        hidden = (*input_shape[:-1], self.ffn_units)
        self.gating.build(hidden)
        self.contract.build((*input_shape[:-1], self.ffn_units // 2))
        self.built = True

    def call(self, inputs, mask=None, training=None):
        x = self.expand(self.norm(inputs))
        x = self.contract(self.gating(x, mask=mask))
        return inputs + self._dropout_layer(x, training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "ffn_units": self.ffn_units,
            "activation": keras.activations.serialize(self.activation),
            "causal": self.causal,
            "dropout": self.dropout,
            "epsilon": self.epsilon,
            "seed": self.seed,
        }
