"""Missing-value filling inside a model, for raw numeric table columns.

A model that is exported to take raw rows has to deal with gaps itself: the
serving side sends NaN (or a marker such as -1) where a cell is empty.
``FillMissing`` replaces each missing number by a per-column fill value fitted
on the training rows (typically the median) and, for the columns that had gaps
in training, appends a 0/1 "was missing" column, since missingness is often
informative. This is scikit-learn's ``SimpleImputer(add_indicator=True)`` as a
Keras layer, written with ``keras.ops`` only, so it saves, reloads and exports
with the model.

Example:
    >>> import numpy as np
    >>> x = np.array([[1.0, np.nan], [np.nan, 4.0], [3.0, -1.0]], "float32")
    >>> fill = FillMissing([2.0, 5.0], indicators=[1], markers=[-1])
    >>> keras.ops.convert_to_numpy(fill(x)).tolist()
    [[1.0, 5.0, 1.0], [2.0, 4.0, 0.0], [3.0, 5.0, 1.0]]
"""

import keras


@keras.saving.register_keras_serializable(package="kerasml")
class FillMissing(keras.layers.Layer):
    """Missing numbers (NaN, or equal to a marker) -> per-column fill values, plus a
    0/1 "was missing" column for each column index in ``indicators``.

    Args:
        fill_values: one value per input column, put where that column is missing.
        indicators: column indices that get a "was missing" flag column appended,
            in this order (usually the columns that had gaps in training).
        markers: numbers that mean missing in every column (besides NaN), e.g. -1.
        **kwargs: ``keras.layers.Layer`` arguments.

    Call arguments:
        x: ``[batch, columns]`` floats.

    Returns:
        ``[batch, columns + len(indicators)]``: the filled columns, then the flags
        (1.0 where the column was missing, else 0.0), in ``x``'s dtype.

    Example:
        >>> import numpy as np
        >>> x = np.array([[np.nan, 2.0], [3.0, np.nan]], "float32")
        >>> keras.ops.convert_to_numpy(FillMissing([0.5, 9.0], indicators=[0])(x)).tolist()
        [[0.5, 2.0, 1.0], [3.0, 9.0, 0.0]]
    """

    def __init__(self, fill_values, indicators=(), markers=(), **kwargs):
        super().__init__(**kwargs)
        self.fill_values = [float(v) for v in fill_values]
        self.indicators = [int(i) for i in indicators]
        self.markers = [float(m) for m in markers]

    def call(self, x):
        missing = keras.ops.isnan(x)
        for marker in self.markers:
            missing = keras.ops.logical_or(missing, keras.ops.equal(x, marker))
        fill = keras.ops.convert_to_tensor(self.fill_values, dtype=x.dtype)
        filled = keras.ops.where(missing, fill[None, :], x)
        if not self.indicators:
            return filled
        flags = keras.ops.take(keras.ops.cast(missing, x.dtype), self.indicators, axis=1)
        return keras.ops.concatenate([filled, flags], axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1] + len(self.indicators))

    def get_config(self):
        return {**super().get_config(), "fill_values": self.fill_values, "indicators": self.indicators,
                "markers": self.markers}
