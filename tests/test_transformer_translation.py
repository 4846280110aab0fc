import math

import keras
import numpy as np
import pytest
from _translation_fixtures import TranslationRecipeTests

from recipes import transformer_translation


class TestTransformerTranslationRecipe(TranslationRecipeTests):
    recipe = transformer_translation

    def test_trained_model_ignores_padding_and_never_looks_ahead(self, quick_run):
        _, output_dir = quick_run
        model = keras.saving.load_model(output_dir / "model.keras")
        rng = np.random.default_rng(0)
        source = rng.integers(2, 20, size=(3, 9)).astype("int32")
        source[1, 6:], source[2, 3:] = 0, 0
        target = rng.integers(2, 10, size=(3, 7)).astype("int32")
        target[2, 4:] = 0
        logits = keras.ops.convert_to_numpy(model([source, target]))
        real = target != 0
        # More padding, on either side, changes no real position's logits.
        padded = keras.ops.convert_to_numpy(model([np.pad(source, ((0, 0), (0, 5))), np.pad(target, ((0, 0), (0, 3)))]))
        np.testing.assert_allclose(padded[:, :7][real], logits[real], atol=1e-4)
        # Changing target token 4 changes the logits at steps >= 4 only (the causal mask).
        changed = target.copy()
        changed[:2, 4] = 1
        after = keras.ops.convert_to_numpy(model([source, changed]))
        np.testing.assert_allclose(after[:, :4], logits[:, :4], atol=1e-5)
        assert np.abs(after[:2, 4:] - logits[:2, 4:]).max() > 1e-4


def test_learning_rate_warms_up_then_decays_to_zero():
    config = transformer_translation.Config(epochs=4, warmup_epochs=1.0, learning_rate=2e-3)
    encoder = transformer_translation.build_encoder(config, 20)
    decoder, _ = transformer_translation.build_decoder(config, 12)
    model = transformer_translation.build_training_model(config, encoder, decoder, steps_per_epoch=10)
    rates = []
    for step in (0, 5, 10, 25, 40):
        model.optimizer.iterations.assign(step)
        rates.append(float(model.optimizer.learning_rate))
    # Linear from 0 to the peak over 10 steps, then half a cosine over the remaining 30.
    expected = [0.0, 1e-3, 2e-3, 2e-3 * 0.5 * (1 + math.cos(math.pi * 15 / 30)), 0.0]
    np.testing.assert_allclose(rates, expected, atol=1e-7)


def test_width_not_divisible_by_heads_says_what_to_change(tmp_path):
    with pytest.raises(ValueError, match="divisible by --heads"):
        transformer_translation.main(["--quick", "--width", "30", "--heads", "4", "--output-dir", str(tmp_path)])
