"""Sequence-to-sequence translation: data, tokenisers, greedy decoding, export, metrics.

The contract every translation recipe follows (``bahdanau_translation``,
``transformer_translation``):

* A model is two Keras models. ``encoder(source_ids)`` takes int32
  ``[batch, source_time]`` ids (0 = padding) and returns a list of memory
  tensors ``M`` that ends with ``source_ids`` itself, so the decoder can
  rebuild the padding mask (Bahdanau GRU: ``[outputs, final_state,
  source_ids]``; Transformer: ``[outputs, source_ids]``).
  ``decoder([target_prefix_ids, *M])`` takes int32 ``[batch, target_time]``
  and returns logits ``[batch, target_time, vocabulary]``. The training model
  is ``decoder([target_in, *encoder(source_ids)])``.
* Teacher forcing (``teacher_forcing_dataset``): ``target_in = [start] +
  target`` and ``labels = target + [end]``, both padded with 0; train with
  ``keras.losses.SparseCategoricalCrossentropy(from_logits=True,
  ignore_class=0)`` so padding costs nothing.

What is here:

Data
    ``date_pairs(sizes, seed)``: dates written in many human formats
    (``DATE_FORMATS``: orderings, month names and abbreviations in three
    letter cases, weekdays, ordinals, separators) -> ISO ``YYYY-MM-DD``. Each
    split gets its own dates, so no target appears in two splits.
    ``read_pairs_tsv(path)``: Anki / tab-separated ``source<TAB>target[<TAB>...]``
    files, errors name the line. ``split_pairs(pairs, val, test, seed)``: a
    held-out split that keeps every translation of a source sentence together.
    ``load_tfds_pairs(name, ...)``: a TFDS translation set (``as_supervised``
    (source, target) strings) through ``kerasml.data.sources.load_tfds``,
    offline unless ``download=True``.
Tokenisers
    ``TextTokenizer.adapt(texts, level="character" | "word")``: text <-> int
    ids built on ``keras.layers.TextVectorization``: id 0 = padding, 1 =
    ``[UNK]``, and ``start_id``/``end_id`` (``[start]``, ``[end]``), which no
    text can produce. Graph-safe, so it runs inside ``tf.data`` and exports.
Training and decoding
    ``teacher_forcing_dataset(pairs, source_tokenizer, target_tokenizer, ...)``
    yields ``((source_ids, target_in), labels)``. ``greedy_decode(encoder,
    decoder, source_ids, start_id, end_id, max_length)`` re-runs the decoder
    on the growing prefix (cheap for short targets) and stops at ``end_id``
    or ``max_length``. ``Translator(encoder, decoder, ...)(texts)`` is strings
    in, strings out.
    ``encoder_memory(encoder, source_ids)`` is the memory list without Keras
    masks (feed it to the decoder or to an attention-weights model).
Export
    ``Translator`` is a ``tf.Module`` whose ``serve`` takes raw strings
    ``[None] tf.string`` and returns decoded strings, tokenising and decoding
    inside the graph; ``export_translator`` saves it and proves that a fresh
    ``tf.saved_model.load`` gives the Python-side ``Translator`` output.
Recipe data
    ``TranslationConfig``: the data and token flags of the translation
    recipes (extend it with model fields). ``prepare_data(config)`` loads the
    pairs (dates, ``--pairs-tsv`` or ``--tfds``), builds the tokenisers from
    the training pairs and drops over-long pairs: a ``TranslationData``
    (``.summary()`` for the log, ``.translator(encoder, decoder)``).
Metrics and timing
    ``exact_match``, ``character_accuracy``, ``corpus_bleu`` (keras-hub's
    ``Bleu``, SacreBLEU's 13a tokenisation), ``target_token_count`` (for
    training tokens/s) and ``decode_latency`` (greedy decoding, seconds per
    sentence). ``kerasml.plots.plot_attention`` draws attention heat maps.
What the recipes share after training
    ``dateutil_baseline`` (and ``rule_based_baselines``: its metrics on the
    generated dates), ``evaluate_on_test`` (test translations, metrics with
    ``meets_bar``, speed: an ``Evaluation``), ``attention_examples`` (heat-map
    input from an attention-weights model) and ``export_and_report``
    (``test_predictions.tsv``, ``model.keras``, ``tokenizers.json``,
    ``saved_model/``, ``metrics.json``).

Example:
    >>> pairs = date_pairs({"train": 3}, seed=0)["train"]
    >>> len(pairs), len(pairs[0][1])
    (3, 10)
    >>> tokenizer = TextTokenizer.adapt(["2021-03-04"])
    >>> ids = tokenizer.encode(["2021-03-04"], add_start=True, add_end=True)
    >>> tokenizer.decode(ids.to_tensor()).numpy().tolist()
    [b'2021-03-04']
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import datetime
import json
import pathlib
import time
from typing import Literal

import numpy as np
import tensorflow as tf

import keras  # isort: skip

from kerasml.recipe import RecipeConfig, field, verify_saved_model  # noqa: E402

START, END = "[start]", "[end]"
PAD_ID, UNK_ID = 0, 1

# ---------------------------------------------------------------------------
# Data: generated dates
# ---------------------------------------------------------------------------
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# Numeric orders are unambiguous by their separators: "." is day first, "/"
# month first (US), and a leading four-digit year is year first.
DATE_FORMATS = (
    "{d} {month} {yyyy}",
    "{dd} {mon} {yyyy}",
    "{month} {d}, {yyyy}",
    "{mon} {d} {yyyy}",
    "{mon}. {d}, {yyyy}",
    "{weekday}, {month} {d}, {yyyy}",
    "{wkd} {d} {mon} {yyyy}",
    "{weekday} {d} {month} {yyyy}",
    "the {ord} of {month} {yyyy}",
    "{month} {ord}, {yyyy}",
    "{ord} {mon} {yyyy}",
    "{d}-{mon}-{yyyy}",
    "{dd}.{mm}.{yyyy}",
    "{d}.{m}.{yyyy}",
    "{mm}/{dd}/{yyyy}",
    "{m}/{d}/{yyyy}",
    "{yyyy}/{mm}/{dd}",
    "{yyyy}.{mm}.{dd}",
    "{yyyy}{mm}{dd}",
)


def ordinal(day: int) -> str:
    """1 -> '1st', 2 -> '2nd', 3 -> '3rd', 11 -> '11th', 22 -> '22nd'."""
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def format_date(date: datetime.date, template: str, case: str = "title") -> str:
    """``date`` written with one of ``DATE_FORMATS``; ``case`` ("title", "lower",
    "upper") applies to month and weekday names.

    Example:
        >>> format_date(datetime.date(2021, 3, 4), "the {ord} of {month} {yyyy}", "upper")
        'the 4th of MARCH 2021'
    """
    change = {"title": str, "lower": str.lower, "upper": str.upper}[case]
    month, weekday = MONTHS[date.month - 1], WEEKDAYS[date.weekday()]
    return template.format(
        d=date.day, dd=f"{date.day:02d}", m=date.month, mm=f"{date.month:02d}", yyyy=f"{date.year:04d}",
        month=change(month), mon=change(month[:3]), weekday=change(weekday), wkd=change(weekday[:3]),
        ord=ordinal(date.day))


def date_pairs(sizes: dict[str, int], seed: int = 0, first_year: int = 1900, last_year: int = 2099,
               formats: tuple[str, ...] = DATE_FORMATS) -> dict[str, list[tuple[str, str]]]:
    """(human-written date, ISO date) pairs per split, ``{split: count}`` -> ``{split: pairs}``.

    Every pair has its own date (drawn without replacement from
    ``first_year``-01-01 .. ``last_year``-12-31), so splits share no target; the
    format and the letter case of names are drawn uniformly. Same seed, same pairs.
    """
    first, last = datetime.date(first_year, 1, 1), datetime.date(last_year, 12, 31)
    days = (last - first).days + 1
    total = sum(sizes.values())
    if total > days:
        raise ValueError(f"Asked for {total} date pairs but {first_year}-{last_year} has only {days} "
                         "days; widen the year range or ask for fewer pairs.")
    rng = np.random.default_rng(seed)
    offsets = rng.choice(days, size=total, replace=False)
    template_ids = rng.integers(len(formats), size=total)
    cases = rng.choice(["title", "lower", "upper"], size=total)
    out, start = {}, 0
    for split, count in sizes.items():
        rows = range(start, start + count)
        dates = [first + datetime.timedelta(days=int(offsets[i])) for i in rows]
        out[split] = [(format_date(date, formats[template_ids[i]], cases[i]), date.isoformat())
                      for i, date in zip(rows, dates)]
        start += count
    return out


# ---------------------------------------------------------------------------
# Data: files and TFDS
# ---------------------------------------------------------------------------
def read_pairs_tsv(path) -> list[tuple[str, str]]:
    """(source, target) pairs from a tab-separated file: ``source<TAB>target[<TAB>anything]``.

    The format of Anki's sentence pairs (manythings.org/anki, e.g. ``fra.txt``):
    columns after the second (attribution) are ignored, blank lines skipped.
    A line without a tab, or with an empty source or target, is a ValueError
    that names the line.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Pairs file {path} does not exist; check the --pairs-tsv path.")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        line = path.read_bytes()[:error.start].count(b"\n") + 1
        raise ValueError(f"{path}: line {line} is not UTF-8 text; save the file as UTF-8.") from None
    pairs = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        columns = line.split("\t")
        if len(columns) < 2:
            raise ValueError(f"{path}: line {number} has no tab: {line[:60]!r}. Each line needs "
                             "source<TAB>target (more tab-separated columns are ignored).")
        source, target = columns[0].strip(), columns[1].strip()
        if not source or not target:
            side = "source" if not source else "target"
            raise ValueError(f"{path}: line {number} has an empty {side} text: {line[:60]!r}.")
        pairs.append((source, target))
    if not pairs:
        raise ValueError(f"{path} holds no pairs: it needs lines of source<TAB>target.")
    return pairs


def split_pairs(pairs, val_fraction: float, test_fraction: float, seed: int = 0) -> dict[str, list]:
    """``{"train", "val", "test"}`` pairs; all translations of one source text land in one split.

    Anki files list some sources several times with different translations;
    splitting by source keeps a test sentence out of training.
    """
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError("val and test fractions must be in (0, 1) and sum to less than 1, got "
                         f"{val_fraction} and {test_fraction}.")
    by_source = collections.defaultdict(list)
    for pair in pairs:
        by_source[pair[0]].append(pair)
    sources = sorted(by_source)
    np.random.default_rng(seed).shuffle(sources)
    n_test, n_val = round(test_fraction * len(sources)), round(val_fraction * len(sources))
    if n_test == 0 or n_val == 0 or n_test + n_val >= len(sources):
        raise ValueError(f"{len(sources)} distinct source texts are too few to split into train, "
                         f"val ({val_fraction}) and test ({test_fraction}); give more pairs.")
    groups = {"train": sources[n_test + n_val:], "val": sources[n_test:n_test + n_val],
              "test": sources[:n_test]}
    return {split: [pair for source in chosen for pair in by_source[source]]
            for split, chosen in groups.items()}


def load_tfds_pairs(name: str, splits=("train", "validation", "test"), data_dir: str | None = None,
                    download: bool = False, max_pairs: int | None = None) -> dict[str, list[tuple[str, str]]]:
    """(source, target) strings of a TFDS translation set, e.g. ``ted_hrlr_translate/pt_to_en``.

    Uses the set's supervised keys (source language first). Returns ``{split:
    pairs}`` for the TFDS split names in ``splits``; ``max_pairs`` keeps the
    first pairs of each split. Offline unless ``download``: a set that is not
    prepared is a ``DataUnavailableError`` that says how to prepare it.
    """
    from kerasml.data.sources import load_tfds

    out = {}
    for split in splits:
        dataset = load_tfds(name, split=split, data_dir=data_dir, download=download, as_supervised=True)
        if max_pairs is not None:
            dataset = dataset.take(max_pairs)
        out[split] = [(source.decode("utf-8"), target.decode("utf-8"))
                      for source, target in dataset.as_numpy_iterator()]
    return out


# ---------------------------------------------------------------------------
# Tokenisers
# ---------------------------------------------------------------------------
def _standardize(texts, level: str, lowercase: bool) -> tf.Tensor:
    """``TextTokenizer.standardize`` for a ``level`` and ``lowercase`` setting."""
    texts = tf.convert_to_tensor(texts, tf.string)
    if lowercase:
        texts = tf.strings.lower(texts, encoding="utf-8")
    if level == "word":
        # Letters (any script, with their accents), digits and apostrophes stay in words;
        # RE2's \w would split "numéro" at the "é".
        texts = tf.strings.regex_replace(texts, r"([^\p{L}\p{M}\p{N}\s'])", r" \1 ")
        texts = tf.strings.strip(tf.strings.regex_replace(texts, r"\s+", " "))
    return texts


class TextTokenizer(tf.Module):
    """Text <-> int32 ids on ``keras.layers.TextVectorization``, graph-safe.

    ``level="character"`` splits into Unicode characters and joins them back
    with nothing; ``level="word"`` puts spaces around punctuation, splits on
    whitespace and joins with single spaces (so decoding returns the
    ``standardize``d text, which is what to score against). ``lowercase``
    lowercases first. Ids: 0 padding, 1 ``[UNK]``, then the vocabulary by
    frequency, then ``start_id`` and ``end_id``.

    Build with ``TextTokenizer.adapt(texts)``; save with ``get_config()`` (JSON)
    and rebuild with ``TextTokenizer(**config)``.
    """

    def __init__(self, vocabulary: list[str], level: str = "character", lowercase: bool = False,
                 name: str | None = None):
        super().__init__(name=name)
        if level not in ("character", "word"):
            raise ValueError(f"level must be 'character' or 'word', got {level!r}.")
        self.level, self.lowercase = level, lowercase
        tokens = [t for t in vocabulary if t not in ("", "[UNK]", START, END)]
        self.vectorizer = keras.layers.TextVectorization(
            standardize=None, split="character" if level == "character" else "whitespace", ragged=True)
        self.vectorizer.set_vocabulary(tokens + [START, END])
        self.vocabulary = [str(t) for t in self.vectorizer.get_vocabulary()]
        self.start_id, self.end_id = len(self.vocabulary) - 2, len(self.vocabulary) - 1
        self._tokens = tf.constant(self.vocabulary)

    @classmethod
    def adapt(cls, texts, level: str = "character", lowercase: bool = False,
              max_tokens: int | None = None) -> TextTokenizer:
        """A tokeniser whose vocabulary is the ``max_tokens`` commonest tokens of ``texts``."""
        vectorizer = keras.layers.TextVectorization(
            max_tokens=None if max_tokens is None else max_tokens + 2, standardize=None,
            split="character" if level == "character" else "whitespace")
        texts = _standardize(list(texts), level, lowercase)
        vectorizer.adapt(tf.data.Dataset.from_tensor_slices(texts).batch(1024))
        return cls([str(t) for t in vectorizer.get_vocabulary()], level, lowercase)

    @property
    def vocabulary_size(self) -> int:
        return len(self.vocabulary)

    def get_config(self) -> dict:
        return {"vocabulary": list(self.vocabulary), "level": self.level, "lowercase": self.lowercase}

    def standardize(self, texts):
        """The text as the tokeniser sees it (and as ``decode`` returns it), ``tf.string``."""
        return _standardize(texts, self.level, self.lowercase)

    def encode(self, texts, add_start: bool = False, add_end: bool = False) -> tf.RaggedTensor:
        """int32 ids ``[batch, (tokens)]`` of a batch of strings; unknown tokens get 1."""
        ids = tf.cast(self.vectorizer(self.standardize(texts)), tf.int32)
        if add_start:
            ids = tf.concat([tf.fill([ids.nrows(), 1], self.start_id), ids], axis=1)
        if add_end:
            ids = tf.concat([ids, tf.fill([ids.nrows(), 1], self.end_id)], axis=1)
        return ids

    def decode(self, ids) -> tf.Tensor:
        """Strings ``[batch]`` from padded ids ``[batch, time]``: stops at the first
        ``end_id``, drops padding and ``start_id``."""
        ids = tf.convert_to_tensor(ids, tf.int32)
        before_end = tf.equal(tf.cumsum(tf.cast(tf.equal(ids, self.end_id), tf.int32), axis=1), 0)
        keep = before_end & tf.not_equal(ids, PAD_ID) & tf.not_equal(ids, self.start_id)
        tokens = tf.ragged.boolean_mask(tf.gather(self._tokens, ids), keep)
        return tf.strings.reduce_join(tokens, axis=1, separator="" if self.level == "character" else " ")

    def lengths(self, texts) -> np.ndarray:
        """Tokens per text (without start and end)."""
        return self.encode(texts).row_lengths().numpy()


# ---------------------------------------------------------------------------
# Training data and greedy decoding
# ---------------------------------------------------------------------------
def _padded(ids: tf.RaggedTensor) -> tf.Tensor:
    """Zero-padded ids, at least one step wide (an all-empty batch is one padding step)."""
    width = tf.maximum(tf.cast(ids.bounding_shape(axis=1), tf.int32), 1)
    return ids.to_tensor(default_value=PAD_ID, shape=tf.stack([ids.nrows(out_type=tf.int32), width]))


def teacher_forcing_dataset(pairs, source_tokenizer: TextTokenizer, target_tokenizer: TextTokenizer,
                            batch_size: int, shuffle: bool = False, seed: int = 0) -> tf.data.Dataset:
    """Batches ``((source_ids, target_in), labels)``, int32, each padded with 0 to its batch's longest.

    ``target_in = [start] + target`` and ``labels = target + [end]``: at step t
    the decoder sees the true tokens before t and is scored on token t.
    ``shuffle`` reshuffles every epoch (seeded).
    """
    sources, targets = [list(column) for column in zip(*pairs)]
    dataset = tf.data.Dataset.from_tensor_slices((sources, targets))
    if shuffle:
        dataset = dataset.shuffle(len(sources), seed=seed, reshuffle_each_iteration=True)

    def encode(source, target):
        ids = target_tokenizer.encode(target, add_start=True, add_end=True)
        return (_padded(source_tokenizer.encode(source)), _padded(ids[:, :-1])), _padded(ids[:, 1:])

    return dataset.batch(batch_size).map(encode, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def encoder_memory(encoder, source_ids) -> list[tf.Tensor]:
    """``encoder(source_ids)`` (inference mode) as a list, without the Keras masks that
    eager calls attach: the decoder rebuilds its masks from ``source_ids``."""
    memory = encoder(tf.convert_to_tensor(source_ids, tf.int32), training=False)
    return [tf.identity(m) for m in (memory if isinstance(memory, (list, tuple)) else [memory])]


def greedy_decode(encoder, decoder, source_ids, start_id: int, end_id: int, max_length: int) -> tf.Tensor:
    """Greedy decoding: int32 ids ``[batch, <= max_length]``, 0 after each row's ``end_id``.

    Each step re-runs ``decoder`` on the whole prefix and appends the argmax of
    its last step (no cache: fine for targets of tens of tokens). Stops when
    every row has produced ``end_id`` or after ``max_length`` tokens. Works
    eagerly and inside ``tf.function`` (a ``tf.while_loop``).
    """
    source_ids = tf.convert_to_tensor(source_ids, tf.int32)
    memory = encoder_memory(encoder, source_ids)
    batch = tf.shape(source_ids)[0]

    def step(i, tokens, done):
        logits = decoder([tokens, *memory], training=False)
        next_id = tf.argmax(logits[:, -1, :], axis=-1, output_type=tf.int32)
        next_id = tf.where(done, tf.zeros_like(next_id), next_id)
        return i + 1, tf.concat([tokens, next_id[:, None]], axis=1), done | tf.equal(next_id, end_id)

    def not_finished(i, tokens, done):
        return (i < max_length) & ~tf.reduce_all(done)

    _, tokens, _ = tf.while_loop(
        not_finished, step, [tf.constant(0), tf.fill([batch, 1], tf.constant(start_id, tf.int32)),
                             tf.zeros([batch], tf.bool)],
        shape_invariants=[tf.TensorShape([]), tf.TensorShape([None, None]), tf.TensorShape([None])])
    return tokens[:, 1:]


class Translator(tf.Module):
    """Strings in, strings out: tokenise, greedy-decode and detokenise in one graph.

    ``serve(texts)`` takes ``[None] tf.string`` and returns ``[None] tf.string``;
    it is what ``export_translator`` saves. ``translator(texts)`` does the same
    from Python.
    """

    def __init__(self, encoder, decoder, source_tokenizer: TextTokenizer, target_tokenizer: TextTokenizer,
                 max_length: int):
        super().__init__(name="translator")
        self.encoder, self.decoder = encoder, decoder
        self.source_tokenizer, self.target_tokenizer = source_tokenizer, target_tokenizer
        self.max_length = int(max_length)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="texts")])
    def serve(self, texts):
        source_ids = _padded(self.source_tokenizer.encode(texts))
        ids = greedy_decode(self.encoder, self.decoder, source_ids, self.target_tokenizer.start_id,
                            self.target_tokenizer.end_id, self.max_length)
        return self.target_tokenizer.decode(ids)

    def __call__(self, texts, batch_size: int = 256) -> list[str]:
        texts = list(texts)
        out = []
        for begin in range(0, len(texts), batch_size):
            out += [t.decode("utf-8") for t in self.serve(tf.constant(texts[begin:begin + batch_size])).numpy()]
        return out


def export_translator(path, translator: Translator, check_texts) -> pathlib.Path:
    """Save ``translator`` as a SavedModel (signature ``serving_default`` and
    ``serve``), reload it fresh and check that it translates ``check_texts``
    exactly as ``translator`` does (``kerasml.recipe.verify_saved_model``, else
    ``ExportMismatchError``).

    Serving: ``tf.saved_model.load(path).serve(tf.constant(["3 March 2021"]))``.
    """
    path = pathlib.Path(path)
    tf.saved_model.save(translator, str(path), signatures={"serving_default": translator.serve})
    texts = tf.constant(list(check_texts))
    verify_saved_model(path, texts, translator.serve(texts))
    return path


# ---------------------------------------------------------------------------
# What the translation recipes share: flags and prepared data
# ---------------------------------------------------------------------------
@dataclasses.dataclass
class TranslationConfig(RecipeConfig):
    """Data and token flags of the translation recipes; a recipe's ``Config`` extends it."""

    train_pairs: int = field(12000, "training pairs (generated dates; the cap for --pairs-tsv/--tfds)")
    val_pairs: int = field(1000, "validation pairs (generated dates; the cap for --pairs-tsv/--tfds)")
    test_pairs: int = field(2000, "test pairs (generated dates; the cap for --pairs-tsv/--tfds)")
    pairs_tsv: str | None = field(None, "train on tab-separated source<TAB>target pairs (Anki format)")
    tfds: str | None = field(None, "a tensorflow-datasets translation set, e.g. ted_hrlr_translate/pt_to_en")
    tfds_data_dir: str | None = field(None, "")
    tfds_download: bool = field(False, "")
    token_level: Literal["character", "word"] = field("character", "tokens: characters or words")
    lowercase: bool = field(True, "lowercase source and target texts before tokenising")
    max_text_tokens: int = field(64, "drop pairs whose source or target has more tokens than this")
    max_vocabulary: int = field(20000, "keep the most frequent tokens of each language (word level)")


@dataclasses.dataclass
class TranslationData:
    """Prepared pairs ``{"train", "val", "test"}``, the tokenisers built on the
    training pairs, what the data is, and how many over-long pairs each split lost."""

    splits: dict[str, list[tuple[str, str]]]
    source_tokenizer: TextTokenizer
    target_tokenizer: TextTokenizer
    description: str
    dropped: dict[str, int]

    def datasets(self, batch_size: int, seed: int = 0) -> dict[str, tf.data.Dataset]:
        """``teacher_forcing_dataset`` per split; only the training split is shuffled."""
        return {split: teacher_forcing_dataset(pairs, self.source_tokenizer, self.target_tokenizer,
                                               batch_size, shuffle=split == "train", seed=seed)
                for split, pairs in self.splits.items()}

    @property
    def max_output_tokens(self) -> int:
        """A greedy-decoding limit: 1.2 x the longest training target, plus 2 (room for the end token)."""
        return int(max(self.target_tokenizer.lengths([t for _, t in self.splits["train"]])) * 1.2) + 2

    def summary(self) -> str:
        """One line for the log: what the data is, pairs per split, the two vocabulary sizes."""
        return (f"{self.description}: " + ", ".join(f"{len(p)} {s}" for s, p in self.splits.items())
                + f"; vocabularies {self.source_tokenizer.vocabulary_size} / {self.target_tokenizer.vocabulary_size}")

    def translator(self, encoder, decoder) -> Translator:
        """Strings to strings with ``encoder``, ``decoder``, these tokenisers and ``max_output_tokens``."""
        return Translator(encoder, decoder, self.source_tokenizer, self.target_tokenizer, self.max_output_tokens)

    def test_sources(self) -> list[str]:
        return [source for source, _ in self.splits["test"]]

    def test_references(self) -> list[str]:
        """The test targets as the target tokeniser standardises them (what decoding can return)."""
        targets = self.target_tokenizer.standardize([target for _, target in self.splits["test"]])
        return [t.decode("utf-8") for t in targets.numpy()]


def load_translation_pairs(config: TranslationConfig) -> tuple[dict[str, list], str]:
    """``{"train", "val", "test"}`` pairs and a description: generated dates, or
    ``--pairs-tsv`` (split 80/10/10 by source sentence), or ``--tfds`` (its
    train, validation and test splits), each split capped at its ``--*-pairs``
    by a seeded random subset (Anki files are sorted by length)."""
    if config.pairs_tsv and config.tfds:
        raise ValueError("Give --pairs-tsv or --tfds, not both.")
    sizes = {"train": config.train_pairs, "val": config.val_pairs, "test": config.test_pairs}
    if min(sizes.values()) < 1:
        raise ValueError(f"--train-pairs, --val-pairs and --test-pairs must be at least 1, got {sizes}.")
    if config.pairs_tsv:
        pairs = read_pairs_tsv(config.pairs_tsv)
        splits = split_pairs(pairs, 0.1, 0.1, seed=config.seed)
        description = f"{config.pairs_tsv} ({len(pairs)} pairs; 80/10/10 split by source sentence)"
    elif config.tfds:
        loaded = load_tfds_pairs(config.tfds, ("train", "validation", "test"), config.tfds_data_dir,
                                 config.tfds_download, max_pairs=max(sizes.values()))
        splits = {"train": loaded["train"], "val": loaded["validation"], "test": loaded["test"]}
        description = f"{config.tfds} (tensorflow-datasets; train, validation and test splits)"
    else:
        return date_pairs(sizes, seed=config.seed), (
            f"dates in {len(DATE_FORMATS)} human formats -> ISO YYYY-MM-DD (generated; years "
            "1900-2099, no date in two splits)")
    order = np.random.default_rng(config.seed)
    capped = {}
    for split, pairs in splits.items():
        chosen = order.permutation(len(pairs))[:sizes[split]]
        capped[split] = [pairs[i] for i in sorted(chosen)]
    return capped, description


def drop_long_pairs(splits, source_tokenizer: TextTokenizer, target_tokenizer: TextTokenizer, limit: int):
    """Pairs whose source and target both have at most ``limit`` tokens, and the count dropped per split."""
    kept, dropped = {}, {}
    for split, pairs in splits.items():
        sources, targets = [list(column) for column in zip(*pairs)]
        short = (source_tokenizer.lengths(sources) <= limit) & (target_tokenizer.lengths(targets) <= limit)
        kept[split] = [pair for pair, ok in zip(pairs, short) if ok]
        dropped[split] = int((~short).sum())
        if not kept[split]:
            raise ValueError(f"Every {split} pair has more than --max-text-tokens {limit} tokens; raise it.")
    return kept, dropped


def prepare_data(config: TranslationConfig) -> TranslationData:
    """Pairs, tokenisers (fitted on the training pairs) and the length filter, from the flags."""
    if config.max_text_tokens < 1:
        raise ValueError(f"--max-text-tokens must be at least 1, got {config.max_text_tokens}.")
    splits, description = load_translation_pairs(config)
    sources, targets = [list(column) for column in zip(*splits["train"])]
    max_tokens = config.max_vocabulary if config.token_level == "word" else None
    source_tokenizer, target_tokenizer = (
        TextTokenizer.adapt(texts, level=config.token_level, lowercase=config.lowercase, max_tokens=max_tokens)
        for texts in (sources, targets))
    splits, dropped = drop_long_pairs(splits, source_tokenizer, target_tokenizer, config.max_text_tokens)
    return TranslationData(splits, source_tokenizer, target_tokenizer, description, dropped)


# ---------------------------------------------------------------------------
# Metrics and timing
# ---------------------------------------------------------------------------
def _check_lists(references, predictions) -> tuple[list[str], list[str]]:
    references, predictions = list(references), list(predictions)
    if len(references) != len(predictions):
        raise ValueError(f"{len(references)} references but {len(predictions)} predictions.")
    if not references:
        raise ValueError("No translations to score.")
    return references, predictions


def exact_match(references, predictions) -> float:
    """Share of predictions equal to their reference, character for character."""
    references, predictions = _check_lists(references, predictions)
    return float(np.mean([r == p for r, p in zip(references, predictions)]))


def character_accuracy(references, predictions) -> float:
    """Position-wise character accuracy over the corpus.

    ``sum_i #{j : ref_i[j] == pred_i[j]} / sum_i max(len(ref_i), len(pred_i))``:
    each character position counts once, and a prediction that is too long or
    too short loses the positions it adds or misses. Suits fixed-layout targets
    like ISO dates; for free text read BLEU.
    """
    references, predictions = _check_lists(references, predictions)
    correct = sum(sum(a == b for a, b in zip(r, p)) for r, p in zip(references, predictions))
    positions = sum(max(len(r), len(p)) for r, p in zip(references, predictions))
    return float(correct / positions) if positions else 1.0


def corpus_bleu(references, predictions, max_order: int = 4) -> float:
    """Corpus BLEU in [0, 1] (Papineni et al. 2002), one reference per prediction.

    ``keras_hub.metrics.Bleu``: SacreBLEU's 13a tokenisation, n-grams up to
    ``max_order``, no smoothing, brevity penalty over the corpus.
    """
    import keras_hub

    references, predictions = _check_lists(references, predictions)
    bleu = keras_hub.metrics.Bleu(max_order=max_order)
    bleu.update_state([[r] for r in references], predictions)
    return float(bleu.result())


def translation_metrics(references, predictions, prefix: str = "test_") -> dict[str, float]:
    """``{prefix}exact_match``, ``{prefix}char_accuracy`` and ``{prefix}bleu``."""
    return {f"{prefix}exact_match": exact_match(references, predictions),
            f"{prefix}char_accuracy": character_accuracy(references, predictions),
            f"{prefix}bleu": corpus_bleu(references, predictions)}


def target_token_count(pairs, target_tokenizer: TextTokenizer) -> int:
    """Tokens the decoder is scored on in one pass over ``pairs`` (target + end token):
    multiply by epochs and divide by training seconds for training tokens/s."""
    targets = [target for _, target in pairs]
    return int(target_tokenizer.lengths(targets).sum() + len(targets))


def decode_latency(translator, texts, warmup: int = 2) -> dict[str, float]:
    """Greedy-decode latency in seconds per sentence.

    ``one_at_a_time``: median over ``texts`` of translating one sentence alone
    (what a user waits for); ``batched``: one call on all ``texts`` divided by
    their number (throughput). ``warmup`` calls first, so tracing is not timed.
    """
    texts = list(texts)
    for text in texts[:warmup]:
        translator([text])
    singles = []
    for text in texts:
        started = time.perf_counter()
        translator([text])
        singles.append(time.perf_counter() - started)
    translator(texts, batch_size=len(texts))
    started = time.perf_counter()
    translator(texts, batch_size=len(texts))
    return {"one_at_a_time": float(np.median(singles)),
            "batched": (time.perf_counter() - started) / len(texts)}


# ---------------------------------------------------------------------------
# What the translation recipes share: baselines, evaluation, plots, export and report
# ---------------------------------------------------------------------------
def dateutil_baseline(sources) -> list[str]:
    """ISO dates from ``dateutil.parser.parse(text, fuzzy=True)``; "" where it gives up.

    The rule-based parser a practitioner would reach for first. It reads
    numeric dates month first ("04.03.2021" -> 2021-04-03), as documented.

    Example:
        >>> dateutil_baseline(["the 4th of March 2021", "no date here"])
        ['2021-03-04', '']
    """
    from dateutil import parser

    out = []
    for text in sources:
        try:
            out.append(parser.parse(text, fuzzy=True).date().isoformat())
        except (ValueError, OverflowError):
            out.append("")
    return out


def rule_based_baselines(run, config: TranslationConfig, data: TranslationData) -> dict[str, dict]:
    """``{"dateutil_parser": translation_metrics}`` on the test pairs when they are the
    generated dates (timed as ``run.timing["dateutil_seconds"]``); ``{}`` for
    ``--pairs-tsv`` and ``--tfds`` sentences, which no rule-based parser translates."""
    if config.pairs_tsv or config.tfds:
        return {}
    with run.timer("dateutil"):
        return {"dateutil_parser": translation_metrics(data.test_references(),
                                                       dateutil_baseline(data.test_sources()))}


@dataclasses.dataclass
class Evaluation:
    """A translator's greedy translations of the test sources, their ``translation_metrics``
    (with ``meets_bar``) and its speed (training tokens/s, decode latency)."""

    predictions: list[str]
    metrics: dict
    speed: dict


def evaluate_on_test(run, translator: Translator, data: TranslationData, bar: float,
                     epochs_trained: int) -> Evaluation:
    """Translate the test sources (timed as ``run.timing["test_decode_seconds"]``) and score them.

    ``meets_bar``: test exact match >= ``bar``. ``speed``: training target
    tokens per second over the ``epochs_trained`` epochs that
    ``run.timing["train_seconds"]`` timed (None if none were: a resumed run
    that had finished), and ``decode_latency`` on the first 50 test sources.
    """
    sources = data.test_sources()
    with run.timer("test_decode"):
        predictions = translator(sources)
    metrics = translation_metrics(data.test_references(), predictions)
    metrics["meets_bar"] = bool(metrics["test_exact_match"] >= bar)
    tokens = target_token_count(data.splits["train"], data.target_tokenizer)
    speed = {"train_tokens_per_second": tokens * epochs_trained / run.timing["train_seconds"]
             if epochs_trained else None,
             "train_epochs": epochs_trained,
             **{f"greedy_decode_seconds_per_sentence_{k}": v
                for k, v in decode_latency(translator, sources[:50]).items()}}
    return Evaluation(predictions, metrics, speed)


def attention_examples(translator: Translator, attention_model, sources) -> list[tuple]:
    """``(weights [T, S], source tokens, output tokens)`` per source, for ``plots.plot_attention``.

    Greedy-decodes ``sources`` and feeds ``[start] + output`` with the encoder
    memory to ``attention_model`` (a model with the decoder's inputs that
    returns attention weights ``[B, T, S]``, or ``[B, heads, T, S]``, which are
    averaged over the heads).
    """
    source_tokenizer, target_tokenizer = translator.source_tokenizer, translator.target_tokenizer
    source_ids = source_tokenizer.encode(sources).to_tensor()
    output_ids = greedy_decode(translator.encoder, translator.decoder, source_ids, target_tokenizer.start_id,
                               target_tokenizer.end_id, translator.max_length)
    prefix = tf.concat([tf.fill([len(sources), 1], target_tokenizer.start_id), output_ids], axis=1)
    weights = keras.ops.convert_to_numpy(attention_model([prefix, *encoder_memory(translator.encoder, source_ids)]))
    if weights.ndim == 4:
        weights = weights.mean(axis=1)
    examples = []
    for row, source_row, output_row in zip(weights, source_ids.numpy(), output_ids.numpy()):
        source_tokens = [source_tokenizer.vocabulary[i] for i in source_row if i]
        output_tokens = [target_tokenizer.vocabulary[i] for i in output_row if i]
        examples.append((row, source_tokens, output_tokens))
    return examples


def export_and_report(run, model: keras.Model, translator: Translator, data: TranslationData,
                      test: Evaluation, baselines: dict) -> dict:
    """Write ``test_predictions.tsv``; unless ``--no-export``, ``model.keras`` (the
    teacher-forcing model), ``tokenizers.json`` and the string-to-string
    ``saved_model/`` (checked by ``export_translator``); then ``run.finish``.
    Returns the report."""
    sources, references = data.test_sources(), data.test_references()
    with open(run.dir / "test_predictions.tsv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(["source", "reference", "prediction"])
        writer.writerows(zip(sources, references, test.predictions))
    if run.options.export:
        model.save(run.dir / "model.keras")
        (run.dir / "tokenizers.json").write_text(json.dumps(
            {"source": translator.source_tokenizer.get_config(), "target": translator.target_tokenizer.get_config(),
             "max_output_tokens": translator.max_length}))
        export_translator(run.dir / "saved_model", translator, sources[:64])
        run.log(f"exported {run.dir / 'saved_model'} (reload check passed)")
    return run.finish(
        dataset=data.description, metrics=test.metrics, baselines=baselines,
        extra={"data": {split: len(pairs) for split, pairs in data.splits.items()},
               "dropped_long_pairs": data.dropped,
               "speed": test.speed,
               "serving": {"input": "tf.string [batch] raw source texts",
                           "output": "tf.string [batch] greedy translations"}})
