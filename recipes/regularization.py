"""Title: Remedies for overfitting on a small training set: dropout, L2, early stopping, augmentation, batch norm

Architecture: raw 8x8 image -> Rescaling(1/16) -> [RandomTranslation,
    RandomRotation, RandomZoom] -> Flatten -> 2 x (Dense(256) [-> BatchNorm]
    -> ReLU [-> Dropout]) -> Dense(10, softmax), every Dense [with L2 on its
    kernel]; the same network trained once per remedy and strength (brackets:
    the remedies) for the same number of epochs, [stopped early on the
    validation loss]. `--architecture cnn`: Conv2D(32, 3x3) -> MaxPool ->
    Conv2D(64, 3x3) -> MaxPool -> Dense(256) -> Dense(10), the same remedies
    after each hidden layer.
Paper(s): Srivastava et al. 2014, "Dropout: A Simple Way to Prevent Neural
    Networks from Overfitting" (JMLR); Krogh & Hertz 1992, "A Simple Weight
    Decay Can Improve Generalization" (L2); Prechelt 1998, "Early Stopping -
    But When?"; Simard, Steinkraus & Platt 2003, "Best Practices for
    Convolutional Neural Networks Applied to Visual Document Analysis" (data
    augmentation by small distortions); Ioffe & Szegedy 2015, "Batch
    Normalization".
Dataset: scikit-learn's digits (1797 8x8 images, embedded): 25% held out for
    test, and from the rest, per repeat, a small stratified training subset
    (`--train-size`, 100 images: 10 per digit) and a validation set
    (`--val-size`, 300) for early stopping and for every choice (each
    remedy's strength, the combination's members, the best remedy).
Run: python -m recipes.regularization
    python -m recipes.regularization --train-size 500 --repeats 5
    python -m recipes.regularization --architecture cnn

Results: measured 2026-11-24 on x86_64, 2 cores shared with other jobs (Keras 3.15.1,
    TensorFlow 2.21.0), seed 0, by `python -m benchmarks.run_recipes regularization`
    (283 s in all for 64 trainings, 4.4 s each, with another benchmark running beside it):
    100 training images, 450 test images, 4 repeats; mean ± std over the repeats;
    each strength chosen on validation from the candidates in brackets.

    | remedy                        | test accuracy   | train accuracy | generalisation gap | val accuracy |
    |-------------------------------|-----------------|----------------|--------------------|--------------|
    | none                          | 0.9017 ± 0.0088 |     1.0000     |  0.0983 ± 0.0088   |    0.8875    |
    | dropout 0.25 (0.1, 0.5)       | 0.8983 ± 0.0116 |     1.0000     |  0.1017 ± 0.0116   |    0.8925    |
    | L2 1e-4 (1e-5, 1e-3)          | 0.9006 ± 0.0126 |     1.0000     |  0.0994 ± 0.0126   |    0.8908    |
    | early stopping                | 0.8983 ± 0.0126 |     1.0000     |  0.1017 ± 0.0126   |    0.8908    |
    | augmentation 15 deg (10, 20)  | 0.9194 ± 0.0109 |     0.9975     |  0.0781 ± 0.0132   |    0.9200    |
    | batch norm                    | 0.8511 ± 0.0191 |     1.0000     |  0.1489 ± 0.0191   |    0.8517    |
    | combination                   | 0.9194 ± 0.0109 |     0.9975     |  0.0781 ± 0.0132   |    0.9200    |
    (combination = augmentation 15 alone: greedy forward selection on validation
    added no remedy to it.) Validation accuracy of the candidates: dropout 0.1 /
    0.25 / 0.5: 0.8883 / 0.8925 / 0.8867; L2 1e-5 / 1e-4 / 1e-3: 0.8892 / 0.8908 /
    0.8842; augmentation 10 / 15 / 20 degrees: 0.9133 / 0.9200 / 0.9192; augmentation
    15 together with dropout 0.25 / L2 1e-4 / early stopping / batch norm: 0.9208 /
    0.9225 / 0.9142 / 0.9100 (the greedy step; L2's +0.25 points is 0.75 of an image
    per repeat, below the threshold of one).

    Bar (best remedy beats no remedy by >= 2 points): NOT met. The best remedy on
    validation, augmentation (15 degrees), beats none by 1.78 ± 1.23 points on test
    (paired per-repeat differences). Tuning the strengths on validation did not
    change that: the tuned dropout (0.25) and L2 (1e-4) no longer hurt as the fixed
    0.5 and 1e-3 did (test 0.893 and 0.892 before), but neither beats none on test.
    Choosing the combination by greedy forward selection on validation did not
    change it either: no remedy added to augmentation gained a validation image per
    repeat, so the combination is augmentation alone. It replaced "every tuned
    remedy that beats none on validation" (augmentation + dropout + L2 + early
    stopping: val 0.9192, test 0.9078 ± 0.0137, below augmentation alone, as early
    stopping cut the augmented training to about 80 of 200 epochs).
    The threshold of one image per repeat was set before the run and is kept. With
    no threshold (`--min-gain-images 0`, run once afterwards, 217 s) L2 joins
    (val 0.9225, then no third remedy helps: 0.9192 with dropout), the combination
    augmentation + L2 is best on validation and beats none by 2.28 ± 1.06 points on
    test (0.9244): the bar would read as met, on a validation gain of 3 images in
    1,200. Changing the default to that run would be choosing on the test split.
    Tried before settling on these defaults (3 repeats each unless said): 200
    training images (none already 0.951 on test, 1 repeat; no remedy above 0.956); 50
    images (none 0.854, augmentation 0.873, L2 0.858, the rest below none); 100 images
    with batches of 32 for 150 epochs (600 steps: none 0.907, dropout 0.913,
    augmentation 0.886-0.908, under-trained); batches of 16 for 200 epochs (the
    default: augmentation's first real gain); 300 epochs (augmentation 0.910 ±
    0.027, noisier, no better); augmentation strengths 1 px / 10 deg / 0.1 zoom (val
    0.922, test 0.919), 0.5 px / 15 deg / 0.15 and 0.5 px / 20 deg / 0.2 (the last
    two are now grid candidates, chosen on validation in every run); fixed, untuned
    dropout 0.5 and L2 1e-3 (test 0.893 and 0.892, both below none), replaced by the
    grids above; a combination of augmentation and early stopping only (test 0.912,
    when the fixed dropout and L2 stayed below none on validation).

    The gain to expect (`python -m benchmarks.regularization_gain`, same day and machine):
    the same training images and initial weights as the recipe's repeats, 6 repeats, each
    network scored on the about 950 pool images outside test, training and validation, so
    the test split is never read. Mean paired gain over none, in points: MLP with 100
    images: augmentation 15 +0.76 ± 0.62, dropout 0.25 +0.21 ± 0.75, augmentation with
    1-pixel shifts -0.81 ± 0.45; with 50 images: +0.45 ± 2.27, -0.25 ± 0.55, -3.04 ± 2.85.
    The CNN (`--architecture cnn`, 100 images; none 0.9125 against the MLP's 0.9034):
    augmentation +1.25 ± 1.01, dropout +0.56 ± 1.09, 1-pixel shifts -1.48 ± 1.05; with 50
    images augmentation -0.32 ± 2.99. The recipe's whole protocol with the CNN, scored the
    same way on pool images (4 repeats, seeds 0 and 1, run once each by an exploratory
    script that swapped the test split for those images; not kept): best remedy on
    validation +1.11 ± 1.14 and +1.16 ± 0.51 points over none. So on 100 digit images these
    remedies gain about one point, and the test split's +1.78 is the upper end of that
    noise: the bar of 2 points is not within reach of this experiment as specified, and we
    stopped rather than search for settings that would cross it on the test split. The
    default stays the MLP, whose run is reported above: switching the default now would
    add a look at the test split without changing that conclusion. The CNN is an option.

## 1. Overfitting, and the experiment

A network overfits when it learns its training examples, noise and all,
rather than what they have in common: training accuracy climbs to 100% while
accuracy on images it has not seen stays well below. The difference, training
accuracy minus test accuracy, is the generalisation gap. Few training
examples and many weights make it large: here 100 images against about
85,000 weights (`--architecture cnn` runs the same experiment on a small
convolutional network of about 87,000). In the default run the plain network
(no remedy) classifies all of its training images correctly from about epoch
10 on, and 90.2% of the test images: a gap of 9.8 points (mean of 4
repeats). Its validation accuracy does not fall as training goes on
(plots/learning_curves.png): the textbook
U-shaped validation curve never appears, the network simply knows its 100
images and generalises from them as far as they allow.

Each remedy is one change to one network, and the comparison is fair: the
same architecture, the same training images, the same initial weights (the
same seed), the same optimiser and the same epoch budget. Only the remedy
differs. One training run on 100 images is noisy, so the experiment is
repeated `--repeats` times (4), each repeat with its own training subset,
validation set and initial weights (seed, seed + 1, ...), and every number is
a mean ± standard deviation over the repeats. Because all remedies share each
repeat's data and weights, the gain of a remedy over no remedy is also
reported paired: the mean ± std of its per-repeat differences.

## 2. The data

The test split (25%, stratified) is fixed by `--seed` and read once, at the
end, for the final scores of the chosen networks. Each repeat draws its
training subset and validation set, both stratified and disjoint, from the
rest.

## 3. The remedies

A remedy with a strength is trained at each candidate strength (on every
repeat), and the candidate with the best validation accuracy, averaged over
the repeats, is that remedy's: one strength per remedy, not one per repeat,
which would chase the noise of 300 validation images.

* none: the plain network, trained for all `--epochs`.
* dropout: each hidden unit is zeroed with probability p during training, so
  no unit can rely on particular others; p from `--dropout-rates` (0.1, 0.25,
  0.5).
* l2: a factor times the sum of squared kernel weights is added to the loss,
  pulling weights towards zero (simpler functions); the factor from
  `--l2-factors` (1e-5, 1e-4, 1e-3).
* early_stopping: training stops once the validation loss has not improved
  for `--patience` epochs, and the weights of its best epoch are restored
  (Keras' `EarlyStopping`).
* augmentation: Keras preprocessing layers shift each training image by up to
  `--shift` (half a) pixel, rotate it by up to d degrees and zoom it by up to
  d percent, d from `--rotations` (10, 15, 20); bilinear interpolation, blank
  (0) borders; a new draw every time the image is seen, so the network never
  sees the same image twice. A whole pixel is an eighth of the image: shifts
  of up to 1 pixel scored lower on validation. The layers do nothing at
  inference, so the exported model takes raw images.
* batch_norm: each hidden layer's pre-activations are normalised over the
  batch, whose composition changes every step (a noise that regularises, and
  better-conditioned training).

## 4. The best combination, chosen on validation

Remedies interact (early stopping cuts short a training that augmentation
has slowed down), so the combination is found by greedy forward selection,
each candidate set trained together and scored on validation: start from the
best single remedy (at its chosen strength); train it together with each
remaining remedy in turn; keep the addition with the best mean validation
accuracy if it beats the current set by more than `--min-gain-images` (1)
validation image per repeat (1/300 = 0.33 points), and repeat; otherwise
stop. A smaller gain is within the noise of 300 validation images, and each
set is the best of several tried on them. If nothing is added, the
combination is the best single remedy, its own networks. The reported best
remedy is the one with the highest mean validation accuracy, the combination
included. The test split plays no part in any choice: the networks of the
other candidates are never scored on it.

What the default run shows. Dropout, L2, early stopping and batch norm only
constrain the network; none of them tells it anything new about digits, and
none beat the plain network on test, even at the strength validation liked
best (batch norm did worst, 0.851, likely because the statistics of
16-image batches are a noisy normalisation that the running averages used
at test time do not match). Tuning mattered only in that the gentler
dropout (0.25) and L2 (1e-4) stopped hurting. Their validation gains over
none, 0.5 and 0.3 points (1.5 and 1 images in 300), are within the noise,
and slightly flattered: each is the best of three candidates on the same
validation images. Augmentation adds information, that a slightly rotated,
shifted or zoomed digit is the same digit: it is the only remedy that
clearly narrowed the gap (7.8 points against 9.8) and raised test accuracy,
to 0.919 from 0.902. Remedies do not simply add up: dropout, L2 and early
stopping all edged past no remedy on validation alone, but added to
augmentation, early stopping (stopping after about 85 of 200 epochs; augmented
training converges slowly) and batch norm lowered its validation accuracy,
and dropout and L2 raised it by less than an image per repeat. The greedy
selection stops there, and the combination is augmentation alone.

## 5. Metrics, curves and export

For each remedy at its chosen strength: test accuracy, training accuracy
(measured in inference mode, no dropout or augmentation) and the
generalisation gap between them, and the validation accuracy used for the
choices; each as mean and std over the repeats. metrics.json also holds the
chosen strengths (`strengths`), the combination's members and every
candidate's mean validation accuracy (`validation_accuracy_by_variant`,
including each set the greedy selection tried).
`history.csv` holds every epoch of every run (variant, repeat);
plots/learning_curves.png shows the first repeat's training and validation
accuracy per remedy, plots/accuracy_by_remedy.png the mean training and test
accuracy of each. The training accuracy in those curves is measured during
training, under the remedy's own noise (dropout, augmentation), which is why
it can sit below the validation accuracy. The best remedy's first-repeat
model is exported: `serve` takes float32 raw images `[batch, 8, 8]` (pixels
0-16) and returns digit probabilities `[batch, 10]`.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from typing import Literal

import kerasml  # noqa: F401  (first: quiets TensorFlow's start-up logs)

import keras  # isort: skip
import numpy as np  # isort: skip
import pandas as pd  # isort: skip
import tensorflow as tf  # isort: skip
from sklearn.datasets import load_digits  # isort: skip
from sklearn.model_selection import train_test_split  # isort: skip

from kerasml import plots  # noqa: E402
from kerasml.recipe import RecipeConfig, field, start_run  # noqa: E402

REMEDIES = ("none", "dropout", "l2", "early_stopping", "augmentation", "batch_norm")
COMBINATION = "combination"


@dataclasses.dataclass
class Config(RecipeConfig):
    epochs: int = field(200, "training epochs for every remedy (early stopping may end sooner)")
    batch_size: int = field(16, "images per training batch")
    learning_rate: float = field(1e-3, "Adam learning rate")
    train_size: int = field(100, "training images per repeat (stratified, at least 1 per digit)")
    val_size: int = field(300, "validation images per repeat (early stopping, every choice)")
    test_fraction: float = field(0.25, "share of the images held out for test")
    repeats: int = field(4, "repeats of the whole experiment, each with its own subset and initial weights")
    architecture: Literal["mlp", "cnn"] = field(
        "mlp", "mlp: two hidden Dense layers; cnn: two 3x3 convolutions, each followed by 2x2 max "
        "pooling, then one hidden Dense layer")
    filters: int = field(32, "cnn: filters of the first convolution (the second has twice as many)")
    units: int = field(256, "units of each hidden Dense layer")
    dropout_rates: tuple[float, ...] = field((0.1, 0.25, 0.5), "dropout remedy: candidate rates (chosen on validation)")
    l2_factors: tuple[float, ...] = field((1e-5, 1e-4, 1e-3), "l2 remedy: candidate factors (chosen on validation)")
    rotations: tuple[float, ...] = field(
        (10.0, 15.0, 20.0), "augmentation remedy: candidate largest rotations in degrees; the largest zoom is "
        "the same number in percent (chosen on validation)")
    shift: float = field(0.5, "augmentation remedy: largest shift in pixels (of 8)")
    patience: int = field(20, "early_stopping remedy: epochs without a better validation loss")
    min_gain_images: float = field(
        1.0, "combination: a remedy joins only if it raises the mean validation accuracy by more than "
        "this many images per repeat's validation set")


QUICK = {"epochs": 3, "train_size": 40, "val_size": 40, "repeats": 1, "units": 16, "filters": 4, "patience": 1,
         "dropout_rates": (0.1, 0.5), "l2_factors": (1e-4,), "rotations": (15.0,)}
CLASSES = 10
# The remedies with a strength, and the Config field holding its candidates.
GRIDS = {"dropout": "dropout_rates", "l2": "l2_factors", "augmentation": "rotations"}


def check_config(config: Config, images: int) -> None:
    """ValueError naming the flag to change."""
    pool = images - int(np.ceil(config.test_fraction * images))
    if not 0 < config.test_fraction < 1:
        raise ValueError(f"--test-fraction must be between 0 and 1, not {config.test_fraction}.")
    if config.train_size < CLASSES or config.val_size < CLASSES:
        raise ValueError(f"--train-size and --val-size need at least {CLASSES} images (one per digit); "
                         f"got {config.train_size} and {config.val_size}.")
    if config.train_size + config.val_size > pool:
        raise ValueError(f"--train-size {config.train_size} + --val-size {config.val_size} exceeds the "
                         f"{pool} images left after the test split; lower them or --test-fraction.")
    if not config.dropout_rates or not all(0 < rate < 1 for rate in config.dropout_rates):
        raise ValueError(f"--dropout-rates needs one or more rates in (0, 1), not {config.dropout_rates}.")
    if not config.l2_factors or not all(factor > 0 for factor in config.l2_factors):
        raise ValueError(f"--l2-factors needs one or more positive factors, not {config.l2_factors}.")
    if not config.rotations or not all(0 < degrees < 100 for degrees in config.rotations):
        raise ValueError(f"--rotations needs one or more angles in (0, 100) degrees, not {config.rotations}.")
    if config.min_gain_images < 0:
        raise ValueError(f"--min-gain-images must be 0 or more, not {config.min_gain_images}.")
    if config.repeats < 1 or config.epochs < 1:
        raise ValueError("--repeats and --epochs must be at least 1.")


# ## 2. Data
def split(config: Config, labels: np.ndarray, repeat: int):
    """Indices (train, val, test): test fixed by --seed, train and val drawn for each repeat."""
    indices = np.arange(len(labels))
    pool, test = train_test_split(indices, test_size=config.test_fraction, stratify=labels,
                                  random_state=config.seed)
    rest, train = train_test_split(pool, test_size=config.train_size, stratify=labels[pool],
                                   random_state=config.seed + repeat)
    _, val = train_test_split(rest, test_size=config.val_size, stratify=labels[rest],
                              random_state=config.seed + repeat)
    return train, val, test


# ## 3. One network, one remedy at a time
def build_model(config: Config, remedies: dict[str, float | None]) -> keras.Model:
    """The network (``config.architecture``) with the given remedies switched on, each at its
    strength (see section 3).

    >>> model = build_model(Config(), {"dropout": 0.25, "augmentation": 15.0, "early_stopping": None})
    """
    l2 = remedies.get("l2")
    regularizer = keras.regularizers.L2(l2) if l2 else None
    batch_norm = "batch_norm" in remedies

    def hidden(layer_class, width, name, **options):
        """One hidden layer: weights [-> batch norm] -> ReLU [-> dropout]."""
        def apply(x):
            x = layer_class(width, use_bias=not batch_norm, kernel_regularizer=regularizer, name=name,
                            **options)(x)
            if batch_norm:
                x = keras.layers.BatchNormalization(name=f"{name}_batch_norm")(x)
            x = keras.layers.ReLU()(x)
            if "dropout" in remedies:
                x = keras.layers.Dropout(remedies["dropout"], name=f"{name}_dropout")(x)
            return x
        return apply

    images = keras.Input((8, 8), name="images")  # raw pixels 0-16
    x = keras.layers.Rescaling(1 / 16, name="scale")(images)
    x = keras.layers.Reshape((8, 8, 1))(x)
    if "augmentation" in remedies:  # active in training only
        degrees = remedies["augmentation"]
        x = keras.layers.RandomTranslation(config.shift / 8, config.shift / 8, fill_mode="constant", name="shift")(x)
        x = keras.layers.RandomRotation(degrees / 360, fill_mode="constant", name="rotate")(x)
        x = keras.layers.RandomZoom(degrees / 100, fill_mode="constant", name="zoom")(x)
    if config.architecture == "cnn":  # 8x8 -> 4x4 -> 2x2 feature maps
        for i, filters in enumerate((config.filters, 2 * config.filters), start=1):
            x = hidden(keras.layers.Conv2D, filters, f"conv_{i}", kernel_size=3, padding="same")(x)
            x = keras.layers.MaxPooling2D(name=f"pool_{i}")(x)
        x = hidden(keras.layers.Dense, config.units, "dense_1")(keras.layers.Flatten()(x))
    else:
        x = keras.layers.Flatten()(x)
        for i in (1, 2):
            x = hidden(keras.layers.Dense, config.units, f"dense_{i}")(x)
    probabilities = keras.layers.Dense(CLASSES, activation="softmax", kernel_regularizer=regularizer,
                                       name="digit")(x)
    model = keras.Model(images, probabilities, name="_".join(sorted(remedies)) or "none")
    # One compiled call per epoch instead of one per batch: on these 7-batch epochs Python's
    # per-step overhead, not the arithmetic, took half the time (the same weights, measured).
    steps = -(-config.train_size // config.batch_size)
    model.compile(keras.optimizers.Adam(config.learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], steps_per_execution=steps)
    return model


def train_once(config: Config, remedies: dict[str, float | None], data: dict, seed: int, verbose: int):
    """Train one variant on one repeat's data; the model, its per-epoch history and its
    training and validation scores (the test split is scored later, only for the chosen)."""
    keras.utils.set_random_seed(seed)  # the same initial weights for every remedy of a repeat
    model = build_model(config, remedies)
    # Each of the many small runs keeps its history in memory (written to one history.csv
    # at the end); run.callbacks' backups and TensorBoard logs per run would cost more
    # than the training, and its early stopping is a remedy here, not a default.
    stop = [keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience,
                                          restore_best_weights=True)] if "early_stopping" in remedies else []
    # tf.data pipelines, built once: with NumPy arrays Keras rebuilds its iterators every
    # epoch, which took 3-4 times as long as the training itself on these 7-batch epochs.
    train = tf.data.Dataset.from_tensor_slices(data["train"]).cache()
    train = train.shuffle(len(data["train"][1]), seed=seed).batch(config.batch_size)
    val = tf.data.Dataset.from_tensor_slices(data["val"]).batch(512).cache()
    history = model.fit(train, validation_data=val, epochs=config.epochs, callbacks=stop,
                        shuffle=False, verbose=verbose)  # the dataset shuffles itself
    scores = {f"{name}_accuracy": accuracy(model, data[name]) for name in ("train", "val")}
    scores["epochs_trained"] = len(history.history["loss"])
    return model, history.history, scores


def accuracy(model: keras.Model, part: tuple[np.ndarray, np.ndarray]) -> float:
    """Accuracy in inference mode (no dropout, no augmentation)."""
    return model.evaluate(*part, batch_size=512, verbose=0, return_dict=True)["accuracy"]


def variants(config: Config) -> dict[str, dict[str, float | None]]:
    """Every network to train before the choices: no remedy, and each remedy at each candidate strength."""
    found = {}
    for remedy in REMEDIES:
        strengths = getattr(config, GRIDS[remedy]) if remedy in GRIDS else [None]
        for strength in strengths:
            found[variant_name(remedy, strength)] = {} if remedy == "none" else {remedy: strength}
    return found


def variant_name(remedy: str, strength: float | None) -> str:
    return remedy if strength is None else f"{remedy} {strength:g}"


def mean_val(runs: list[dict]) -> float:
    return float(np.mean([r["val_accuracy"] for r in runs]))


def greedy_combination(singles: dict[str, float], score, min_gain: float) -> list[str]:
    """Greedy forward selection of remedies on validation accuracy (the wrapper method of
    Kohavi & John 1997, "Wrappers for Feature Subset Selection"): start from the best single
    remedy; add the one whose addition scores best, while that beats the current set by
    more than ``min_gain``. Remedies interact, so each set is scored as trained together.
    Written here because scikit-learn's SequentialFeatureSelector selects feature columns
    by cross-validation, not variants of a network scored on a fixed validation set.

    singles: each remedy's validation accuracy alone; score(members): the validation
    accuracy of those remedies trained together (called for sets of two or more only).

    >>> greedy_combination({"a": 0.90, "b": 0.85, "c": 0.80},
    ...                    lambda m: {("a", "b"): 0.93, ("a", "c"): 0.91}.get(tuple(m), 0.0), 0.01)
    ['a', 'b']
    """
    members = [max(singles, key=singles.get)]
    current = singles[members[0]]
    while len(members) < len(singles):
        tried = {remedy: score([*members, remedy]) for remedy in singles if remedy not in members}
        addition = max(tried, key=tried.get)
        if tried[addition] <= current + min_gain:
            break
        members.append(addition)
        current = tried[addition]
    return members


def summarise(runs: list[dict]) -> dict:
    """Mean over repeats of each score; std of test accuracy and gap."""
    summary = {}
    for key in ("test_accuracy", "train_accuracy", "generalization_gap", "val_accuracy", "epochs_trained"):
        values = np.array([r[key] for r in runs], dtype=float)
        summary[key] = float(values.mean())
        if key in ("test_accuracy", "generalization_gap"):
            summary[f"{key}_std"] = float(values.std())
    return summary


# ## 4-5. The experiment, the choices, the report
def main(argv=None) -> dict:
    run = start_run("regularization", Config, argv, description=__doc__, quick=QUICK)
    config = run.config
    digits = load_digits()
    images, labels = digits.images.astype("float32"), digits.target.astype("int32")
    check_config(config, len(labels))
    verbose = run.fit_verbose if run.options.verbose else 0
    splits = [{part: (images[i], labels[i]) for part, i in zip(("train", "val", "test"), split(config, labels, r))}
              for r in range(config.repeats)]
    candidates = variants(config)
    run.log(f"data: digits, {config.train_size} training and {config.val_size} validation images per "
            f"repeat, {len(splits[0]['test'][1])} test images; {config.repeats} repeat(s), {config.epochs} "
            f"epochs; {len(candidates)} variants (each strength) x {config.repeats} repeats, then the greedy "
            f"combination")

    results: dict[str, list[dict]] = {}
    models: dict[str, list[keras.Model]] = {}
    histories = []

    def train_variant(name: str, remedies: dict) -> None:
        for repeat, data in enumerate(splits):
            started = time.perf_counter()
            model, history, scores = train_once(config, remedies, data, config.seed + repeat, verbose)
            results.setdefault(name, []).append(scores)
            models.setdefault(name, []).append(model)
            histories.append(pd.DataFrame({"variant": name, "repeat": repeat,
                                           "epoch": range(1, scores["epochs_trained"] + 1), **history}))
            run.log(f"{name:>18s} repeat {repeat}: train {scores['train_accuracy']:.4f}  "
                    f"val {scores['val_accuracy']:.4f}  ({scores['epochs_trained']} epochs, "
                    f"{time.perf_counter() - started:.1f} s)")

    with run.timer("train"):
        for name, remedies in candidates.items():
            train_variant(name, remedies)
        # Each remedy's strength: the candidate with the best validation accuracy, averaged over
        # the repeats (one strength per remedy; a per-repeat pick would chase 300-image noise).
        strengths = {remedy: max(getattr(config, grid), key=lambda s: mean_val(results[variant_name(remedy, s)]))
                     for remedy, grid in GRIDS.items()}
        chosen = {remedy: variant_name(remedy, strengths.get(remedy)) for remedy in REMEDIES}
        val = {remedy: mean_val(results[name]) for remedy, name in chosen.items()}
        run.log(f"strengths chosen on validation: {strengths}")

        def combination_name(members: list[str]) -> str:
            return f"{COMBINATION}: " + " + ".join(chosen[m] for m in members)

        def score(members: list[str]) -> float:
            name = combination_name(members)
            train_variant(name, {m: strengths.get(m) for m in members})
            run.log(f"{name}: mean val {mean_val(results[name]):.4f}")
            return mean_val(results[name])

        # A gain of one validation image per repeat (1/300) is the default least gain to add a remedy.
        members = greedy_combination({remedy: val[remedy] for remedy in REMEDIES[1:]}, score,
                                     config.min_gain_images / config.val_size)
        # A combination of one remedy is that remedy's own networks.
        chosen[COMBINATION] = combination_name(members) if len(members) > 1 else chosen[members[0]]
        run.log(f"combination (greedy forward selection on validation): {' + '.join(members)}")
        val[COMBINATION] = mean_val(results[chosen[COMBINATION]])
    best = max(val, key=val.get)  # on validation, never on test

    # The test split, read once: only the chosen variants, only now.
    for name in chosen.values():
        for scores, model, data in zip(results[name], models[name], splits):
            scores["test_accuracy"] = accuracy(model, data["test"])
            scores["generalization_gap"] = scores["train_accuracy"] - scores["test_accuracy"]
    per_remedy = {remedy: summarise(results[name]) for remedy, name in chosen.items()}
    gains = np.array([b["test_accuracy"] - n["test_accuracy"]
                      for b, n in zip(results[chosen[best]], results["none"])])
    metrics = {**per_remedy[best], "best_remedy": best, "strengths": strengths, "combination": members,
               "gain_over_none_points": 100 * float(gains.mean()),
               "gain_over_none_points_std": 100 * float(gains.std()),
               "meets_bar": bool(100 * gains.mean() >= 2)}
    run.log(f"best remedy on validation: {chosen[best]}; test accuracy {metrics['test_accuracy']:.4f} "
            f"± {metrics['test_accuracy_std']:.4f} against none's {per_remedy['none']['test_accuracy']:.4f}: "
            f"{metrics['gain_over_none_points']:+.2f} ± {metrics['gain_over_none_points_std']:.2f} points")

    pd.concat(histories).to_csv(run.dir / "history.csv", index=False)
    plot_results(run, histories, chosen, per_remedy)
    run.export(models[chosen[best]][0], splits[0]["test"][0][:64])  # served with training=False
    return run.finish(
        dataset=f"digits (scikit-learn, embedded); {config.train_size} training images per repeat",
        metrics=metrics, baselines=per_remedy,
        extra={"repeats": config.repeats, "variants": chosen,
               "validation_accuracy_by_variant": {name: mean_val(runs) for name, runs in results.items()},
               "per_repeat": {remedy: results[name] for remedy, name in chosen.items()},
               "serving": {"input": "float32 [batch, 8, 8] raw pixels 0-16",
                           "output": f"float32 [batch, {CLASSES}] digit probabilities"}})


def plot_results(run, histories: list[pd.DataFrame], chosen: dict[str, str], per_remedy: dict) -> None:
    """Learning curves of the first repeat per remedy (at its chosen strength); train and test accuracy per remedy."""
    first = {h["variant"].iloc[0]: h for h in histories if h["repeat"].iloc[0] == 0}
    plots.plot_line_panels(run.plot_path("learning_curves.png"),
                           {(name if remedy != COMBINATION else remedy):  # its members: in metrics.json
                            {"training (under the remedy)": first[name]["accuracy"],
                             "validation": first[name]["val_accuracy"]} for remedy, name in chosen.items()},
                           xlabel="epoch", ylabel="accuracy",
                           title="Accuracy per epoch, first repeat, one panel per remedy at its chosen strength")
    names = list(per_remedy)
    plots.plot_lines(run.plot_path("accuracy_by_remedy.png"),
                     {"train (inference mode)": [per_remedy[n]["train_accuracy"] for n in names],
                      "test": [per_remedy[n]["test_accuracy"] for n in names]},
                     x=names, title="Mean accuracy over repeats: the gap is the generalisation gap",
                     ylabel="accuracy", styles={k: {"marker": "o"} for k in ("train (inference mode)", "test")})


if __name__ == "__main__":
    main(sys.argv[1:])
