"""Last-value normalisation for forecasters: level-free inputs, outputs as changes.

A network that sees raw (or globally standardised) levels of a trending series
meets, at test time, levels it never saw in training and extrapolates badly.
Expressing each window relative to its own last value and predicting the
*change* from it removes the level (NLinear in Zeng et al. 2023, "Are
Transformers Effective for Time Series Forecasting?", AAAI; the same idea as
RevIN, Kim et al. 2022). Keras has no layer for it. Both layers keep the
model's inputs and outputs in the series' own units, so an exported model
serves raw windows.

Example:
    >>> import numpy as np
    >>> window = keras.Input((8, 2))
    >>> relative = LastValueNormalization(scale=[2.0, 5.0])(window)
    >>> change = keras.layers.Dense(3)(keras.layers.Flatten()(relative))
    >>> forecast = LastValueDenormalization(scale=2.0, column=0)([change, window])
    >>> model = keras.Model(window, forecast)
    >>> model(np.ones((4, 8, 2), "float32")).shape
    (4, 3)
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasml")
class LastValueNormalization(keras.layers.Layer):
    """``(x - x[:, -1]) / scale``: a window relative to its last step, per feature.

    Args:
        scale: one positive number or one per feature (e.g. training std).

    Call arguments:
        window: ``[batch, time, features]``.

    Returns:
        ``[batch, time, features]``, zero at the last step.
    """

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = [float(s) for s in (scale if hasattr(scale, "__len__") else [scale])]
        if any(s <= 0 for s in self.scale):
            raise ValueError(f"LastValueNormalization scale must be positive, got {self.scale}.")

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"Expected windows [batch, time, features]; got shape {input_shape}.")
        if len(self.scale) not in (1, input_shape[-1]):
            raise ValueError(
                f"{len(self.scale)} scales for {input_shape[-1]} features: give one "
                "scale, or one per feature."
            )

    def call(self, window):
        return (window - window[:, -1:, :]) / ops.convert_to_tensor(self.scale, dtype=window.dtype)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@keras.saving.register_keras_serializable(package="kerasml")
class LastValueDenormalization(keras.layers.Layer):
    """``window[:, -1, column] + change * scale``: predicted changes back to levels.

    Args:
        scale: the scale the change was predicted in (the target's training std).
        column: which feature of the window is the forecast target.

    Call arguments:
        inputs: ``[change, window]`` with change ``[batch, horizon]`` and window
            ``[batch, time, features]``.

    Returns:
        ``[batch, horizon]`` in the series' units.
    """

    def __init__(self, scale: float, column: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.column = float(scale), int(column)

    def call(self, inputs):
        change, window = inputs
        return window[:, -1, self.column][:, None] + change * self.scale

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "column": self.column}
