"""Shared check for layer tests: a small model survives .keras saving and SavedModel export."""

import keras
import numpy as np
import tensorflow as tf


def assert_save_load_export(model, inputs, tmp_path, atol=1e-5):
    """model.save -> keras.saving.load_model, and model.export -> tf.saved_model.load,
    both reproduce the model's output on ``inputs``."""
    expected = keras.ops.convert_to_numpy(model(inputs))
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(inputs)), expected, atol=atol)

    model.export(str(tmp_path / "saved_model"), verbose=False)
    reloaded = tf.saved_model.load(str(tmp_path / "saved_model"))  # keep a reference:
    # TF frees the variables of an unreferenced loaded object before serve() runs.
    np.testing.assert_allclose(reloaded.serve(inputs).numpy(), expected, atol=atol)
