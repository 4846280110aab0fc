import csv
import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasml.data import translation
from recipes import bahdanau_translation

METRIC_KEYS = {"test_exact_match", "test_char_accuracy", "test_bleu"}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("bahdanau_translation")
    return bahdanau_translation.main(["--quick", "--output-dir", str(output_dir)]), output_dir


def read_predictions(output_dir):
    with open(output_dir / "test_predictions.tsv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [r["source"] for r in rows], [r["reference"] for r in rows], [r["prediction"] for r in rows]


def test_quick_run_report(quick_run):
    report, output_dir = quick_run
    assert report["recipe"] == "bahdanau_translation"
    assert METRIC_KEYS <= set(report["metrics"])
    assert all(math.isfinite(report["metrics"][k]) and 0 <= report["metrics"][k] <= 1 for k in METRIC_KEYS)
    assert set(report["baselines"]["dateutil_parser"]) == METRIC_KEYS
    speed = report["speed"]
    assert speed["train_tokens_per_second"] > 0 and speed["greedy_decode_seconds_per_sentence_one_at_a_time"] > 0
    assert json.loads((output_dir / "metrics.json").read_text()) == report
    for name in ("history.csv", "model.keras", "tokenizers.json", "test_predictions.tsv", "saved_model",
                 "plots/attention.png", "plots/history.png"):
        assert (output_dir / name).exists(), name


def test_metrics_recomputed_from_the_written_predictions(quick_run):
    report, output_dir = quick_run
    sources, references, predictions = read_predictions(output_dir)
    assert len(sources) == report["data"]["test"] == 32
    assert report["metrics"]["test_exact_match"] == pytest.approx(
        np.mean([r == p for r, p in zip(references, predictions)]))
    correct = sum(sum(a == b for a, b in zip(r, p)) for r, p in zip(references, predictions))
    positions = sum(max(len(r), len(p)) for r, p in zip(references, predictions))
    assert report["metrics"]["test_char_accuracy"] == pytest.approx(correct / positions)
    # The held-out dates were never training targets.
    train = translation.date_pairs({"train": 256, "val": 32, "test": 32}, seed=0)
    assert not {t for _, t in train["train"]} & set(references)
    assert [s for s, _ in train["test"]] == sources


def test_saved_model_translates_raw_strings_like_the_keras_models(quick_run):
    _, output_dir = quick_run
    sources, _, predictions = read_predictions(output_dir)
    reloaded = tf.saved_model.load(str(output_dir / "saved_model"))
    served = [t.decode() for t in reloaded.serve(tf.constant(sources)).numpy()]
    assert served == predictions
    # model.keras + tokenizers.json rebuild the same translator.
    model = keras.saving.load_model(output_dir / "model.keras")
    config = json.loads((output_dir / "tokenizers.json").read_text())
    translator = translation.Translator(
        model.get_layer("encoder"), model.get_layer("decoder"),
        translation.TextTokenizer(**config["source"]), translation.TextTokenizer(**config["target"]),
        config["max_output_tokens"])
    assert translator(sources[:8]) == predictions[:8]


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


def test_bad_input_says_what_to_change(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("one\tun\ntwo deux\n")
    with pytest.raises(ValueError, match="line 2 has no tab"):
        bahdanau_translation.main(["--quick", "--pairs-tsv", str(bad), "--output-dir", str(tmp_path / "a")])
    with pytest.raises(ValueError, match="not both"):
        bahdanau_translation.main(["--quick", "--pairs-tsv", str(bad), "--tfds", "x", "--output-dir",
                                   str(tmp_path / "b")])
    with pytest.raises(ValueError, match="--max-text-tokens must be at least 1"):
        bahdanau_translation.main(["--quick", "--max-text-tokens", "0", "--output-dir", str(tmp_path / "c")])
    with pytest.raises(SystemExit):  # argparse: not one of the choices
        bahdanau_translation.main(["--quick", "--token-level", "byte", "--output-dir", str(tmp_path / "d")])
