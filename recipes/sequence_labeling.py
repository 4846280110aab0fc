"""Title: Sequence labelling and sequence classification with masked RNNs on HMM data

Architecture: tokens -> Embedding(mask_zero=True) -> Bidirectional(GRU,
    return_sequences=True) -> SequenceHead(softmax) labels every step; beside
    it tokens -> Embedding(mask_zero=True) -> GRU(return_sequences=True) ->
    LastStepHead -> Dense(softmax) classifies each whole sequence.
Paper(s): Graves 2012, "Supervised Sequence Labelling with Recurrent Neural
    Networks"; Cho et al. 2014, "Learning Phrase Representations using RNN
    Encoder-Decoder" (GRU); Schuster & Paliwal 1997, "Bidirectional Recurrent
    Neural Networks"; Rabiner 1989, "A Tutorial on Hidden Markov Models"
    (Viterbi, forward and forward-backward algorithms, the baselines).
Dataset: generated in the run: variable-length sequences (lengths 20-60)
    of noisy symbols emitted by a hidden Markov model with known parameters
    (4 hidden states, 8 symbols); the hidden state of every step is the label.
    The sequence task labels each whole sequence with its majority hidden
    state (the state it spent the most steps in; ties go to the lower id).
    Sizes, lengths and the noise level are flags (`--emission-noise`, ...).
Run: python -m recipes.sequence_labeling
    python -m recipes.sequence_labeling --emission-noise 0.5 --max-length 100

Results: default run (1000 test sequences, 39,950 real test steps), measured
    2026-11-24 on x86_64, 2 cores shared with other jobs (load average 10-13;
    Keras 3.15.1, TensorFlow 2.21.0), seed 0, by
    `python -m benchmarks.run_recipes sequence_labeling`, 252 s in all:
                                 step accuracy  macro F1 | majority-state accuracy  macro F1
      BiGRU tagger / GRU clf.        0.7409      0.7408  |        0.7110            0.7079
      Viterbi (true parameters)      0.7283      0.7284  |        0.7070            0.7057
      forward-backward (true)        0.7440      0.7440  |        0.7450            0.7446
      emission only (true)           0.5982      0.5981  |        0.7320            0.7305
      majority class                    -           -    |        0.2830            0.1103
    Bar (step accuracy >= 97% of Viterbi's): met, 101.7% of Viterbi (0.7409 vs
    0.7283); the tagger is within 0.003 of forward-backward, the per-step optimum.
    The majority-state classifier (0.711) is below the emission-only majority
    vote (0.732) and forward-backward (0.745): counting over 20-60 steps through
    one last GRU state is harder for it than labelling each step.

## 1. The data: a hidden Markov model with known parameters

A hidden Markov model (HMM) walks between hidden states with a transition
matrix and, at every step, emits a symbol drawn from its state's emission
distribution. Here each state prefers two of the symbols; with probability
`emission_noise` the symbol is drawn uniformly from the others instead, so a
single symbol says only roughly which state emitted it. States are sticky
(they stay with probability `stay`), so neighbouring symbols help: that is
what a sequence model can exploit and a per-step classifier cannot. Because
we know the true parameters we also know the best any decoder can do.

Sequences have random lengths. They are right-padded with token 0 to the
longest one (real symbols are 1..8), and the labels are padded with state 0:
a *valid* class id, because sparse crossentropy rejects -1 even where the
step's weight is 0. The padding label is never scored: see section 4.

## 2. The ceiling and the baselines, computed with the true parameters

* Viterbi decoding (the catalogue's ceiling): the single most likely state
  path given the whole sequence.
* Forward-backward (posterior) decoding: at every step the most likely state
  given the whole sequence. It maximises the expected number of correct steps,
  so on per-step accuracy it can edge past Viterbi; it is reported so that a
  network that beats Viterbi slightly is not a surprise.
* Emission only: the most likely state given that step's symbol alone (prior
  times emission), what a `Dense` layer on one step could at best learn.
For the sequence task each decoder's majority state is its guess; for
forward-backward, the state with the largest expected number of steps (the
sum of its posteriors). The majority class of the training sequences is
the trivial baseline.

All are written in NumPy in log space; the tests check Viterbi and the
forward-backward algorithm against brute-force enumeration of every state
path.

## 3. Two models, two output shapes

Both read `[batch, time]` int tokens; `Embedding(mask_zero=True)` turns them
into `[batch, time, features]` and derives the mask `[batch, time]` (True at
real tokens) that Keras hands to every later layer.

* Labelling, `[B, T, F] -> [B, T, C]`: the GRU runs with
  `return_sequences=True`, giving one hidden vector per step; wrapped in
  `Bidirectional`, each step sees both its past and its future, as Viterbi
  does. `SequenceHead` (what `TimeDistributed(Dense)` does, but honouring the
  mask) maps each step to C = 4 state probabilities and zeroes padded steps.
* Classification, `[B, T, F] -> [B, C]`: one vector per sequence. The GRU
  returns every step and `LastStepHead` picks the last *valid* one, which is
  what `return_sequences=False` means for a padded batch (plain `x[:, -1]`
  would read padding for every sequence shorter than the batch). The
  classifier is unidirectional on purpose: the backward half of a
  bidirectional GRU has seen only the final token at the last step.

## 4. Masked loss and metrics

`SequenceHead` keeps the mask on its output, so Keras 3 weights the loss and
the `accuracy` metric by it: padded steps count for nothing, and the loss is
the mean over real steps. Test metrics are computed outside Keras over the
real steps only (scikit-learn's accuracy and macro F1, the average of the
per-state F1 scores).

## 5. Training, evaluation, export

Adam, early stopping on the validation loss (best weights restored). The
run reports the tagger's step accuracy as a fraction of Viterbi's (bar: at
least 0.97). Both models are exported: `saved_model/` (the tagger) takes
int32 tokens `[batch, time]` padded with 0 and returns `[batch, time, 4]`
state probabilities (zero at padding); `saved_model_classifier/` takes the
same tokens and returns `[batch, 4]` probabilities of the majority state. The
mask is implied by the zeros. `test_predictions.npz` holds the test tokens,
true states and the tagger's predicted states.
"""

from __future__ import annotations

import dataclasses
import sys

import kerasml  # noqa: F401  (first: quiets TensorFlow's start-up logs)

import keras  # isort: skip
import numpy as np  # isort: skip
from scipy.special import logsumexp  # isort: skip
from sklearn.metrics import accuracy_score, f1_score  # isort: skip

from kerasml import plots  # noqa: E402
from kerasml.layers import LastStepHead, SequenceHead  # noqa: E402
from kerasml.recipe import RecipeConfig, field, start_run, verify_saved_model  # noqa: E402


@dataclasses.dataclass
class Config(RecipeConfig):
    epochs: int = field(40, "maximum training epochs (early stopping usually ends sooner)")
    batch_size: int = field(64, "sequences per training batch")
    learning_rate: float = field(3e-3, "Adam learning rate")
    states: int = field(4, "hidden states of the HMM (the labels)")
    symbols_per_state: int = field(2, "symbols each state prefers (there are states x this symbols)")
    stay: float = field(0.85, "probability that the hidden state stays the same for the next step")
    emission_noise: float = field(0.4, "probability that a step emits a symbol its state does not prefer")
    min_length: int = field(20, "shortest sequence")
    max_length: int = field(60, "longest sequence (the padded length)")
    train_sequences: int = field(3000, "training sequences (per task)")
    val_sequences: int = field(500, "validation sequences (per task)")
    test_sequences: int = field(1000, "test sequences (per task)")
    embedding_dim: int = field(16, "token embedding width")
    units: int = field(32, "GRU units (per direction for the tagger)")
    patience: int = field(5, "early-stopping patience in epochs")


QUICK = {"epochs": 2, "train_sequences": 128, "val_sequences": 32, "test_sequences": 64,
         "units": 8, "max_length": 30, "min_length": 5}


# ## 1. Data
@dataclasses.dataclass
class HMM:
    """Log-space parameters: start [K], transitions [K, K] (row = from), emissions [K, V]."""

    log_start: np.ndarray
    log_trans: np.ndarray
    log_emit: np.ndarray

    @classmethod
    def from_probs(cls, start, trans, emit) -> HMM:
        with np.errstate(divide="ignore"):
            return cls(np.log(start), np.log(trans), np.log(emit))


def make_hmm(config: Config) -> HMM:
    """Sticky states, any state may follow any other; each state prefers its own symbols."""
    k = config.states
    symbols = k * config.symbols_per_state
    emit = np.full((k, symbols), config.emission_noise / (symbols - config.symbols_per_state))
    for state in range(k):
        preferred = slice(state * config.symbols_per_state, (state + 1) * config.symbols_per_state)
        emit[state, preferred] = (1 - config.emission_noise) / config.symbols_per_state
    start = np.full(k, 1 / k)
    trans = np.full((k, k), (1 - config.stay) / (k - 1))
    np.fill_diagonal(trans, config.stay)
    return HMM.from_probs(start, trans, emit)


def sample(hmm: HMM, count: int, config: Config, rng: np.random.Generator):
    """Padded int tokens [count, max_length] (symbol + 1; 0 = padding), states (0-padded), lengths."""
    trans, emit = np.exp(hmm.log_trans), np.exp(hmm.log_emit)
    lengths = rng.integers(config.min_length, config.max_length + 1, size=count)
    states = np.zeros((count, config.max_length), dtype="int32")
    draws = rng.random((count, config.max_length, 2))
    cum_start, cum_trans, cum_emit = np.cumsum(np.exp(hmm.log_start)), np.cumsum(trans, 1), np.cumsum(emit, 1)
    # Inverse-CDF sampling, all sequences at once: the index of the first cumulative probability above u.
    states[:, 0] = (draws[:, 0, 0, None] > cum_start).sum(1)
    for t in range(1, config.max_length):
        states[:, t] = (draws[:, t, 0, None] > cum_trans[states[:, t - 1]]).sum(1)
    symbols = (draws[..., 1, None] > cum_emit[states]).sum(-1)
    symbols = np.minimum(symbols, emit.shape[1] - 1)  # guards against float round-off at u ~ 1
    valid = np.arange(config.max_length) < lengths[:, None]
    tokens = np.where(valid, symbols + 1, 0).astype("int32")
    return tokens, np.where(valid, states, 0).astype("int32"), lengths


def majority_state(states: np.ndarray, lengths: np.ndarray, k: int) -> np.ndarray:
    """The state with the most real steps in each padded sequence (ties: the lower id)."""
    real = np.arange(states.shape[1]) < lengths[:, None]
    counts = np.stack([np.sum((states == s) & real, axis=1) for s in range(k)], axis=1)
    return np.argmax(counts, axis=1).astype("int32")


def make_data(config: Config):
    """The HMM and {split: (tokens, states, lengths, majority state)}."""
    rng = np.random.default_rng(config.seed)
    hmm = make_hmm(config)
    splits = {"train": config.train_sequences, "val": config.val_sequences, "test": config.test_sequences}
    data = {}
    for name, n in splits.items():
        tokens, states, lengths = sample(hmm, n, config, rng)
        data[name] = (tokens, states, lengths, majority_state(states, lengths, config.states))
    return hmm, data


# ## 2. Ceiling and baselines (NumPy, log space)
def viterbi(observations: np.ndarray, hmm: HMM) -> np.ndarray:
    """The most likely state path for one sequence of symbols (0-based, unpadded)."""
    steps, k = len(observations), len(hmm.log_start)
    back = np.zeros((steps, k), dtype=int)
    score = hmm.log_start + hmm.log_emit[:, observations[0]]
    for t in range(1, steps):
        candidates = score[:, None] + hmm.log_trans  # [from, to]
        back[t] = np.argmax(candidates, axis=0)
        score = candidates[back[t], np.arange(k)] + hmm.log_emit[:, observations[t]]
    path = np.zeros(steps, dtype=int)
    path[-1] = np.argmax(score)
    for t in range(steps - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def forward_backward(observations: np.ndarray, hmm: HMM) -> tuple[np.ndarray, float]:
    """Posterior state probabilities [steps, K] and the sequence's log-likelihood."""
    steps, k = len(observations), len(hmm.log_start)
    alpha, beta = np.zeros((steps, k)), np.zeros((steps, k))
    alpha[0] = hmm.log_start + hmm.log_emit[:, observations[0]]
    for t in range(1, steps):
        alpha[t] = logsumexp(alpha[t - 1][:, None] + hmm.log_trans, axis=0) + hmm.log_emit[:, observations[t]]
    for t in range(steps - 2, -1, -1):
        beta[t] = logsumexp(hmm.log_trans + hmm.log_emit[:, observations[t + 1]] + beta[t + 1], axis=1)
    log_likelihood = float(logsumexp(alpha[-1]))
    return np.exp(alpha + beta - log_likelihood), log_likelihood


def emission_only(observations: np.ndarray, hmm: HMM) -> np.ndarray:
    """Per step, the most likely state given that step's symbol alone (uniform prior)."""
    return np.argmax(hmm.log_start[:, None] + hmm.log_emit[:, observations], axis=0)


def unpad(tokens: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
    return [row[:n] - 1 for row, n in zip(tokens, lengths)]


def step_metrics(states: np.ndarray, predicted: np.ndarray, lengths: np.ndarray) -> dict:
    """Accuracy and macro F1 over the real steps only (padded steps excluded)."""
    valid = np.arange(states.shape[1]) < lengths[:, None]
    true, pred = states[valid], predicted[valid]
    return {"test_step_accuracy": accuracy_score(true, pred),
            "test_macro_f1": f1_score(true, pred, average="macro")}


def sequence_metrics(majority: np.ndarray, guess: np.ndarray) -> dict:
    return {"test_sequence_accuracy": accuracy_score(majority, guess),
            "test_sequence_f1": f1_score(majority, guess, average="macro")}


# ## 3. Models
def build_tagger(config: Config) -> keras.Model:
    tokens = keras.Input((None,), dtype="int32", name="tokens")  # [B, T], 0 = padding
    x = keras.layers.Embedding(config.states * config.symbols_per_state + 1, config.embedding_dim,
                               mask_zero=True, name="embedding")(tokens)  # [B, T, F] + mask [B, T]
    x = keras.layers.Bidirectional(keras.layers.GRU(config.units, return_sequences=True),
                                   name="bi_gru")(x)  # [B, T, 2H]
    states = SequenceHead(config.states, activation="softmax", name="states")(x)  # [B, T, C]
    model = keras.Model(tokens, states, name="hmm_tagger")
    model.compile(keras.optimizers.Adam(config.learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def build_classifier(config: Config) -> keras.Model:
    tokens = keras.Input((None,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(config.states * config.symbols_per_state + 1, config.embedding_dim,
                               mask_zero=True, name="embedding")(tokens)
    x = keras.layers.GRU(config.units, return_sequences=True, name="gru")(x)  # [B, T, H]
    x = LastStepHead(name="last_valid_step")(x)  # [B, H]
    which = keras.layers.Dense(config.states, activation="softmax", name="majority_state")(x)  # [B, C]
    model = keras.Model(tokens, which, name="hmm_classifier")
    model.compile(keras.optimizers.Adam(config.learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


# ## 5. Train, evaluate, export
def main(argv=None) -> dict:
    run = start_run("sequence_labeling", Config, argv, description=__doc__, quick=QUICK)
    config = run.config
    if not 1 <= config.min_length <= config.max_length:
        raise SystemExit("Need 1 <= --min-length <= --max-length.")
    hmm, data = make_data(config)
    test_tokens, test_states, test_lengths, test_majority = data["test"]
    observed = unpad(test_tokens, test_lengths)
    k = config.states

    with run.timer("baselines"):
        def padded(paths):  # [sequences, max_length] int32, 0 after each path's end
            return keras.utils.pad_sequences(paths, maxlen=config.max_length, dtype="int32", padding="post")

        posteriors = [forward_backward(o, hmm)[0] for o in observed]
        decoded = {
            "viterbi": padded([viterbi(o, hmm) for o in observed]),
            "forward_backward": padded([np.argmax(p, 1) for p in posteriors]),
            "emission_only": padded([emission_only(o, hmm) for o in observed]),
        }
        baselines = {}
        for name, paths in decoded.items():
            if name == "forward_backward":  # the most expected steps
                guess = np.array([np.argmax(p.sum(0)) for p in posteriors])
            else:
                guess = majority_state(paths, test_lengths, k)
            baselines[name] = {**step_metrics(test_states, paths, test_lengths),
                               **sequence_metrics(test_majority, guess)}
        most_common = np.argmax(np.bincount(data["train"][3], minlength=k))
        baselines["majority_class"] = sequence_metrics(test_majority, np.full_like(test_majority, most_common))

    tagger = build_tagger(config)
    classifier = build_classifier(config)
    with run.timer("train"):
        tokens, states, _, majority = data["train"]
        val_tokens, val_states, _, val_majority = data["val"]
        tagger.fit(tokens, states, validation_data=(val_tokens, val_states), epochs=config.epochs,
                   batch_size=config.batch_size, verbose=run.fit_verbose,
                   callbacks=run.callbacks(patience=config.patience))
        classifier.fit(tokens, majority, validation_data=(val_tokens, val_majority), epochs=config.epochs,
                       batch_size=config.batch_size, verbose=run.fit_verbose,
                       callbacks=run.callbacks(patience=config.patience, tag="classifier"))

    predicted = np.argmax(tagger.predict(test_tokens, verbose=0), -1)
    metrics = step_metrics(test_states, predicted, test_lengths)
    metrics["fraction_of_viterbi"] = metrics["test_step_accuracy"] / baselines["viterbi"]["test_step_accuracy"]
    metrics["meets_bar"] = bool(metrics["fraction_of_viterbi"] >= 0.97)
    which = np.argmax(classifier.predict(test_tokens, verbose=0), -1)
    metrics.update(sequence_metrics(test_majority, which))
    np.savez(run.dir / "test_predictions.npz", tokens=test_tokens, states=test_states,
             lengths=test_lengths, predicted=predicted.astype("int32"), majority=test_majority,
             predicted_majority=which.astype("int32"))

    plot_results(run, test_tokens, test_states, test_lengths, predicted, decoded["viterbi"])
    if run.export(tagger, test_tokens[:64]):
        classifier.save(run.dir / "classifier.keras")
        path = run.dir / "saved_model_classifier"
        classifier.export(str(path), format="tf_saved_model", verbose=False)
        verify_saved_model(path, test_tokens[:64], classifier.predict(test_tokens[:64], verbose=0))
    return run.finish(
        dataset=(f"generated HMM sequences: {config.states} states, "
                 f"{config.states * config.symbols_per_state} symbols, emission noise "
                 f"{config.emission_noise}, lengths {config.min_length}-{config.max_length}"),
        metrics=metrics, baselines=baselines,
        extra={"data": {name: len(split[0]) for name, split in data.items()},
               "serving": {"input": "int32 [batch, time] tokens (symbol + 1), 0 = padding",
                           "output": f"float32 [batch, time, {config.states}] state probabilities, "
                                     "zero at padded steps",
                           "classifier_output": f"float32 [batch, {config.states}] probabilities of "
                                                "the majority state"}})


def plot_results(run, tokens, states, lengths, predicted, viterbi_paths, examples=3):
    """True, Viterbi and tagger states for a few test sequences; training curves."""
    for i in range(min(examples, len(tokens))):
        n = lengths[i]
        plots.plot_lines(run.plot_path(f"example_{i}.png"),
                         {"true state": states[i, :n], "Viterbi": viterbi_paths[i, :n] + 0.1,
                          "GRU tagger": predicted[i, :n] - 0.1},
                         title=f"Test sequence {i}: hidden states (offset for legibility)",
                         xlabel="step", ylabel="state")
    plots.plot_history(run.dir / "history.csv", run.plot_path("history.png"), metrics=("loss", "accuracy"))
    plots.plot_history(run.dir / "history_classifier.csv", run.plot_path("history_classifier.png"),
                       metrics=("loss", "accuracy"))


if __name__ == "__main__":
    main(sys.argv[1:])
