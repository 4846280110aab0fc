import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasml.layers.forecast import LastValueDenormalization, LastValueNormalization


def small_forecaster():
    window = keras.Input((6, 2))
    relative = LastValueNormalization(scale=[2.0, 4.0])(window)
    change = keras.layers.Dense(3)(keras.layers.Flatten()(relative))
    return keras.Model(window, LastValueDenormalization(scale=2.0, column=1)([change, window]))


def test_against_numpy_formula():
    x = np.random.default_rng(0).standard_normal((4, 6, 2)).astype("float32")
    expected = (x - x[:, -1:, :]) / np.array([2.0, 4.0], "float32")
    np.testing.assert_allclose(LastValueNormalization([2.0, 4.0])(x), expected, rtol=1e-6)
    change = np.random.default_rng(1).standard_normal((4, 3)).astype("float32")
    np.testing.assert_allclose(LastValueDenormalization(3.0, column=1)([change, x]),
                               x[:, -1, 1:2] + 3.0 * change, rtol=1e-6)


def test_level_shift_shifts_forecast_by_the_same_amount():
    model = small_forecaster()
    x = np.random.default_rng(2).standard_normal((5, 6, 2)).astype("float32")
    shifted = x + np.array([100.0, 7.0], "float32")
    np.testing.assert_allclose(model(shifted), model(x) + 7.0, rtol=1e-5, atol=1e-4)


def test_save_load_and_saved_model(tmp_path):
    model = small_forecaster()
    x = np.random.default_rng(3).standard_normal((5, 6, 2)).astype("float32")
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(reloaded(x), model(x), rtol=1e-6)
    model.export(str(tmp_path / "sm"), verbose=False)
    served = tf.saved_model.load(str(tmp_path / "sm"))  # keep a reference: it owns the variables
    np.testing.assert_allclose(served.serve(x), model(x), rtol=1e-5)


def test_bad_input():
    with pytest.raises(ValueError, match="positive"):
        LastValueNormalization(scale=0.0)
    with pytest.raises(ValueError, match="one per feature"):
        LastValueNormalization(scale=[1.0, 2.0, 3.0])(np.zeros((1, 4, 2), "float32"))
    with pytest.raises(ValueError, match=r"\[batch, time, features\]"):
        LastValueNormalization(scale=1.0)(np.zeros((4, 2), "float32"))
