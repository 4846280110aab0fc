import keras
import numpy as np
import pytest
from _translation_fixtures import TranslationRecipeTests

from kerasml.data import translation
from recipes import bahdanau_translation


class TestBahdanauTranslationRecipe(TranslationRecipeTests):
    recipe = bahdanau_translation


def test_config_has_the_shared_translation_flags():
    config = bahdanau_translation.Config()
    assert isinstance(config, translation.TranslationConfig)
    assert (config.token_level, config.pairs_tsv, config.tfds) == ("character", None, None)


def decoder_inputs(config, rng, batch=3, source_steps=6, target_steps=4):
    source_ids = rng.integers(1, 9, size=(batch, source_steps)).astype("int32")
    source_ids[0, 3:] = 0  # padding
    source_ids[1, 5:] = 0
    prefix = rng.integers(1, 9, size=(batch, target_steps)).astype("int32")
    outputs = rng.normal(size=(batch, source_steps, 2 * config.units)).astype("float32")
    state = rng.normal(size=(batch, config.units)).astype("float32")
    return [prefix, outputs, state, source_ids]


def test_attention_reads_only_real_source_positions_and_the_ablation_reads_none():
    config = bahdanau_translation.Config(units=8, attention_units=8, embedding_dim=4)
    rng = np.random.default_rng(0)
    inputs = decoder_inputs(config, rng)
    prefix, outputs, state, source_ids = inputs
    noise = rng.normal(size=outputs.shape).astype("float32")
    padded_noise = np.where((source_ids == 0)[..., None], noise, 0).astype("float32")
    decoder, attention = bahdanau_translation.build_decoder(config, vocabulary_size=10)
    logits = keras.ops.convert_to_numpy(decoder(inputs))
    assert logits.shape == (3, 4, 10)
    # Encoder outputs at padded source positions change nothing; at real positions they do.
    np.testing.assert_allclose(decoder([prefix, outputs + padded_noise, state, source_ids]), logits, atol=1e-6)
    assert not np.allclose(decoder([prefix, outputs + noise, state, source_ids]), logits, atol=1e-3)
    weights = keras.ops.convert_to_numpy(attention(inputs))
    assert weights.shape == (3, 4, 6)
    np.testing.assert_allclose(weights.sum(-1), 1, atol=1e-5)
    assert np.all(weights[0, :, 3:] == 0) and np.all(weights[1, :, 5:] == 0)

    plain, no_weights = bahdanau_translation.build_decoder(config, vocabulary_size=10, attention=False)
    assert no_weights is None
    np.testing.assert_allclose(plain([prefix, outputs + noise, state, source_ids]), plain(inputs), atol=1e-6)
    assert not np.allclose(plain([prefix, outputs, -state, source_ids]), plain(inputs), atol=1e-3)


def test_bad_max_text_tokens_says_what_to_change(tmp_path):
    with pytest.raises(ValueError, match="--max-text-tokens must be at least 1"):
        bahdanau_translation.main(["--quick", "--max-text-tokens", "0", "--output-dir", str(tmp_path)])
