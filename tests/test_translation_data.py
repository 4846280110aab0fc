import collections
import datetime
import json
import math
import re

import keras
import numpy as np
import pytest
import tensorflow as tf
from dateutil import parser as date_parser
from keras import ops

from kerasml import plots
from kerasml.data import translation
from kerasml.data.sources import DataUnavailableError
from kerasml.recipe import start_run

THURSDAY = datetime.date(2021, 3, 4)
EXPECTED_RENDERINGS = {
    "{d} {month} {yyyy}": "4 March 2021",
    "{dd} {mon} {yyyy}": "04 Mar 2021",
    "{month} {d}, {yyyy}": "March 4, 2021",
    "{mon} {d} {yyyy}": "Mar 4 2021",
    "{mon}. {d}, {yyyy}": "Mar. 4, 2021",
    "{weekday}, {month} {d}, {yyyy}": "Thursday, March 4, 2021",
    "{wkd} {d} {mon} {yyyy}": "Thu 4 Mar 2021",
    "{weekday} {d} {month} {yyyy}": "Thursday 4 March 2021",
    "the {ord} of {month} {yyyy}": "the 4th of March 2021",
    "{month} {ord}, {yyyy}": "March 4th, 2021",
    "{ord} {mon} {yyyy}": "4th Mar 2021",
    "{d}-{mon}-{yyyy}": "4-Mar-2021",
    "{dd}.{mm}.{yyyy}": "04.03.2021",
    "{d}.{m}.{yyyy}": "4.3.2021",
    "{mm}/{dd}/{yyyy}": "03/04/2021",
    "{m}/{d}/{yyyy}": "3/4/2021",
    "{yyyy}/{mm}/{dd}": "2021/03/04",
    "{yyyy}.{mm}.{dd}": "2021.03.04",
    "{yyyy}{mm}{dd}": "20210304",
}


def test_every_date_format_renders_as_written_by_hand():
    assert set(EXPECTED_RENDERINGS) == set(translation.DATE_FORMATS)
    for template, expected in EXPECTED_RENDERINGS.items():
        assert translation.format_date(THURSDAY, template) == expected
    assert translation.format_date(THURSDAY, "{wkd} {d} {mon} {yyyy}", "upper") == "THU 4 MAR 2021"
    assert translation.format_date(THURSDAY, "{weekday}, {month} {d}, {yyyy}", "lower") == \
        "thursday, march 4, 2021"
    assert [translation.ordinal(d) for d in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 30, 31)] == \
        ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "30th", "31st"]


def test_generated_dates_parse_back_to_their_iso_target_with_dateutil():
    pairs = translation.date_pairs({"train": 600}, seed=3)["train"]
    used = collections.Counter()
    for source, target in pairs:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", target)
        # Numeric dates with dots are day first unless they start with the year.
        day_first = bool(re.fullmatch(r"\d{1,2}\.\d{1,2}\.\d{4}", source))
        parsed = date_parser.parse(source.replace("the ", "").replace(" of ", " "), dayfirst=day_first)
        assert parsed.date().isoformat() == target, source
        used[source.lower() == source, source.upper() == source] += 1
    assert len(used) >= 3  # lower, upper and title case names all occur


def test_date_splits_are_reproducible_and_share_no_target():
    sizes = {"train": 3000, "val": 500, "test": 500}
    first = translation.date_pairs(sizes, seed=7)
    assert first == translation.date_pairs(sizes, seed=7)
    assert first != translation.date_pairs(sizes, seed=8)
    targets = {split: {t for _, t in pairs} for split, pairs in first.items()}
    assert {split: len(t) for split, t in targets.items()} == sizes
    assert not (targets["train"] & targets["val"] or targets["train"] & targets["test"]
                or targets["val"] & targets["test"])
    years = [int(t[:4]) for pairs in first.values() for _, t in pairs]
    assert 1900 <= min(years) and max(years) <= 2099
    with pytest.raises(ValueError, match="widen the year range"):
        translation.date_pairs({"train": 400}, first_year=2000, last_year=2000)


def test_read_pairs_tsv_reads_anki_files_and_needs_the_file(tmp_path):
    good = tmp_path / "fra.txt"
    good.write_text("Go.\tVa !\tCC-BY 2.0 (France) Attribution: tatoeba.org #2877272\n\n"
                    "Hi.\tSalut !\tCC-BY 2.0\nÇa va ?\tHow are you?\n", encoding="utf-8")
    assert translation.read_pairs_tsv(good) == [("Go.", "Va !"), ("Hi.", "Salut !"), ("Ça va ?", "How are you?")]
    with pytest.raises(FileNotFoundError, match="--pairs-tsv"):
        translation.read_pairs_tsv(tmp_path / "missing.txt")


@pytest.mark.parametrize(("content", "message"), [
    (b"a\tb\nsource without target\n", "line 2 has no tab"),
    (b"a\tb\nc\td\ne\t \t attribution\n", "line 3 has an empty target"),
    ("a\tb\nça\tthat\n".encode("latin-1"), "line 2 is not UTF-8"),
    (b"\n\n", "holds no pairs"),
])
def test_read_pairs_tsv_names_the_bad_line(tmp_path, content, message):
    path = tmp_path / "pairs.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        translation.read_pairs_tsv(path)


def test_split_pairs_keeps_each_source_in_one_split():
    pairs = [(f"s{i}", f"t{i}") for i in range(100)] + [("s0", "other"), ("s1", "another")]
    splits = translation.split_pairs(pairs, 0.1, 0.2, seed=0)
    assert sorted(p for split in splits.values() for p in split) == sorted(pairs)
    sources = {name: {s for s, _ in split} for name, split in splits.items()}
    assert {name: len(s) for name, s in sources.items()} == {"train": 70, "val": 10, "test": 20}
    assert not (sources["train"] & sources["test"] or sources["train"] & sources["val"]
                or sources["val"] & sources["test"])
    with pytest.raises(ValueError, match="too few"):
        translation.split_pairs(pairs[:5], 0.1, 0.1)
    with pytest.raises(ValueError, match="sum to less than 1"):
        translation.split_pairs(pairs, 0.5, 0.5)


def test_tfds_translation_sets_load_offline_through_mock_data(tmp_path):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=6):
        loaded = translation.load_tfds_pairs("ted_hrlr_translate/pt_to_en", splits=("train", "test"),
                                             max_pairs=4)
    assert set(loaded) == {"train", "test"} and len(loaded["train"]) == 4
    assert all(isinstance(s, str) and isinstance(t, str) for s, t in loaded["train"] + loaded["test"])
    with pytest.raises(DataUnavailableError, match="--tfds-download"):
        translation.load_tfds_pairs("ted_hrlr_translate/pt_to_en", data_dir=str(tmp_path))


def test_pairs_tsv_and_tfds_sets_replace_the_generated_dates(tmp_path):
    pairs = translation.date_pairs({"all": 300}, seed=5)["all"]
    path = tmp_path / "pairs.txt"
    path.write_text("".join(f"{s}\t{t}\tCC-BY attribution #{i}\n" for i, (s, t) in enumerate(pairs)),
                    encoding="utf-8")
    splits, description = translation.load_translation_pairs(
        translation.TranslationConfig(pairs_tsv=str(path), train_pairs=100))
    assert str(path) in description
    assert {name: len(split) for name, split in splits.items()} == {"train": 100, "val": 30, "test": 30}
    assert set(splits["train"]) <= set(pairs)
    assert not {s for s, _ in splits["train"]} & {s for s, _ in splits["test"]}
    with pytest.raises(ValueError, match="not both"):
        translation.load_translation_pairs(translation.TranslationConfig(pairs_tsv=str(path), tfds="x"))
    with pytest.raises(ValueError, match="at least 1"):
        translation.load_translation_pairs(translation.TranslationConfig(test_pairs=0))

    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=40):
        splits, description = translation.load_translation_pairs(
            translation.TranslationConfig(tfds="ted_hrlr_translate/pt_to_en", test_pairs=10))
    assert "ted_hrlr_translate/pt_to_en" in description
    assert {name: len(split) for name, split in splits.items()} == {"train": 40, "val": 40, "test": 10}


def test_prepare_data_fits_tokenizers_on_training_pairs_and_drops_long_pairs(tmp_path):
    path = tmp_path / "pairs.txt"
    lines = [f"Sentence number {i}.\tPhrase numéro {i} !" for i in range(40)]
    lines += ["A much longer source sentence than any other one here.\tcourt"] * 2
    path.write_text("\n".join(lines), encoding="utf-8")
    config = translation.TranslationConfig(pairs_tsv=str(path), token_level="word", max_text_tokens=5)
    data = translation.prepare_data(config)
    assert sum(data.dropped.values()) == 2  # 11 words; all others have 4 (3 words and the full stop)
    assert data.target_tokenizer.level == "word" and "numéro" in data.target_tokenizer.vocabulary
    train_words = {w for _, t in data.splits["train"] for w in t.lower().split()}
    # Fitted on the training pairs only (before the long pairs were dropped, whence "court").
    assert set(data.target_tokenizer.vocabulary[2:-2]) == train_words | {"court"}
    assert data.max_output_tokens == int(4 * 1.2) + 2
    assert data.test_references() == [t.lower() for _, t in data.splits["test"]]
    assert data.test_sources() == [s for s, _ in data.splits["test"]]
    (source_ids, target_in), labels = next(iter(data.datasets(batch_size=64)["test"]))
    assert source_ids.shape[0] == target_in.shape[0] == labels.shape[0] == len(data.splits["test"])
    with pytest.raises(ValueError, match="--max-text-tokens must be at least 1"):
        translation.prepare_data(translation.TranslationConfig(max_text_tokens=0))
    with pytest.raises(ValueError, match="raise it"):
        translation.prepare_data(translation.TranslationConfig(pairs_tsv=str(path), max_text_tokens=1))


def test_character_tokenizer_round_trips_and_reserves_start_and_end():
    texts = ["São Paulo", "2021-03-04", "naïve café"]
    tokenizer = translation.TextTokenizer.adapt(texts)
    vocabulary = tokenizer.vocabulary
    assert vocabulary[:2] == ["", "[UNK]"] and vocabulary[-2:] == ["[start]", "[end]"]
    assert (tokenizer.start_id, tokenizer.end_id) == (len(vocabulary) - 2, len(vocabulary) - 1)
    assert set(vocabulary[2:-2]) == set("".join(texts))  # one id per Unicode character
    ids = tokenizer.encode(texts, add_start=True, add_end=True)
    assert ids.dtype == tf.int32
    for row, text in zip(ids.to_list(), texts):
        assert row[0] == tokenizer.start_id and row[-1] == tokenizer.end_id
        assert [vocabulary[i] for i in row[1:-1]] == list(text)
    assert [t.decode() for t in tokenizer.decode(ids.to_tensor()).numpy()] == texts
    # Text cannot produce the reserved tokens; unseen characters become [UNK] (id 1).
    assert tokenizer.encode(["[start]"]).to_list()[0].count(tokenizer.start_id) == 0
    assert tokenizer.encode(["S€"]).to_list() == [[vocabulary.index("S"), 1]]
    # Decoding stops at the first end token and skips padding and start.
    end, start, s = tokenizer.end_id, tokenizer.start_id, vocabulary.index("S")
    assert tokenizer.decode([[start, s, end, s], [s, 0, 0, 0]]).numpy().tolist() == [b"S", b"S"]
    rebuilt = translation.TextTokenizer(**tokenizer.get_config())
    assert rebuilt.vocabulary == vocabulary


def test_word_tokenizer_splits_punctuation_and_decodes_the_standardized_text():
    texts = ["Hello, world!", "Go home.", "go, go, go"]
    tokenizer = translation.TextTokenizer.adapt(texts, level="word", lowercase=True)
    text = ["Go, go!  Home."]
    assert tokenizer.standardize(text).numpy().tolist() == [b"go , go ! home ."]
    assert tokenizer.standardize(["Ça va? Numéro 3, l'été."]).numpy()[0].decode() == "ça va ? numéro 3 , l'été ."
    ids = tokenizer.encode(text).to_tensor()
    assert tokenizer.decode(ids).numpy().tolist() == [b"go , go ! home ."]
    assert tokenizer.vocabulary[2:4] == ["go", ","]  # the most frequent first
    small = translation.TextTokenizer.adapt(texts, level="word", lowercase=True, max_tokens=2)
    assert small.vocabulary == ["", "[UNK]", "go", ",", "[start]", "[end]"]
    assert small.decode(small.encode(text).to_tensor()).numpy().tolist() == [b"go , go [UNK] [UNK] [UNK]"]
    with pytest.raises(ValueError, match="'character' or 'word'"):
        translation.TextTokenizer([], level="byte")


def test_teacher_forcing_batches_shift_the_target_by_one():
    pairs = [("ab", "xy"), ("b", "yyx"), ("aab", "x")]
    source = translation.TextTokenizer.adapt([s for s, _ in pairs])
    target = translation.TextTokenizer.adapt([t for _, t in pairs])
    (source_ids, target_in), labels = next(iter(translation.teacher_forcing_dataset(pairs, source, target, 8)))
    x, y = target.vocabulary.index("x"), target.vocabulary.index("y")
    a, b = source.vocabulary.index("a"), source.vocabulary.index("b")
    start, end = target.start_id, target.end_id
    np.testing.assert_array_equal(source_ids, [[a, b, 0], [b, 0, 0], [a, a, b]])
    np.testing.assert_array_equal(target_in, [[start, x, y, 0], [start, y, y, x], [start, x, 0, 0]])
    np.testing.assert_array_equal(labels, [[x, y, end, 0], [y, y, x, end], [x, end, 0, 0]])
    assert source_ids.dtype == target_in.dtype == labels.dtype == tf.int32
    assert translation.target_token_count(pairs, target) == 3 + 4 + 2


class CopySource(keras.layers.Layer):
    """A decoder whose step t predicts source token t (then the end token), for greedy tests."""

    def __init__(self, vocabulary, end_id, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary, self.end_id = vocabulary, end_id

    def call(self, prefix, source):
        steps = ops.shape(prefix)[1]
        padded = ops.pad(source, [[0, 0], [0, steps]], constant_values=self.end_id)
        return 10.0 * ops.one_hot(padded[:, :steps], self.vocabulary)


def copy_models(vocabulary=6, end_id=5):
    source = keras.Input((None,), dtype="int32")
    encoder = keras.Model(source, [source])
    prefix, memory = keras.Input((None,), dtype="int32"), keras.Input((None,), dtype="int32")
    decoder = keras.Model([prefix, memory], CopySource(vocabulary, end_id)(prefix, memory))
    return encoder, decoder


def test_greedy_decode_stops_at_the_end_token_and_pads_after_it():
    encoder, decoder = copy_models()
    source = np.array([[1, 2, 5, 3], [2, 2, 2, 2]], "int32")
    ids = translation.greedy_decode(encoder, decoder, source, start_id=4, end_id=5, max_length=8)
    np.testing.assert_array_equal(ids, [[1, 2, 5, 0, 0], [2, 2, 2, 2, 5]])
    short = translation.greedy_decode(encoder, decoder, source, start_id=4, end_id=5, max_length=3)
    np.testing.assert_array_equal(short, [[1, 2, 5], [2, 2, 2]])
    graph = tf.function(lambda s: translation.greedy_decode(encoder, decoder, s, 4, 5, 8))
    np.testing.assert_array_equal(graph(tf.constant(source)), ids)


def tiny_translator(pairs, units=8):
    """An untrained GRU encoder-decoder (its output is arbitrary but deterministic)."""
    source_tokenizer = translation.TextTokenizer.adapt([s for s, _ in pairs], lowercase=True)
    target_tokenizer = translation.TextTokenizer.adapt([t for _, t in pairs])
    keras.utils.set_random_seed(0)
    source = keras.Input((None,), dtype="int32")
    state = keras.layers.GRU(units)(keras.layers.Embedding(source_tokenizer.vocabulary_size, 8,
                                                           mask_zero=True)(source))
    encoder = keras.Model(source, [state, source])
    prefix, state_in = keras.Input((None,), dtype="int32"), keras.Input((units,))
    source_in = keras.Input((None,), dtype="int32")
    hidden = keras.layers.GRU(units, return_sequences=True)(
        keras.layers.Embedding(target_tokenizer.vocabulary_size, 8)(prefix), initial_state=state_in)
    decoder = keras.Model([prefix, state_in, source_in],
                          keras.layers.Dense(target_tokenizer.vocabulary_size)(hidden))
    return translation.Translator(encoder, decoder, source_tokenizer, target_tokenizer, max_length=12)


def test_exported_translator_takes_raw_strings_and_matches_python_side(tmp_path):
    pairs = translation.date_pairs({"train": 200, "test": 6}, seed=0)
    translator = tiny_translator(pairs["train"])
    texts = [s for s, _ in pairs["test"]] + ["", "ÜNSEEN ₤ characters"]
    translation.export_translator(tmp_path / "saved_model", translator, texts)
    # What the export must compute, step by step from Python: tokenise, greedy-decode, detokenise.
    source_ids = translator.source_tokenizer.encode(texts).to_tensor()
    ids = translation.greedy_decode(translator.encoder, translator.decoder, source_ids,
                                    translator.target_tokenizer.start_id, translator.target_tokenizer.end_id, 12)
    expected = [t.decode() for t in translator.target_tokenizer.decode(ids).numpy()]
    assert translator(texts) == expected
    reloaded = tf.saved_model.load(str(tmp_path / "saved_model"))
    served = reloaded.signatures["serving_default"](texts=tf.constant(texts))
    assert [t.decode() for t in next(iter(served.values())).numpy()] == expected
    assert [t.decode() for t in reloaded.serve(tf.constant(texts[:1])).numpy()] == expected[:1]
    latency = translation.decode_latency(translator, texts[:3], warmup=1)
    assert set(latency) == {"one_at_a_time", "batched"} and all(v > 0 for v in latency.values())


def reference_bleu(references, candidates, max_order=4):
    """Papineni et al. 2002, eqs. 1-2: clipped n-gram precisions, geometric mean, corpus brevity penalty."""
    matches, totals = np.zeros(max_order), np.zeros(max_order)
    for reference, candidate in zip(references, candidates):
        ref, cand = reference.split(), candidate.split()
        for n in range(1, max_order + 1):
            ref_counts = collections.Counter(tuple(ref[i:i + n]) for i in range(len(ref) - n + 1))
            cand_counts = collections.Counter(tuple(cand[i:i + n]) for i in range(len(cand) - n + 1))
            matches[n - 1] += sum(min(c, ref_counts[g]) for g, c in cand_counts.items())
            totals[n - 1] += max(len(cand) - n + 1, 0)
    if np.any(matches == 0):
        return 0.0
    c = sum(len(x.split()) for x in candidates)
    r = sum(len(x.split()) for x in references)
    penalty = 1.0 if c > r else math.exp(1 - r / c)
    return penalty * math.exp(np.mean(np.log(matches / totals)))


def test_bleu_matches_the_formula_of_the_bleu_paper():
    assert translation.corpus_bleu(["the cat sat on the mat"], ["the cat sat on a mat"]) == pytest.approx(
        (5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25, rel=1e-5)
    references = ["the quick brown fox jumps over the lazy dog", "a b c d e f", "one two three four five"]
    candidates = ["the fast brown fox jumps over the dog", "a b c d e f g", "one two three four"]
    assert translation.corpus_bleu(references, candidates) == pytest.approx(
        reference_bleu(references, candidates), rel=1e-5)
    # 13a tokenisation splits the hyphens of ISO dates off the digits.
    assert translation.corpus_bleu(["2021-03-04"], ["2021-03-05"]) == pytest.approx(
        reference_bleu(["2021 - 03 - 04"], ["2021 - 03 - 05"]), rel=1e-5)
    assert translation.corpus_bleu(["2021-03-04"], ["2021-03-04"]) == pytest.approx(1.0)


def test_exact_match_and_character_accuracy_by_hand():
    references = ["2021-03-04", "1999-12-31", "abc"]
    predictions = ["2021-03-04", "1999-12-30", "abcd"]
    assert translation.exact_match(references, predictions) == pytest.approx(1 / 3)
    assert translation.character_accuracy(references, predictions) == pytest.approx((10 + 9 + 3) / (10 + 10 + 4))
    assert translation.character_accuracy(["abc"], [""]) == 0.0
    metrics = translation.translation_metrics(references, predictions)
    assert set(metrics) == {"test_exact_match", "test_char_accuracy", "test_bleu"}
    with pytest.raises(ValueError, match="2 references but 1 predictions"):
        translation.exact_match(["a", "b"], ["a"])


def test_plot_attention_writes_a_png(tmp_path):
    weights = np.random.default_rng(0).dirichlet(np.ones(5), size=4)
    path = plots.plot_attention(tmp_path / "attention.png",
                                [(weights, list("3 Mar"), list("2021")), (weights, list("abcde"), list("wxyz"))],
                                title="demo")
    assert path.exists() and path.stat().st_size > 1000


def test_dateutil_baseline_reads_dates_month_first_and_gives_up_with_an_empty_string():
    assert translation.dateutil_baseline(["the 4th of March 2021", "04.03.2021", "no date here"]) == \
        ["2021-03-04", "2021-04-03", ""]
    # Every generated date that is not written day first with dots parses back to its target.
    pairs = translation.date_pairs({"test": 300}, seed=1)["test"]
    not_day_first = [(s, t) for s, t in pairs if not re.fullmatch(r"\d{1,2}\.\d{1,2}\.\d{4}", s)]
    assert translation.dateutil_baseline([s for s, _ in not_day_first]) == [t for _, t in not_day_first]


def copy_translation_setup(tmp_path, argv=()):
    """A run, data whose test pairs the copying decoder gets half right, and its translator."""
    run = start_run("copy", translation.TranslationConfig, ["--output-dir", str(tmp_path), *argv])
    tokenizer = translation.TextTokenizer.adapt(["abc"])  # ids: a 2, b 3, c 4, start 5, end 6
    splits = {"train": [("abc", "abc"), ("ab", "ab")], "test": [("abc", "abc"), ("ba", "ab")]}
    data = translation.TranslationData(splits, tokenizer, tokenizer, "copies", {"train": 0, "test": 0})
    encoder, decoder = copy_models(vocabulary=7, end_id=6)
    return run, data, data.translator(encoder, decoder)


def test_evaluate_on_test_scores_the_test_translations_and_times_them(tmp_path):
    run, data, translator = copy_translation_setup(tmp_path)
    assert translator.max_length == int(3 * 1.2) + 2
    run.timing["train_seconds"] = 2.0
    result = translation.evaluate_on_test(run, translator, data, bar=0.5, epochs_trained=3)
    assert result.predictions == ["abc", "ba"]  # the decoder copies its source
    assert result.metrics["test_exact_match"] == 0.5 and result.metrics["meets_bar"] is True
    assert result.metrics["test_char_accuracy"] == pytest.approx((3 + 0) / (3 + 2))
    assert not translation.evaluate_on_test(run, translator, data, bar=0.51, epochs_trained=3).metrics["meets_bar"]
    tokens = (3 + 1) + (2 + 1)  # training targets and their end tokens
    assert result.speed["train_tokens_per_second"] == pytest.approx(tokens * 3 / 2.0)
    assert result.speed["train_epochs"] == 3 and result.speed["greedy_decode_seconds_per_sentence_batched"] > 0
    assert run.timing["test_decode_seconds"] > 0
    assert translation.evaluate_on_test(run, translator, data, 0.5, epochs_trained=0).speed[
        "train_tokens_per_second"] is None
    assert "copies: 2 train, 2 test; vocabularies 7 / 7" == data.summary()


def test_rule_based_baselines_run_dateutil_on_generated_dates_only(tmp_path):
    run = start_run("dates", translation.TranslationConfig,
                    ["--output-dir", str(tmp_path), "--train-pairs", "50", "--val-pairs", "5", "--test-pairs", "40"])
    data = translation.prepare_data(run.config)
    baselines = translation.rule_based_baselines(run, run.config, data)
    parsed = []
    for source in data.test_sources():
        try:
            parsed.append(date_parser.parse(source, fuzzy=True).date().isoformat())
        except ValueError:
            parsed.append("")
    references = [t for _, t in data.splits["test"]]
    assert baselines["dateutil_parser"]["test_exact_match"] == pytest.approx(
        np.mean([p == r for p, r in zip(parsed, references)]))
    assert run.timing["dateutil_seconds"] > 0
    assert translation.rule_based_baselines(run, translation.TranslationConfig(pairs_tsv="x.tsv"), data) == {}
    assert translation.rule_based_baselines(run, translation.TranslationConfig(tfds="x"), data) == {}


def test_attention_examples_pair_the_weights_with_source_and_output_tokens(tmp_path):
    _, _, translator = copy_translation_setup(tmp_path)
    prefix, memory = keras.Input((None,), dtype="int32"), keras.Input((None,), dtype="int32")
    # Output step t reads source position t (and nothing past the source's end).
    reads_step = keras.layers.Lambda(lambda inputs: ops.one_hot(
        ops.broadcast_to(ops.arange(ops.shape(inputs[0])[1])[None], ops.shape(inputs[0])), ops.shape(inputs[1])[1]))
    diagonal = keras.Model([prefix, memory], reads_step([prefix, memory]))
    examples = translation.attention_examples(translator, diagonal, ["abc", "ba"])
    # The copying decoder outputs "abc" + [end] and "ba" + [end]: prefix lengths 1 + 4 steps.
    assert [(s, o) for _, s, o in examples] == [(list("abc"), list("abc") + ["[end]"]),
                                                 (list("ba"), list("ba") + ["[end]"])]
    np.testing.assert_array_equal(examples[0][0], np.eye(5, 3))
    # Weights with a heads axis [B, heads, T, S] are averaged over the heads.
    uniform = keras.layers.Lambda(lambda w: ops.stack([w, ops.ones_like(w) / 3.0], axis=1))
    two_heads = keras.Model([prefix, memory], uniform(reads_step([prefix, memory])))
    averaged = translation.attention_examples(translator, two_heads, ["abc"])[0][0]
    np.testing.assert_allclose(averaged, (np.eye(5, 3) + 1 / 3) / 2, atol=1e-6)


def test_export_and_report_write_predictions_tokenizers_saved_model_and_metrics(tmp_path):
    run, data, translator = copy_translation_setup(tmp_path)
    source, target_in = keras.Input((None,), dtype="int32"), keras.Input((None,), dtype="int32")
    model = keras.Model([source, target_in], translator.decoder([target_in, *translator.encoder(source)]))
    run.timing["train_seconds"] = 1.0
    test = translation.evaluate_on_test(run, translator, data, bar=0.9, epochs_trained=1)
    report = translation.export_and_report(run, model, translator, data, test, {"copy": {"test_bleu": 0.0}})
    rows = (tmp_path / "test_predictions.tsv").read_text(encoding="utf-8").splitlines()
    assert rows == ["source\treference\tprediction", "abc\tabc\tabc", "ba\tab\tba"]
    saved = json.loads((tmp_path / "tokenizers.json").read_text())
    assert saved["target"]["vocabulary"] == translator.target_tokenizer.vocabulary
    assert saved["max_output_tokens"] == translator.max_length
    reloaded = tf.saved_model.load(str(tmp_path / "saved_model"))
    assert [t.decode() for t in reloaded.serve(tf.constant(["cab"])).numpy()] == ["cab"]
    assert (tmp_path / "model.keras").exists()
    assert json.loads((tmp_path / "metrics.json").read_text()) == report
    assert report["metrics"]["meets_bar"] is False and report["baselines"] == {"copy": {"test_bleu": 0.0}}
    assert report["data"] == {"train": 2, "test": 2} and report["speed"]["train_epochs"] == 1
    quiet_dir = tmp_path / "no_export"
    run, data, translator = copy_translation_setup(quiet_dir, ["--no-export"])
    run.timing["train_seconds"] = 1.0
    translation.export_and_report(run, model, translator, data,
                                  translation.evaluate_on_test(run, translator, data, 0.9, 1), {})
    assert (quiet_dir / "test_predictions.tsv").exists() and (quiet_dir / "metrics.json").exists()
    assert not (quiet_dir / "saved_model").exists() and not (quiet_dir / "model.keras").exists()
