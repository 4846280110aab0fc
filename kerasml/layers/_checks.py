"""Input checks shared by the layers: errors that say what to change.

Only static shapes are checked, so the checks cost nothing in a traced graph and
fire in eager calls and in models built with fully known input shapes.
"""

from keras import backend


def check_not_empty(x, name):
    """Raise if ``x`` has a static zero-size dimension (an empty batch or sequence)."""
    if any(dim == 0 for dim in x.shape):
        raise ValueError(
            f"`{name}` has a zero-size dimension (shape {tuple(x.shape)}): an empty batch "
            "or an empty sequence has nothing to compute. Drop empty batches before the "
            "model, e.g. `dataset.filter(lambda x, *rest: tf.shape(x)[0] > 0)`."
        )


def check_sequence(layer, x, name="inputs", known_width=False):
    """Raise unless ``x``, an input of ``layer``, is a non-empty [batch, time, features]
    tensor (with a static feature width when ``known_width``)."""
    if len(x.shape) != 3 or (known_width and x.shape[-1] is None):
        width = " with a known feature width" if known_width else ""
        raise ValueError(
            f"{type(layer).__name__} needs `{name}` as [batch, time, features]{width}; got shape "
            f"{tuple(x.shape)}."
        )
    check_not_empty(x, name)


def check_mask(mask, name, expected_shape, broadcast=False):
    """Check a boolean (True = keep) mask against ``expected_shape``.

    ``None`` entries in ``expected_shape`` or in the mask's shape are not checked.
    With ``broadcast=True`` a mask dimension may also be 1.
    """
    if mask is None:
        return None
    dtype = backend.standardize_dtype(mask.dtype)
    if dtype != "bool":
        raise ValueError(
            f"`{name}` must be a boolean mask (True = keep), got dtype {dtype}. Convert it "
            "with `keras.ops.cast(mask, 'bool')`; additive float masks (0 / -inf) are not "
            "accepted because 0/1 and 0/-inf floats cannot be told apart."
        )
    shape = tuple(mask.shape)
    ok = len(shape) == len(expected_shape) and all(
        got is None or want is None or got == want or (broadcast and got == 1)
        for got, want in zip(shape, expected_shape)
    )
    if not ok:
        allowed = " (or 1 to broadcast)" if broadcast else ""
        raise ValueError(
            f"`{name}` has shape {shape} but must have shape {tuple(expected_shape)}{allowed} "
            "to match the inputs (None = any size)."
        )
    return mask
