import itertools
import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.metrics import accuracy_score, f1_score

from recipes import sequence_labeling
from recipes.sequence_labeling import HMM

METRIC_KEYS = {"test_step_accuracy", "test_macro_f1", "test_sequence_accuracy", "test_sequence_f1"}


def random_hmm(rng, states, symbols):
    def rows(n, m):
        p = rng.random((n, m)) + 0.05
        return p / p.sum(-1, keepdims=True)

    start, trans, emit = rows(1, states)[0], rows(states, states), rows(states, symbols)
    return HMM(np.log(start), np.log(trans), np.log(emit)), (start, trans, emit)


def brute_force(observations, start, trans, emit):
    """Joint probability of every state path, by enumeration (plain products, no log space)."""
    paths = list(itertools.product(range(len(start)), repeat=len(observations)))
    joint = []
    for path in paths:
        p = start[path[0]] * emit[path[0], observations[0]]
        for t in range(1, len(path)):
            p *= trans[path[t - 1], path[t]] * emit[path[t], observations[t]]
        joint.append(p)
    return np.array(paths), np.array(joint)


@pytest.mark.parametrize("states,symbols,length", [(2, 3, 1), (3, 4, 5), (4, 3, 6)])
def test_viterbi_and_forward_backward_match_brute_force(states, symbols, length):
    rng = np.random.default_rng(states * 10 + length)
    for _ in range(5):
        hmm, (start, trans, emit) = random_hmm(rng, states, symbols)
        observations = rng.integers(0, symbols, size=length)
        paths, joint = brute_force(observations, start, trans, emit)
        np.testing.assert_array_equal(sequence_labeling.viterbi(observations, hmm), paths[np.argmax(joint)])
        posterior, log_likelihood = sequence_labeling.forward_backward(observations, hmm)
        assert log_likelihood == pytest.approx(np.log(joint.sum()), rel=1e-9)
        marginals = np.array([[joint[paths[:, t] == k].sum() for k in range(states)] for t in range(length)])
        np.testing.assert_allclose(posterior, marginals / joint.sum(), atol=1e-12)


def test_emission_only_is_the_per_symbol_argmax():
    rng = np.random.default_rng(0)
    hmm, (start, _, emit) = random_hmm(rng, 3, 5)
    observations = np.arange(5)
    expected = [np.argmax(start * emit[:, o]) for o in observations]
    np.testing.assert_array_equal(sequence_labeling.emission_only(observations, hmm), expected)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("sequence_labeling")
    return sequence_labeling.main(["--quick", "--output-dir", str(output_dir)]), output_dir


def test_quick_run_report(quick_run):
    report, output_dir = quick_run
    assert report["recipe"] == "sequence_labeling"
    assert METRIC_KEYS <= set(report["metrics"])
    assert {"viterbi", "forward_backward", "emission_only", "majority_class"} <= set(report["baselines"])
    assert all(math.isfinite(report["metrics"][k]) for k in METRIC_KEYS)
    for name in ("viterbi", "forward_backward", "emission_only"):
        assert all(math.isfinite(v) for v in report["baselines"][name].values())
    assert json.loads((output_dir / "metrics.json").read_text()) == report
    for name in ("history.csv", "history_classifier.csv", "model.keras", "classifier.keras",
                 "plots/history.png", "plots/example_0.png"):
        assert (output_dir / name).exists(), name


def test_metrics_agree_with_scikit_learn_on_real_steps_only(quick_run):
    report, output_dir = quick_run
    data = np.load(output_dir / "test_predictions.npz")
    real = np.arange(data["tokens"].shape[1]) < data["lengths"][:, None]
    assert np.array_equal(real, data["tokens"] != 0)
    true, pred = data["states"][real], data["predicted"][real]
    assert report["metrics"]["test_step_accuracy"] == pytest.approx(accuracy_score(true, pred))
    assert report["metrics"]["test_macro_f1"] == pytest.approx(f1_score(true, pred, average="macro"))
    # The sequence labels: the most frequent state among the real steps, by counting.
    for states, length, majority in zip(data["states"], data["lengths"], data["majority"]):
        counts = [list(states[:length]).count(s) for s in range(4)]
        assert majority == counts.index(max(counts))
    assert report["metrics"]["test_sequence_accuracy"] == pytest.approx(
        accuracy_score(data["majority"], data["predicted_majority"]))


def test_saved_models_serve_padded_tokens_and_ignore_padding(quick_run):
    _, output_dir = quick_run
    data = np.load(output_dir / "test_predictions.npz")
    tokens, lengths = data["tokens"][:16], data["lengths"][:16]
    real = tokens != 0
    reloaded = tf.saved_model.load(str(output_dir / "saved_model"))
    served = reloaded.serve(tf.constant(tokens)).numpy()
    keras_model = keras.saving.load_model(output_dir / "model.keras")
    np.testing.assert_allclose(served, keras.ops.convert_to_numpy(keras_model(tokens)), atol=1e-5)
    np.testing.assert_array_equal(np.argmax(served, -1)[real], data["predicted"][:16][real])
    assert np.all(served[~real] == 0)
    np.testing.assert_allclose(served[real].sum(-1), 1, atol=1e-5)
    # More padding changes nothing on the real steps.
    longer = np.pad(tokens, ((0, 0), (0, 7)))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras_model(longer))[:, :tokens.shape[1]], served,
                               atol=1e-5)
    # The loss ignores whatever label sits at a padded step.
    states = data["states"][:16]
    other = np.where(real, states, 3)
    assert keras_model.evaluate(tokens, states, verbose=0)[0] == pytest.approx(
        keras_model.evaluate(tokens, other, verbose=0)[0], rel=1e-5)
    assert lengths.min() < tokens.shape[1]  # the check above did cover padding

    classifier = tf.saved_model.load(str(output_dir / "saved_model_classifier"))
    probabilities = classifier.serve(tf.constant(tokens)).numpy()
    assert probabilities.shape == (16, 4)
    np.testing.assert_array_equal(np.argmax(probabilities, -1), data["predicted_majority"][:16])
    np.testing.assert_allclose(probabilities.sum(-1), 1, atol=1e-5)
    np.testing.assert_allclose(classifier.serve(tf.constant(longer)).numpy(), probabilities, atol=1e-5)


def test_generated_data_follows_the_hmm():
    config = sequence_labeling.Config(train_sequences=4000, val_sequences=1, test_sequences=1,
                                      min_length=30, max_length=30)
    _, data = sequence_labeling.make_data(config)
    tokens, states, lengths, _ = data["train"]
    assert np.all(lengths == 30) and tokens.min() >= 1
    stays = np.mean(states[:, 1:] == states[:, :-1])
    assert stays == pytest.approx(config.stay, abs=0.01)
    preferred = (tokens - 1) // config.symbols_per_state == states
    assert np.mean(preferred) == pytest.approx(1 - config.emission_noise, abs=0.01)
