import csv
import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasml.data import translation
from recipes import transformer_translation

METRIC_KEYS = {"test_exact_match", "test_char_accuracy", "test_bleu"}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("transformer_translation")
    return transformer_translation.main(["--quick", "--output-dir", str(output_dir)]), output_dir


def read_predictions(output_dir):
    with open(output_dir / "test_predictions.tsv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [r["source"] for r in rows], [r["reference"] for r in rows], [r["prediction"] for r in rows]


def test_quick_run_report(quick_run):
    report, output_dir = quick_run
    assert report["recipe"] == "transformer_translation"
    assert METRIC_KEYS <= set(report["metrics"])
    assert all(math.isfinite(report["metrics"][k]) and 0 <= report["metrics"][k] <= 1 for k in METRIC_KEYS)
    assert set(report["baselines"]["dateutil_parser"]) == METRIC_KEYS
    speed = report["speed"]
    assert speed["train_tokens_per_second"] > 0
    assert speed["greedy_decode_seconds_per_sentence_one_at_a_time"] > 0
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
    # The same data as bahdanau_translation's, and no test date was a training target.
    generated = translation.date_pairs({"train": 256, "val": 32, "test": 32}, seed=0)
    assert [s for s, _ in generated["test"]] == sources
    assert not {t for _, t in generated["train"]} & set(references)


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


def test_trained_model_ignores_padding_and_never_looks_ahead(quick_run):
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


def test_bad_input_says_what_to_change(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("one\tun\ntwo deux\n")
    with pytest.raises(ValueError, match="line 2 has no tab"):
        transformer_translation.main(["--quick", "--pairs-tsv", str(bad), "--output-dir", str(tmp_path / "a")])
    with pytest.raises(ValueError, match="not both"):
        transformer_translation.main(["--quick", "--pairs-tsv", str(bad), "--tfds", "x",
                                      "--output-dir", str(tmp_path / "b")])
    with pytest.raises(ValueError, match="divisible by --heads"):
        transformer_translation.main(["--quick", "--width", "30", "--heads", "4", "--output-dir",
                                      str(tmp_path / "c")])
    with pytest.raises(SystemExit):  # argparse: not one of the choices
        transformer_translation.main(["--quick", "--token-level", "byte", "--output-dir", str(tmp_path / "d")])
