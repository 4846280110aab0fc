"""regularization recipe: quick run, SavedModel serving raw images with augmentation off,
scores recomputed with scikit-learn, each remedy's layers checked against NumPy."""

import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import load_digits
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

from recipes import regularization

DIGITS = load_digits()
ROWS = ("none", "dropout", "l2", "early_stopping", "augmentation", "batch_norm", "combination")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("regularization")
    return regularization.main(["--quick", "--output-dir", str(output_dir)]), output_dir


def test_report_keys_and_finite_metrics(quick_run):
    report, output_dir = quick_run
    metrics = report["metrics"]
    assert report["recipe"] == "regularization"
    assert {"test_accuracy", "generalization_gap", "gain_over_none_points", "best_remedy", "meets_bar"} <= set(metrics)
    assert metrics["best_remedy"] in ROWS
    assert set(report["baselines"]) == set(ROWS)
    for name, row in report["baselines"].items():
        for key in ("test_accuracy", "train_accuracy", "generalization_gap", "val_accuracy"):
            assert math.isfinite(row[key]), (name, key)
        assert row["generalization_gap"] == pytest.approx(row["train_accuracy"] - row["test_accuracy"])
    assert metrics["test_accuracy"] == report["baselines"][metrics["best_remedy"]]["test_accuracy"]
    assert json.loads((output_dir / "metrics.json").read_text()) == report
    for name in ("history.csv", "model.keras", "plots/learning_curves.png", "plots/accuracy_by_remedy.png"):
        assert (output_dir / name).exists(), name


def test_strengths_combination_and_best_remedy_are_chosen_on_validation(quick_run):
    report, _ = quick_run
    metrics, by_variant = report["metrics"], report["validation_accuracy_by_variant"]
    config = report["config"]
    singles = {"none", "early_stopping", "batch_norm", *(f"dropout {r:g}" for r in config["dropout_rates"]),
               *(f"l2 {f:g}" for f in config["l2_factors"]), *(f"augmentation {d:g}" for d in config["rotations"])}
    for remedy, grid in (("dropout", "dropout_rates"), ("l2", "l2_factors"), ("augmentation", "rotations")):
        best_strength = max(config[grid], key=lambda s: by_variant[f"{remedy} {s:g}"])
        assert metrics["strengths"][remedy] == best_strength
        assert report["variants"][remedy] == f"{remedy} {best_strength:g}"
    val = {name: row["val_accuracy"] for name, row in report["baselines"].items()}
    # The greedy combination, retraced from the validation table: from the best single remedy, add
    # the remedy scoring best in combination while it gains more than min_gain_images per repeat.
    remedies = [r for r in val if r not in ("none", "combination")]
    members = [max(remedies, key=val.get)]
    current, visited = val[members[0]], set()
    while len(members) < len(remedies):
        names = {r: "combination: " + " + ".join(report["variants"][m] for m in [*members, r])
                 for r in remedies if r not in members}
        visited |= set(names.values())
        addition = max(names, key=lambda r: by_variant[names[r]])
        if by_variant[names[addition]] <= current + config["min_gain_images"] / config["val_size"]:
            break
        members.append(addition)
        current = by_variant[names[addition]]
    assert metrics["combination"] == members
    assert set(by_variant) == singles | visited
    assert val["combination"] == pytest.approx(current)
    assert val[metrics["best_remedy"]] == max(val.values())
    for remedy, row in report["baselines"].items():
        assert row["val_accuracy"] == pytest.approx(by_variant[report["variants"][remedy]])


def test_saved_model_serves_raw_images_with_augmentation_off(quick_run):
    report, output_dir = quick_run
    _, test = train_test_split(np.arange(len(DIGITS.target)), test_size=0.25, stratify=DIGITS.target,
                               random_state=report["config"]["seed"])
    images = DIGITS.images[test].astype("float32")
    reloaded = tf.saved_model.load(str(output_dir / "saved_model"))  # held: a dropped object frees its variables
    served = reloaded.serve(tf.constant(images)).numpy()
    np.testing.assert_allclose(served.sum(-1), 1, atol=1e-5)
    keras_model = keras.saving.load_model(output_dir / "model.keras")
    np.testing.assert_allclose(served, keras_model.predict(images, verbose=0), atol=1e-5)
    # The exported model is the first repeat's model of the best remedy: its test score.
    first = report["per_repeat"][report["metrics"]["best_remedy"]][0]
    assert accuracy_score(DIGITS.target[test], served.argmax(-1)) == pytest.approx(first["test_accuracy"])


def test_greedy_combination_adds_by_validation_until_the_gain_is_too_small():
    singles = {"augmentation": 0.920, "dropout": 0.893, "l2": 0.891, "early_stopping": 0.891, "batch_norm": 0.852}
    # Validation accuracy of remedies trained together; early stopping alone ties L2 but hurts in combination.
    table = {("augmentation", "dropout"): 0.921, ("augmentation", "l2"): 0.926,
             ("augmentation", "early_stopping"): 0.905, ("augmentation", "batch_norm"): 0.860,
             ("augmentation", "l2", "dropout"): 0.930, ("augmentation", "l2", "early_stopping"): 0.900,
             ("augmentation", "l2", "batch_norm"): 0.870}
    calls = []

    def score(members):
        calls.append(tuple(members))
        return table.get(tuple(members), 0.0)  # sets of four: worse

    one_image = 1 / 300  # l2 gains 1.8 images, dropout then 1.2: both join; with 1.5 images dropout does not
    assert regularization.greedy_combination(singles, score, one_image) == ["augmentation", "l2", "dropout"]
    assert set(table) <= set(calls)  # every addition tried at every step, scored in combination
    assert regularization.greedy_combination(singles, lambda m: table.get(tuple(m), 0.0), 1.5 / 300) == [
        "augmentation", "l2"]
    # No addition beats the best single remedy by more than one image: it stays alone.
    assert regularization.greedy_combination(singles, lambda m: 0.921, one_image) == ["augmentation"]


def test_splits_are_disjoint_stratified_and_test_is_fixed():
    config = regularization.Config(train_size=100, val_size=200)
    first = regularization.split(config, DIGITS.target, 0)
    second = regularization.split(config, DIGITS.target, 1)
    train, val, test = first
    assert len(set(train) | set(val) | set(test)) == len(train) + len(val) + len(test)
    assert (len(train), len(val)) == (100, 200)
    assert np.all(np.bincount(DIGITS.target[train], minlength=10) == 10)
    np.testing.assert_array_equal(test, second[2])
    assert set(train) != set(second[0])


@pytest.mark.parametrize("architecture, weighted_layers", [("cnn", 4), ("mlp", 3)])
def test_l2_adds_the_squared_weights_to_the_loss(architecture, weighted_layers):
    config = regularization.Config(architecture=architecture, units=8, filters=4)
    model = regularization.build_model(config, {"l2": 1e-2})
    kernels = [layer.kernel.numpy() for layer in model.layers
               if isinstance(layer, (keras.layers.Dense, keras.layers.Conv2D))]
    assert len(kernels) == weighted_layers
    expected = 1e-2 * sum(np.sum(k ** 2) for k in kernels)
    assert float(sum(model.losses)) == pytest.approx(expected, rel=1e-5)
    assert not regularization.build_model(config, {}).losses


@pytest.mark.parametrize("architecture", ["cnn", "mlp"])
def test_dropout_and_augmentation_act_in_training_only(architecture):
    images = DIGITS.images[:32].astype("float32")
    for remedy, strength in (("dropout", 0.5), ("augmentation", 15.0)):
        model = regularization.build_model(regularization.Config(architecture=architecture, units=16),
                                           {remedy: strength})
        inference = model(images, training=False)
        np.testing.assert_allclose(model(images, training=False), inference)
        assert not np.allclose(model(images, training=True), inference, atol=1e-3), remedy


def test_bad_sizes_name_the_flag(tmp_path):
    with pytest.raises(ValueError, match="--train-size"):
        regularization.main(["--quick", "--train-size", "1500", "--output-dir", str(tmp_path)])
    with pytest.raises(ValueError, match="--dropout-rates"):
        regularization.main(["--quick", "--dropout-rates", "0.1", "1", "--output-dir", str(tmp_path)])
    with pytest.raises(ValueError, match="--l2-factors"):
        regularization.main(["--quick", "--l2-factors", "0", "--output-dir", str(tmp_path)])
    with pytest.raises(ValueError, match="--min-gain-images"):
        regularization.main(["--quick", "--min-gain-images", "-1", "--output-dir", str(tmp_path)])
