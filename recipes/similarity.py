"""Title: Siamese similarity learning with contrastive and triplet losses, tested on unseen classes

Architecture: a shared convolutional encoder (8x8 image -> unit-length 64-vector)
    applied to each member of a triplet (triplet loss, the default), a pair
    (contrastive loss) or to every image of a batch (batch-hard triplet loss),
    `--loss triplet|contrastive|batch_hard` (kerasml.losses), with a small
    decoder that reconstructs the anchor from its embedding as a regulariser.
    The number of epochs is chosen on held-out seen digits, then the encoder
    is retrained on all seen digits for that many epochs. Three such encoders,
    initialised independently (`--ensemble`), make one model: their embeddings
    concatenated and re-normalised (unit-length 192-vector).
Paper(s): Bromley et al. 1993, "Signature Verification using a Siamese Time Delay
    Neural Network" (NIPS); Hadsell, Chopra & LeCun 2006, "Dimensionality
    Reduction by Learning an Invariant Mapping" (CVPR; contrastive loss);
    Schroff, Kalenichenko & Philbin 2015, "FaceNet" (CVPR; triplet loss);
    Hermans, Beyer & Leibe 2017, "In Defense of the Triplet Loss for Person
    Re-Identification" (arXiv:1703.07737; batch-hard mining);
    Oh Song, Xiang, Jegelka & Savarese 2016, "Deep Metric Learning via Lifted
    Structured Feature Embedding" (CVPR; recall@K on unseen classes); a
    supervised loss plus reconstruction as in Ranzato & Szummer 2008,
    "Semi-supervised learning of compact document representations with deep
    networks" (ICML).
Dataset: scikit-learn's digits (1797 8x8 images, embedded). Digits 0-4 train
    while the epoch count is chosen on digits 5 and 6 (`--val-classes`); then
    digits 0-6 train; evaluation uses every image of digits 7, 8 and 9
    (`--unseen-classes`), which the encoder never saw.
Run: python -m recipes.similarity
    python -m recipes.similarity --ensemble 1
    python -m recipes.similarity --loss contrastive
    python -m recipes.similarity --loss batch_hard

Results: measured 2026-11-24 with python -m benchmarks.run_recipes similarity (x86_64, 2 cores shared with other jobs; Keras 3.15.1, TensorFlow 2.21.0, CPU).
    Default run (ensemble of three encoders, triplet loss, reconstruction weight 30; 2, 4
    and 5 epochs chosen on digits 5-6, then each refit on 0-6), on the 533 images of the
    unseen digits 7-9, model vs raw-pixel cosine: recall@1 0.9944 vs 0.9925, recall@5
    0.9981 vs 0.9981, verification ROC AUC 0.8389 vs 0.8110; 101 s (98 s training).
    Bar (beat the raw-pixel baseline on unseen classes): met on recall@1 (3 misses against
    4) and AUC; recall@5 ties (one miss each), so not met on all three keys. On the
    validation digits 5-6 (the early-stopped members' ensemble): recall@1 0.9972, recall@5
    0.9972, AUC 0.9237 (raw pixels 0.9972, 1.0000, 0.9148).
    The defaults were fixed on two development splits that leave 7-9 out of the unseen
    role (section 8) and then run once on 7-9; nothing was changed after that run.
    The previous default (one encoder, weight 10), same day and machine: recall@1 0.987,
    recall@5 0.996, AUC 0.867 (seeds 1 / 2: 0.992 / 0.991, 0.996 / 0.998, 0.825 / 0.854);
    the ensemble gains two images at recall@1 and one at recall@5 over it, and gives up
    0.028 of AUC against seed 0 (not against seeds 1 and 2). Same day, single encoder with
    weight 10: `--loss contrastive` (3 epochs chosen) recall@1 0.983, recall@5 0.994, AUC
    0.804; `--loss batch_hard` (2 epochs) 0.987, 0.996, 0.845. Section 8 lists the variants
    we tried and how the settings were chosen.

## 1. Seen, validation and unseen classes

A similarity model earns its keep on things it was not trained on: new faces,
new products, new signatures. So the classes are split, not the images: the
encoder never trains on digits 7-9, and retrieval and verification are measured
on them alone, once, at the end. Choosing when to stop training is model
selection, and held-out images of the training digits say little about new
digits (they reach recall 1.000 and AUC 0.999 within a few epochs). So two seen
digits, 5 and 6 (`--val-classes`), are held out as classes too: digits 0-4
train, and digits 5-6 are scored every epoch exactly as the test digits will
be. Bad class flags (overlapping groups, fewer than two digits in a group)
stop the run with a ValueError that says what to change.

## 2. Pairs, triplets and batches

Each epoch draws fresh examples from the training images: for the contrastive
loss, pairs that show the same digit half of the time; for the triplet loss,
(anchor, positive of the same digit, negative of another digit); for the
batch-hard loss, single images with their digit. The same encoder (shared
weights: a siamese network) embeds every member; the training model stacks
the embeddings along axis 1 for the pair and triplet losses. `--shift`
randomly translates the training images (keras.layers.RandomTranslation,
in the training model only); it is off by default (section 8).

## 3. The encoder and the losses

Three 3x3 convolutions, a dense layer, and a unit-length 64-vector (so cosine
similarity is a dot product and distances lie in [0, 2]). Contrastive loss
(Hadsell et al.): `y d^2 + (1 - y) max(margin - d, 0)^2`, margin 0.5, pulls
same-digit pairs together and pushes different ones at least `margin` apart.
Triplet loss (FaceNet): `max(d(a,p)^2 - d(a,n)^2 + margin, 0)`, margin 0.2,
asks only that the positive be closer than the negative by the margin.
Batch-hard triplet loss (Hermans et al.): every image of a batch is an anchor,
with the farthest image of its digit as positive and the nearest image of
another digit as negative, `max(d(a,p) - d(a,n) + margin, 0)`, margin 0.2:
random triplets soon become too easy to teach much (the triplet loss falls
to about 0.001 within two or three epochs), mined ones stay informative longer.

## 4. Why a reconstruction term

Trained on the metric loss alone, the encoder keeps only what separates the
training digits and discards what it does not need, including some of what
tells a 7 from a 9 (with `--reconstruction-weight 0` recall@1 on digits 7-9
was 0.951 in an early run). A decoder that must rebuild the image from the
embedding (mean squared error, weight `--reconstruction-weight`, 30) keeps
that information in the embedding. Only the encoder is exported.

## 5. Evaluation and the baseline

On the unseen digits: recall@K (Oh Song et al.): each image queries all other
unseen images, and counts as found if one of its K nearest neighbours (cosine
similarity) shows the same digit. Verification ROC AUC (scikit-learn): over all
pairs of unseen images, how well the similarity separates same-digit pairs from
different-digit ones. The baseline is cosine similarity of the raw pixels,
scored the same way in the same run: on 8x8 digits nearest neighbours in pixel
space are already very good (recall@1 about 0.99), while its verification AUC
is low (about 0.81), since whole-image similarity mixes up digits at a distance.

## 6. Choosing the epoch count on held-out classes

A Keras callback scores the encoder on digits 5-6 after every epoch with the
functions of section 5 and adds `val_recall_at_1`, `val_recall_at_5` and
`val_verification_auc` to the epoch's logs; early stopping (patience 6, best
weights restored) follows the AUC, since recall@1 on two digits is already
about 1.0 for raw pixels. The epoch with the best AUC (earliest on ties) gives
the epoch count. Then (`--refit`, the default) a fresh encoder trains on all
seven seen digits, 0-6, for that many epochs (an epoch is always
`--examples-per-epoch` examples, so the same number of steps), and that
encoder is evaluated and exported; `--no-refit` keeps the early-stopped one.
We refit because the final model then learns from every seen digit, as the
task asks, and because on the second held-out split of section 8 the refit
model was no worse: verification AUC 0.774 against 0.749 without refit, mean
of three seeds (batch-hard loss with shifts, the settings then under study;
recall@1 0.992 against 0.993).

## 7. An ensemble of encoders

One encoder's embedding varies with its random start: on the development
splits of section 8 recall@1 ranged from 0.9927 to 0.9963 on digits 1, 5, 6
over six seeds. Averaging independently trained networks is the standard
variance reducer (here, for retrieval embeddings). `--ensemble 3` trains three
encoders, member i with seed `seed * 3 + i`, each exactly as section 6
describes (its own epoch count, chosen on digits 5-6, then its own refit; its
history is `history_member<i>.csv`). The exported model runs all three on
the image, concatenates their unit embeddings and re-normalises
(keras.layers.UnitNormalization): each member's part has length 1/sqrt(3), so
the cosine similarity of two images is the mean of the members' cosine
similarities. The reported `val_*` scores are those of the early-stopped
members' ensemble on digits 5-6. Each member costs a single-encoder run, so
the default run takes about three times as long.

## 8. What we tried, and how the settings were chosen

The validation digits 5-6 decide the epoch count, but they proved a poor guide
for the other settings: which variant looks best on one pair of digits says
little about another pair. So the settings were compared on a second split
that leaves the test digits alone as test: `--unseen-classes 3 4` (digits 3-4
play the unseen digits; 7-9 train), epochs chosen on 5-6 as above, one seed
unless said. There raw pixels score recall@1 1.000, recall@5 1.000 and AUC
0.977. Without shifts, triplet loss, reconstruction weight 1 / 3 / 10 / 30:
AUC 0.843 / 0.959 / 0.984 (seed 1: 0.981) / 0.988 and recall@1 0.997 / 1.000 /
1.000 (seed 1: 0.997) / 1.000; batch-hard loss, weight 1 / 3: AUC 0.963 /
0.957; triplet loss with random shifts of up to one pixel (`--shift 0.125`),
weight 1 / 3: 0.851 / 0.925. We chose the triplet loss with weight 10 (30 was
not clearly better, and leaves the metric loss a smaller part). Before this
second split existed we had chosen by the digits 5-6 alone, where random
shifts lifted the whole AUC curve over the epochs (0.94-0.96 against 0.89-0.93
without) and batch-hard mining with shifts was the steadiest (chosen epoch
0.963), and measured that choice on the test digits: batch-hard with shifts
reached recall@1 0.942, recall@5 0.985, AUC 0.746, and the triplet loss with
shifts 0.979, 0.996, 0.772, both below the previous default (triplet loss,
weight 1, early stopping on images of the seen digits: 0.987, 0.998, 0.840).
So the present defaults were picked after two looks at the test digits,
although by the second split and not by those looks; read the Results in that
light. Batch-hard mining often starts collapsed (every embedding at one point,
the loss stuck at the margin for one to three epochs), which makes an epoch
count chosen in one run a poor fit for the refit. Other variants on digits 5-6
only (triplet loss, weight 1): weight 3 / 0.3, a 128-d embedding, margin 0.5,
learning rate 3e-4 gave AUC 0.942 / 0.939 / 0.919 / 0.943 / 0.971 against
0.943. An earlier round, scored on the test digits (so exploration only, not
tuning): contrastive loss with weight 1 / 3 / 10 gave recall@1 0.951 / 0.962 /
0.983 and AUC 0.735 / 0.719 / 0.783. Differences of 0.002 in recall@1 are one
image of 533. Contrastive loss pulls every same-digit pair to one point, which
in our runs cost more structure on the unseen digits than the triplet loss,
which only asks for an ordering.

A third round aimed to beat raw pixels on recall@1 and recall@5 as well. The
test digits had by then been looked at twice, so no candidate was scored on
them: all were compared on two development splits where other digits play the
unseen ones, A `--unseen-classes 1 5 6 --val-classes 3 4` and B
`--unseen-classes 2 3 5 --val-classes 1 4`, chosen because raw pixels miss
there (recall@1 0.9963 / 0.9982, recall@5 1.0000 / 0.9982, AUC 0.8583 /
0.8305 on A / B). Six seeds of single encoders each; ensembles of three from
seeds 0-2 and 3-5 (the members are those single runs, as in section 7).
Means of recall@1, recall@5, AUC on A | B:
weight 10, one encoder: 0.9948, 0.9982, 0.8762 | 0.9935, 0.9991, 0.8584;
weight 10, three: 0.9963, 0.9982, 0.8812 | 0.9945, 1.0000, 0.8695;
weight 30, one: 0.9963, 0.9991, 0.8765 | 0.9954, 0.9991, 0.8480;
weight 30, three: 0.9963, 0.9991, 0.8823 | 0.9972, 1.0000, 0.8625.
Six members (seeds 0-5) added nothing over three (weight 10: 0.9963, 0.9982,
0.8828 | 0.9945, 1.0000, 0.8737; weight 30: 0.9963, 0.9982, 0.8838 | 0.9963,
1.0000, 0.8652) at twice the time. Three encoders with weight 30 had the best
recall on both splits, so the defaults became `--ensemble 3
--reconstruction-weight 30`; they were fixed before the one run on digits 7-9
that the Results report, and nothing was changed after it. Even on the
development splits this ensemble only tied raw pixels at recall@1 on A and
stayed below on B, so beating them at recall@1 on 7-9 was not expected. A
128-d embedding was planned but not run for lack of time.

## 9. Export

The SavedModel's `serve` takes float32 raw images `[batch, 8, 8]` (pixels 0-16)
and returns unit-length embeddings `[batch, 192]` (`[batch, 64]` with
`--ensemble 1`); compare two images by the dot product of their embeddings.
"""

from __future__ import annotations

import csv
import dataclasses
import sys
from typing import Literal

import kerasml  # noqa: F401  (first: quiets TensorFlow's start-up logs)

import keras  # isort: skip
import numpy as np  # isort: skip
from keras import ops  # isort: skip
from sklearn.datasets import load_digits  # isort: skip
from sklearn.metrics import roc_auc_score, roc_curve  # isort: skip

from kerasml import plots  # noqa: E402
from kerasml.losses import BatchHardTripletLoss, ContrastiveLoss, TripletLoss  # noqa: E402
from kerasml.recipe import RecipeConfig, field, start_run  # noqa: E402

DEFAULT_MARGIN = {"contrastive": 0.5, "triplet": 0.2, "batch_hard": 0.2}
MEMBERS = {"contrastive": ("left", "right"), "triplet": ("anchor", "positive", "negative"),
           "batch_hard": ("images",)}


@dataclasses.dataclass
class Config(RecipeConfig):
    epochs: int = field(30, "maximum training epochs while choosing the epoch count (early stopping may end sooner)")
    batch_size: int = field(64, "pairs, triplets or (batch_hard) images per batch")
    learning_rate: float = field(1e-3, "Adam learning rate")
    loss: Literal["triplet", "batch_hard", "contrastive"] = field("triplet", "metric-learning loss")
    margin: float | None = field(None, "loss margin (default: 0.5 contrastive, 0.2 triplet and batch_hard)")
    embedding_dim: int = field(64, "width of the unit-length embedding")
    filters: int = field(32, "filters of the first convolution (the others have twice as many)")
    reconstruction_weight: float = field(30.0, "weight of the decoder's reconstruction loss (0 = metric loss only)")
    shift: float = field(0.0, "random shift of training images, a fraction of their 8 pixels (0 = none)")
    examples_per_epoch: int = field(10000, "pairs, triplets or (batch_hard) images drawn afresh each epoch")
    unseen_classes: tuple[int, ...] = field((7, 8, 9), "digits held out of training, used for the final evaluation only")
    val_classes: tuple[int, ...] = field((5, 6), "seen digits held out while choosing the epoch count (model selection)")
    refit: bool = field(True, "after choosing the epoch count, retrain on every seen digit (--val-classes too) "
                              "for that many epochs")
    patience: int = field(6, "early-stopping patience in epochs")
    ensemble: int = field(3, "independently initialised encoders, each with its own epoch count; the exported "
                             "model concatenates their embeddings and re-normalises (1 = a single encoder)")


QUICK = {"epochs": 2, "examples_per_epoch": 256, "filters": 4, "embedding_dim": 8, "ensemble": 2}
SELECTION_METRIC = "val_verification_auc"  # early stopping and the epoch count follow this key


# ## 1. Seen, validation and unseen classes
def split(config: Config) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Raw images, labels, and image indices by class group: ``train`` (seen digits less the
    validation digits), ``val`` (the validation digits), ``seen`` (both) and ``unseen``."""
    digits = load_digits()
    images, labels = digits.images.astype("float32"), digits.target
    unseen, val = set(config.unseen_classes), set(config.val_classes)
    if not unseen | val <= set(range(10)):
        raise ValueError(f"--unseen-classes {config.unseen_classes} and --val-classes {config.val_classes} "
                         "must be digits 0-9.")
    if unseen & val:
        raise ValueError(f"--val-classes {config.val_classes} must not include the unseen (test) digits "
                         f"{config.unseen_classes}; choose validation digits among the others.")
    train_classes = set(range(10)) - unseen - val
    if len(train_classes) < 2 or len(val) < 2:
        raise ValueError(f"--unseen-classes {config.unseen_classes} and --val-classes {config.val_classes} leave "
                         f"{len(train_classes)} digit(s) to train on and {len(val)} to validate on; "
                         "each needs at least two.")
    groups = {"train": np.isin(labels, sorted(train_classes)), "val": np.isin(labels, sorted(val)),
              "unseen": np.isin(labels, sorted(unseen))}
    groups["seen"] = groups["train"] | groups["val"]
    return images, labels, {name: np.flatnonzero(mask) for name, mask in groups.items()}


# ## 2. Pairs, triplets and batches
def draw_examples(labels: np.ndarray, count: int, kind: str, rng):
    """Index arrays into ``labels`` and targets: (anchor, other) + same-class flags for pairs,
    (anchor, positive, negative) + None for triplets, (anchor,) + its labels for batch_hard.
    Anchors are of a uniformly drawn class; positives are other images of the anchor's class."""
    classes = np.unique(labels)
    members = [np.flatnonzero(labels == c) for c in classes]
    sizes = np.array([len(m) for m in members])
    anchor_class = rng.integers(0, len(classes), count)
    slot = rng.integers(0, sizes[anchor_class])
    anchor = np.array([members[c][s] for c, s in zip(anchor_class, slot)])
    shift = rng.integers(1, sizes[anchor_class])  # any other member of the class
    positive = np.array([members[c][(s + d) % sizes[c]] for c, s, d in zip(anchor_class, slot, shift)])
    negative_class = (anchor_class + rng.integers(1, len(classes), count)) % len(classes)
    negative = np.array([members[c][rng.integers(0, sizes[c])] for c in negative_class])
    if kind == "triplet":
        return (anchor, positive, negative), None
    if kind == "batch_hard":  # the loss mines its triplets among the batch's images
        return (anchor,), labels[anchor]
    same = rng.random(count) < 0.5
    return (anchor, np.where(same, positive, negative)), same.astype("float32")


class SiameseExamples(keras.utils.PyDataset):
    """Batches of pairs, triplets or (batch_hard) labelled images, drawn afresh every epoch
    from ``images[indices]``."""

    def __init__(self, images, labels, indices, config: Config, seed: int):
        super().__init__()
        self.images, self.labels, self.indices = images, labels, indices
        self.kind, self.batch_size, self.seed = config.loss, config.batch_size, seed
        self.count = config.examples_per_epoch
        self.epoch = 0
        self._draw()

    def _draw(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        members, targets = draw_examples(self.labels[self.indices], self.count, self.kind, rng)
        self.members = [self.images[self.indices[m]] for m in members]
        self.targets = np.zeros(self.count, "float32") if targets is None else targets.astype("float32")

    def __len__(self):
        return self.count // self.batch_size

    def __getitem__(self, batch):
        rows = slice(batch * self.batch_size, (batch + 1) * self.batch_size)
        inputs = tuple(m[rows] for m in self.members)
        return inputs, {"embeddings": self.targets[rows], "reconstruction": inputs[0] / 16.0}

    def on_epoch_end(self):
        self.epoch += 1
        self._draw()


# ## 3. The encoder and the losses
def build_encoder(config: Config, name: str = "encoder") -> keras.Model:
    images = keras.Input((8, 8), name="images")
    x = keras.layers.Rescaling(1 / 16, name="scale_pixels")(images)
    x = keras.layers.Reshape((8, 8, 1))(x)
    x = keras.layers.Conv2D(config.filters, 3, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(2 * config.filters, 3, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(2 * config.filters, 3, padding="same", activation="relu")(x)
    x = keras.layers.Dense(128, activation="relu")(keras.layers.Flatten()(x))
    x = keras.layers.Dense(config.embedding_dim)(x)
    return keras.Model(images, keras.layers.UnitNormalization(name="embedding")(x), name=name)


# ## 4. The reconstruction term
def build_siamese(config: Config, encoder: keras.Model, seed: int) -> keras.Model:
    """The training model: shared encoder on each member, stacked (batch_hard: one member, the
    embeddings as they are); decoder on the first member."""
    inputs = [keras.Input((8, 8), name=name) for name in MEMBERS[config.loss]]
    members = inputs
    if config.shift:  # in the training model only: the exported encoder is not augmented
        shift = keras.layers.RandomTranslation(config.shift, config.shift, fill_mode="constant", seed=seed)
        members = [keras.layers.Reshape((8, 8))(shift(keras.layers.Reshape((8, 8, 1))(x))) for x in inputs]
    embeddings = [encoder(x) for x in members]
    decoder = keras.Sequential([keras.layers.Dense(128, activation="relu"),
                                keras.layers.Dense(256, activation="relu"),
                                keras.layers.Dense(64), keras.layers.Reshape((8, 8))], name="decoder")
    stacked = embeddings[0] if len(embeddings) == 1 else ops.stack(embeddings, axis=1)
    outputs = {"embeddings": keras.layers.Identity(name="embeddings")(stacked),
               "reconstruction": keras.layers.Identity(name="reconstruction")(decoder(embeddings[0]))}
    margin = config.margin if config.margin is not None else DEFAULT_MARGIN[config.loss]
    metric_loss = {"triplet": TripletLoss, "contrastive": ContrastiveLoss,
                   "batch_hard": BatchHardTripletLoss}[config.loss](margin)
    model = keras.Model(inputs, outputs, name=f"siamese_{config.loss}")
    model.compile(keras.optimizers.Adam(config.learning_rate),
                  loss={"embeddings": metric_loss, "reconstruction": "mse"},
                  loss_weights={"embeddings": 1.0, "reconstruction": config.reconstruction_weight})
    return model


# ## 5. Evaluation
def cosine_similarities(vectors: np.ndarray) -> np.ndarray:
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return unit.astype("float64") @ unit.T.astype("float64")


def recall_at(similarity: np.ndarray, labels: np.ndarray, ks) -> dict[int, float]:
    """Recall@K: share of items with a same-label item among their K most similar others."""
    scores = similarity.copy()
    np.fill_diagonal(scores, -np.inf)  # an item does not retrieve itself
    nearest = np.argsort(-scores, axis=1, kind="stable")[:, :max(ks)]
    hits = labels[nearest] == labels[:, None]
    return {k: float(np.mean(hits[:, :k].any(axis=1))) for k in ks}


def verification_pairs(similarity: np.ndarray, labels: np.ndarray):
    """(same-label flags, similarities) over all unordered pairs of distinct items."""
    first, second = np.triu_indices(len(labels), k=1)
    return labels[first] == labels[second], similarity[first, second]


def retrieval_metrics(similarity: np.ndarray, labels: np.ndarray, prefix: str = "test_") -> dict:
    """Recall@1, recall@5 and the verification ROC AUC, keys prefixed with the split."""
    report = {f"{prefix}recall_at_{k}": v for k, v in recall_at(similarity, labels, (1, 5)).items()}
    report[f"{prefix}verification_auc"] = roc_auc_score(*verification_pairs(similarity, labels))
    return report


# ## 6. Choosing the epoch count on held-out classes
class HeldOutClassRetrieval(keras.callbacks.Callback):
    """After every epoch, scores ``encoder`` on images of classes it does not train on, exactly as
    the final evaluation does, and adds ``val_recall_at_1``, ``val_recall_at_5`` and
    ``val_verification_auc`` to the epoch's logs (so early stopping, history.csv and TensorBoard
    see them: list this callback before theirs).

    Keras' own validation (``validation_data``) can only score the training loss on held-out
    examples; retrieval over held-out classes needs the embeddings of all of them at once.

    Example:
        >>> selection = HeldOutClassRetrieval(encoder, images[val], labels[val])  # doctest: +SKIP
        >>> model.fit(examples, callbacks=[selection, keras.callbacks.EarlyStopping(
        ...     "val_verification_auc", mode="max")])  # doctest: +SKIP
    """

    def __init__(self, encoder: keras.Model, images: np.ndarray, labels: np.ndarray):
        super().__init__()
        self.encoder, self.images, self.labels = encoder, images, labels

    def on_epoch_end(self, epoch, logs=None):
        embeddings = ops.convert_to_numpy(self.encoder(self.images, training=False))
        logs.update(retrieval_metrics(cosine_similarities(embeddings), self.labels, prefix="val_"))


def best_epoch(history_csv, monitor: str = SELECTION_METRIC) -> dict:
    """The history.csv row with the highest ``monitor`` (the earliest on ties), as floats,
    with ``epochs`` = how many epochs it took. Read from the CSV, which also holds the epochs
    of a run resumed from its backup."""
    with open(history_csv) as handle:
        rows = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]
    best = max(rows, key=lambda row: row[monitor])
    return {**best, "epochs": int(best["epoch"]) + 1}


def train(run, config: Config, images, labels, indices, epochs: int, seed: int, val_indices=None,
          tag: str | None = None) -> keras.Model:
    """A fresh encoder trained on ``images[indices]``. With ``val_indices``, early stopping on
    their retrieval scores (best weights restored); without, exactly ``epochs`` epochs."""
    encoder = build_encoder(config, name=f"encoder_{tag}" if tag else "encoder")
    siamese = build_siamese(config, encoder, seed)
    callbacks = run.callbacks(monitor=SELECTION_METRIC, mode="max", patience=config.patience, tag=tag)
    if val_indices is None:  # nothing held out to stop on: keep the history, backups, NaN guard
        callbacks = [c for c in callbacks if not isinstance(c, keras.callbacks.EarlyStopping)]
    else:
        callbacks.insert(0, HeldOutClassRetrieval(encoder, images[val_indices], labels[val_indices]))
    with run.timer("train"):
        siamese.fit(SiameseExamples(images, labels, indices, config, seed=seed), epochs=epochs,
                    verbose=run.fit_verbose, callbacks=callbacks)
    return encoder


def train_member(run, config: Config, images, labels, groups, member: int):
    """Ensemble member ``member``: seeded with ``seed * ensemble + member``, its epoch count chosen
    on the validation digits, then (``--refit``) retrained on all seen digits. Returns the
    early-stopped encoder, the final encoder and the epoch count."""
    seed = config.seed * config.ensemble + member
    keras.utils.set_random_seed(seed)  # each member as a single-encoder run with this seed
    tag = f"member{member}" if member else None
    selected_encoder = train(run, config, images, labels, groups["train"], config.epochs, seed,
                             val_indices=groups["val"], tag=tag)
    epochs = best_epoch(run.history_path(tag))["epochs"]
    run.log(f"member {member + 1}/{config.ensemble} (seed {seed}): selected {epochs} epochs on digits "
            f"{list(config.val_classes)}")
    if not config.refit:
        return selected_encoder, selected_encoder, epochs
    refit_tag = f"{tag}_refit" if tag else "refit"
    return selected_encoder, train(run, config, images, labels, groups["seen"], epochs, seed, tag=refit_tag), epochs


# ## 7. An ensemble of encoders
def build_ensemble(encoders: list[keras.Model]) -> keras.Model:
    """One model, images -> the members' unit embeddings concatenated and re-normalised, so that
    its cosine similarity is the mean of the members' (each member's part has length 1/sqrt(N)).

    Example:
        >>> ensemble = build_ensemble([build_encoder(config, f"encoder_{i}") for i in range(3)])  # doctest: +SKIP
    """
    if len(encoders) == 1:
        return encoders[0]
    images = keras.Input((8, 8), name="images")
    joined = keras.layers.Concatenate(name="members")([encoder(images) for encoder in encoders])
    return keras.Model(images, keras.layers.UnitNormalization(name="embedding")(joined), name="ensemble")


def main(argv=None) -> dict:
    run = start_run("similarity", Config, argv, description=__doc__, quick=QUICK)
    config = run.config
    if config.ensemble < 1:
        raise ValueError(f"--ensemble {config.ensemble}: give the number of encoders, 1 or more.")
    images, labels, groups = split(config)
    train_digits = sorted(set(labels[groups["train"]].tolist()))
    run.log(f"data: {len(groups['train'])} images of digits {train_digits} to train on, "
            f"{len(groups['val'])} of digits {list(config.val_classes)} to choose the epoch counts on, "
            f"{len(groups['unseen'])} of unseen digits {list(config.unseen_classes)} for the final evaluation")

    selected, final, epochs = zip(*(train_member(run, config, images, labels, groups, member)
                                    for member in range(config.ensemble)))
    encoder = build_ensemble(list(final))

    # The validation scores of the early-stopped members' ensemble (trained on digits without the
    # validation digits): with one member, the chosen epoch's row of history.csv.
    val_embeddings = build_ensemble(list(selected)).predict(images[groups["val"]], verbose=0)
    val_scores = retrieval_metrics(cosine_similarities(val_embeddings), labels[groups["val"]], prefix="val_")
    embeddings = encoder.predict(images[groups["unseen"]], verbose=0)
    pixels = {name: images[groups[name]].reshape(len(groups[name]), -1) for name in ("val", "unseen")}
    similarity = {"model": cosine_similarities(embeddings), "raw_pixel_cosine": cosine_similarities(pixels["unseen"])}
    metrics = retrieval_metrics(similarity["model"], labels[groups["unseen"]]) | val_scores
    baselines = {"raw_pixel_cosine": {
        **retrieval_metrics(similarity["raw_pixel_cosine"], labels[groups["unseen"]]),
        **retrieval_metrics(cosine_similarities(pixels["val"]), labels[groups["val"]], prefix="val_")}}
    base = baselines["raw_pixel_cosine"]
    metrics["beats_baseline"] = {k: bool(metrics[k] > base[k]) for k in base if k.startswith("test_")}

    plot_results(run, similarity, labels[groups["unseen"]])
    run.export(encoder, images[groups["unseen"]][:64])
    return run.finish(
        dataset=f"digits (scikit-learn, embedded): train on digits {train_digits}, choose the epoch counts on "
                f"{list(config.val_classes)}, evaluate on unseen {list(config.unseen_classes)}",
        metrics=metrics, baselines=baselines,
        extra={"data": {f"{name}_images": len(index) for name, index in groups.items()} | {
                   "train_classes": train_digits, "val_classes": list(config.val_classes),
                   "unseen_classes": list(config.unseen_classes)},
               "selection": {"metric": SELECTION_METRIC, "epochs": list(epochs), "refit": config.refit},
               "serving": {"input": "float32 [batch, 8, 8] raw digit images (pixels 0-16)",
                           "output": f"float32 [batch, {config.ensemble * config.embedding_dim}] unit-length "
                                     "embeddings"}})


def plot_results(run, similarity, labels):
    """Recall@K for K = 1..10 and verification ROC curves on the unseen classes; training curves."""
    ks = list(range(1, 11))
    recall = {name: list(recall_at(s, labels, ks).values()) for name, s in similarity.items()}
    plots.plot_lines(run.plot_path("recall_at_k.png"), recall, x=ks, xlabel="K",
                     ylabel="recall@K", title="Retrieval on unseen digits")
    curves = {name: roc_curve(*verification_pairs(s, labels))[:2] for name, s in similarity.items()}
    plots.plot_curves(run.plot_path("verification_roc.png"), curves, title="Verification on unseen digits",
                      xlabel="false positive rate", ylabel="true positive rate", diagonal=True)
    plots.plot_history(run.dir / "history.csv", run.plot_path("history.png"),
                       metrics=("loss", "embeddings_loss", "recall_at_1", "verification_auc"))


if __name__ == "__main__":
    main(sys.argv[1:])
