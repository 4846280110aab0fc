"""The tests every translation recipe passes (bahdanau_translation, transformer_translation).

A recipe's test module subclasses ``TranslationRecipeTests`` as a ``Test...``
class with ``recipe = <the recipe module>``: the class runs the recipe's
``--quick`` configuration once (the ``quick_run`` fixture) and checks the
report, the written predictions and the SavedModel against independent
recomputations. What is particular to a recipe (its model's masks, its
schedule, its own flags) stays in its own test module.
"""

import csv
import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasml.data import translation

METRIC_KEYS = {"test_exact_match", "test_char_accuracy", "test_bleu"}


def read_predictions(output_dir):
    """Sources, references and predictions from ``test_predictions.tsv``."""
    with open(output_dir / "test_predictions.tsv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [r["source"] for r in rows], [r["reference"] for r in rows], [r["prediction"] for r in rows]


class TranslationRecipeTests:
    """Shared smoke and export tests; subclasses set ``recipe``."""

    recipe = None

    @pytest.fixture(scope="class")
    def quick_run(self, tmp_path_factory):
        """``recipe.main(["--quick", ...])`` in a fresh directory: (report, output_dir)."""
        output_dir = tmp_path_factory.mktemp(self.recipe.__name__.rsplit(".", 1)[-1])
        return self.recipe.main(["--quick", "--output-dir", str(output_dir)]), output_dir

    def test_quick_run_report(self, quick_run):
        """Report keys, finite metrics in [0, 1], the dateutil baseline, speed, and every artifact."""
        report, output_dir = quick_run
        assert report["recipe"] == self.recipe.__name__.rsplit(".", 1)[-1]
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

    def test_metrics_recomputed_from_the_written_predictions(self, quick_run):
        """Exact match and character accuracy by hand from ``test_predictions.tsv``; the test
        pairs are the generated dates of seed 0, none of them a training target."""
        report, output_dir = quick_run
        sources, references, predictions = read_predictions(output_dir)
        assert len(sources) == report["data"]["test"] == 32
        assert report["metrics"]["test_exact_match"] == pytest.approx(
            np.mean([r == p for r, p in zip(references, predictions)]))
        correct = sum(sum(a == b for a, b in zip(r, p)) for r, p in zip(references, predictions))
        positions = sum(max(len(r), len(p)) for r, p in zip(references, predictions))
        assert report["metrics"]["test_char_accuracy"] == pytest.approx(correct / positions)
        generated = translation.date_pairs({"train": 256, "val": 32, "test": 32}, seed=0)
        assert [s for s, _ in generated["test"]] == sources
        assert not {t for _, t in generated["train"]} & set(references)

    def test_saved_model_translates_raw_strings_like_the_keras_models(self, quick_run):
        """A fresh ``tf.saved_model.load`` serves the written predictions from raw strings, and
        ``model.keras`` + ``tokenizers.json`` rebuild the same translator."""
        _, output_dir = quick_run
        sources, _, predictions = read_predictions(output_dir)
        reloaded = tf.saved_model.load(str(output_dir / "saved_model"))
        served = [t.decode() for t in reloaded.serve(tf.constant(sources)).numpy()]
        assert served == predictions
        model = keras.saving.load_model(output_dir / "model.keras")
        config = json.loads((output_dir / "tokenizers.json").read_text())
        translator = translation.Translator(
            model.get_layer("encoder"), model.get_layer("decoder"),
            translation.TextTokenizer(**config["source"]), translation.TextTokenizer(**config["target"]),
            config["max_output_tokens"])
        assert translator(sources[:8]) == predictions[:8]

    def test_bad_data_flags_say_what_to_change(self, tmp_path):
        """A --pairs-tsv line without a tab, --pairs-tsv with --tfds, an unknown --token-level."""
        bad = tmp_path / "bad.tsv"
        bad.write_text("one\tun\ntwo deux\n")
        with pytest.raises(ValueError, match="line 2 has no tab"):
            self.recipe.main(["--quick", "--pairs-tsv", str(bad), "--output-dir", str(tmp_path / "no_tab")])
        with pytest.raises(ValueError, match="not both"):
            self.recipe.main(["--quick", "--pairs-tsv", str(bad), "--tfds", "x", "--output-dir",
                              str(tmp_path / "both")])
        with pytest.raises(SystemExit):  # argparse: not one of the choices
            self.recipe.main(["--quick", "--token-level", "byte", "--output-dir", str(tmp_path / "level")])
