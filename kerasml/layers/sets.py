"""Permutation-invariant pooling over padded, masked sets (Deep Sets).

Deep Sets (Zaheer et al. 2017, "Deep Sets", NeurIPS) writes every
permutation-invariant function of a set as ``rho(pool_i phi(x_i))``: a network
``phi`` applied to each element, a symmetric pooling, and a network ``rho`` on
the pooled vector. Keras has per-element layers (``Dense`` works on
``[batch, set, features]``) but no masked *sum* pooling, and its
``GlobalMaxPooling1D`` ignores masks; ``SetPooling`` provides sum, mean and max
over the real elements of a padded batch of sets.

Exact invariance: sums are invariant in exact arithmetic only. In float32 a
permuted set is summed in another order, and the result moves in its last bits
(about 1e-7 relative; 3e-5 absolute on an output near 300). With
``exact=True`` (the default) each feature is sorted over the set before the sum,
so every permutation of a set is summed in the same order and gives a bitwise
identical result (at the cost of a sort of ``set`` values per feature). Max
pooling is order-free anyway.

Example:
    >>> import numpy as np
    >>> elements = keras.Input((None, 4))
    >>> mask = keras.Input((None,), dtype="bool")
    >>> phi = keras.layers.Dense(8, activation="relu")(elements)
    >>> pooled = SetPooling("sum")(phi, mask=mask)
    >>> model = keras.Model([elements, mask], keras.layers.Dense(1)(pooled))
    >>> x = np.ones((2, 5, 4), "float32")
    >>> m = np.array([[True] * 5, [True, True, False, False, False]])
    >>> tuple(model.predict([x, m], verbose=0).shape)
    (2, 1)
"""

import keras
from keras import backend, ops

from kerasml.layers._checks import check_mask

MODES = ("sum", "mean", "max")


@keras.saving.register_keras_serializable(package="kerasml")
class SetPooling(keras.layers.Layer):
    """Sum, mean or max over each set's real elements: Deep Sets' pooling.

    Zaheer et al. 2017, "Deep Sets" (NeurIPS), Theorem 2: a function of a set is
    permutation invariant iff it can be written ``rho(sum_i phi(x_i))``. Sum
    pooling keeps the set's size (it can count); mean and max pooling do not,
    but their output does not grow with the set.

    Args:
        mode: ``"sum"``, ``"mean"`` or ``"max"``.
        exact: sort each feature over the set before summing (sum and mean), so
            that any permutation of a set gives a bitwise identical result; see
            the module docstring. Has no effect on max.
        **kwargs: ``keras.layers.Layer`` arguments.

    Call arguments:
        inputs: ``[batch, set, features]`` element features (padded sets).
        mask: optional boolean ``[batch, set]``, True = real element; Keras fills
            it in from the input's mask. ``None`` pools every position.

    Returns:
        ``[batch, features]``. An empty set (all positions masked) gives zeros for
        every mode: no NaN from mean's division, no -inf from max. Float16 and
        bfloat16 inputs are summed in float32 and cast back.

    Example:
        >>> import numpy as np
        >>> x = np.array([[[1.0], [2.0], [9.0]], [[3.0], [0.5], [7.0]]], "float32")
        >>> mask = np.array([[True, True, False], [True, False, False]])
        >>> keras.ops.convert_to_numpy(SetPooling("sum")(x, mask=mask)).tolist()
        [[3.0], [3.0]]
        >>> keras.ops.convert_to_numpy(SetPooling("max")(x, mask=mask)).tolist()
        [[2.0], [3.0]]
    """

    def __init__(self, mode="sum", exact=True, **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"SetPooling mode must be one of {MODES}, got {mode!r}.")
        self.mode = mode
        self.exact = bool(exact)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if len(inputs.shape) != 3:
            raise ValueError(
                f"SetPooling needs element features [batch, set, features]; got shape "
                f"{tuple(inputs.shape)}. Apply phi to each element first (Dense works on "
                "[batch, set, features])."
            )
        check_mask(mask, "mask", inputs.shape[:2])
        dtype = backend.standardize_dtype(inputs.dtype)
        x = ops.cast(inputs, "float32") if dtype in ("float16", "bfloat16") else inputs
        if mask is None:
            keep = ops.ones_like(x[..., :1], dtype="bool")
        else:
            keep = ops.expand_dims(mask, -1)
        count = ops.sum(ops.cast(keep, x.dtype), axis=1)  # [batch, 1]
        if self.mode == "max":
            lowest = ops.full_like(x, float("-inf"))
            peak = ops.max(ops.where(keep, x, lowest), axis=1)
            pooled = ops.where(count > 0, peak, ops.zeros_like(peak))
        else:
            values = ops.where(keep, x, ops.zeros_like(x))
            if self.exact:
                values = ops.sort(values, axis=1)
            pooled = ops.sum(values, axis=1)
            if self.mode == "mean":
                pooled = pooled / ops.maximum(count, 1.0)
        return ops.cast(pooled, inputs.dtype)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "exact": self.exact}
