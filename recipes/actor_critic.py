"""Title: Advantage actor-critic (A2C) on CartPole with vectorised environments

Architecture: observation -> [Dense(tanh) x 2 -> Dense(actions): policy logits]
    and, on a separate trunk, [Dense(tanh) x 2 -> Dense(1): state value];
    trained on batches of n-step rollouts from parallel environments with
    generalised advantage estimates (GAE), normalised advantages, an entropy
    bonus and global-norm gradient clipping, in one compiled train step.
Paper(s): Mnih et al. 2016, "Asynchronous Methods for Deep Reinforcement
    Learning" (A3C, and its synchronous variant A2C); Schulman et al. 2016,
    "High-Dimensional Continuous Control Using Generalized Advantage
    Estimation" (GAE); Williams 1992, "Simple statistical gradient-following
    algorithms for connectionist reinforcement learning" (REINFORCE, the
    policy gradient); Barto, Sutton & Anderson 1983, "Neuronlike adaptive
    elements that can solve difficult learning control problems" (cart-pole).
Dataset: gymnasium `CartPole-v1` (simulated in the run: 4 observations, 2
    actions, +1 reward per step, episodes end when the pole falls past 12
    degrees, the cart leaves the track, or after 500 steps); `--env NAME` for
    another gymnasium environment with a vector observation and discrete
    actions, e.g. `Acrobot-v1` (no bar there; the heuristic baseline is
    CartPole's only).
Run: python -m recipes.actor_critic
    python -m recipes.actor_critic --env Acrobot-v1
    python -m recipes.actor_critic --shared-trunk --seed 1

Results: measured 2026-11-24 on x86_64, 2 cores shared with other jobs (load
    average 7-8; Keras 3.15.1, TensorFlow 2.21.0), seed 0, by
    `python -m benchmarks.run_recipes actor_critic` (8.5 s in all, 6.4 s of
    training): 100 greedy evaluation episodes, the same 100 for every policy.

    |                        | eval mean return | eval std | eval min |
    |------------------------|------------------|----------|----------|
    | A2C (greedy policy)    |      500.00      |   0.00   |   500    |
    | pole-lean heuristic    |       41.53      |   8.36   |    25    |
    | random policy          |       22.36      |  11.33   |     9    |

    Bar (mean return >= 475): met, 500.0; every episode reached the 500-step
    limit. Training stopped solved after 277 updates, 69,997 environment
    steps and 915 episodes: 10,941 environment steps/s over the whole loop,
    15,119/s in the rollouts alone (rollouts 4.6 s, updates 1.5 s, greedy
    checks 0.2 s). Seeds 1-4 (same day, same command with `--seed`): mean
    returns 500.0, 500.0, 495.93 (std 13.2, min 430) and 500.0, after 893k,
    100k, 81k and 181k environment steps (60, 12.5, 12.3 and 15.6 s of
    training): all five seeds meet the bar, but seed 1 hovered at training
    returns of 200-300 for some 800k steps before it solved. The first
    hyperparameters tried met the bar on every seed, so none were tuned; the
    one variant tried, a shared trunk, is in section 2. `--env Acrobot-v1`
    (same day): solved at 120k steps (22 s of training), mean return -82.2
    (std 14.7) against the random policy's -499.0; its threshold is -100.

## 1. The environment, vectorised

CartPole gives +1 for every step the pole stays up; an episode ends when the
pole tips past 12 degrees or the cart leaves the track (terminated), or after
500 steps (truncated: a time limit, not a failure). gymnasium's
`make_vec` steps `--num-envs` copies at once; for CartPole it uses
gymnasium's own NumPy-vectorised `CartPoleVectorEnv` (0.10 ms for a step of
16 copies, against 0.34 ms for 16 single environments stepped in a loop),
for other environments a `SyncVectorEnv` of single copies. One model call
then acts for every copy, so the Python loop runs once per `num_envs`
environment steps. The vector environments reset a finished copy on the
*next* step (gymnasium's `NEXT_STEP` autoreset): that step ignores the
action and returns the new episode's first observation with reward 0. It is
not a real transition: it is not counted as a step, and the loss gives it
weight 0.

## 2. The model: a policy head and a value head on separate trunks

The policy maps an observation to action logits; the critic maps it to the
expected discounted return from that state, V(s). They can share a trunk
(`--shared-trunk`), but their targets differ in scale by two orders of
magnitude (returns up to 1/(1 - gamma) = 100 against log-probabilities near
1), so in a shared trunk the value error's gradients decide what the shared
features become. Measured here: with separate trunks (the default, as in
Stable-Baselines3's `MlpPolicy`) seeds 0-4 all stopped solved after
87k-162k environment steps; with a shared trunk seeds 0-2 all ran to the
4000-update cap (1.0M steps, 70-81 s) with the mean training return of the
last 20 episodes at 188-275 and the policy's entropy at 0.56-0.62 nats (0.69
is a coin flip), although their greedy policies then scored 500 in
evaluation: the shared trunk learns the right ranking of actions but keeps
the policy far from confident.
The last policy layer starts near zero (orthogonal, gain 0.01), so every
action starts equally likely. The exported model is the policy alone, with
a softmax: observation [batch, 4] -> probabilities [batch, 2].

## 3. Rollouts

Each update collects `--batch-size` transitions: `batch_size / num_envs`
steps in each of `num_envs` environments (default 16 steps in 16
environments). Acting calls one compiled `tf.function` on the stacked
observations, which returns the action probabilities and values; the
actions are sampled from the probabilities with the run's seeded NumPy
generator (inverse-CDF sampling), so the same `--seed` gives the same run.
On 16 observations the compiled call took 0.72 ms, calling the Keras model
eagerly 11 ms and `model.predict` 218 ms (measured on the shared machine,
load average 10): per-step `predict` would make acting some 300
times slower. The report gives the environment steps per second of the
rollouts alone and of the whole training loop (`training` in metrics.json).

## 4. Advantages: GAE

The advantage A_t says how much better the taken action did than the critic
expected. With the temporal-difference error
delta_t = r_t + gamma * V(s_t+1) * (1 - terminated_t) - V(s_t), GAE is
A_t = sum_l (gamma * lambda)^l delta_t+l, summed up to the end of the episode
or of the rollout (where V of the next observation bootstraps the rest).
lambda = 0 is the one-step TD advantage, lambda = 1 the n-step return minus
V(s_t); in between trades bias for variance. A truncated episode (the
500-step limit) still bootstraps from V of its last observation: the pole
did not fall, and treating the time limit as a failure would teach the
critic that states near step 500 are worth nothing. The critic's target is
A_t + V(s_t). `gae_advantages` is written in NumPy (no installed library
provides it for Keras; the tests check it against the explicit sum above).

## 5. One compiled train step

Per update, one `tf.function` computes, over the real transitions,
policy loss  = -mean(log pi(a_t | s_t) * A_t)   (A_t normalised to mean 0, std 1),
value loss   = mean((A_t + V_old(s_t) - V(s_t))^2),
entropy      = mean(H(pi(. | s_t))),
and takes one Adam step on policy + `value_weight` * value - `entropy_weight` *
entropy, its gradient clipped to a global norm of `--max-grad-norm` (Keras's
`global_clipnorm`). Normalising the advantages makes the policy step size
independent of the return scale; the entropy bonus keeps the policy from
turning deterministic before it has found good actions. The clipping is not
a rare safety net here: in the default run the gradient's global norm
(`grad_norm` in history.csv) was 12 to 95, median 35, on every one of the
277 updates, so Adam sees every gradient rescaled to norm 0.5, and an update
after a burst of large value errors weighs no more than any other.

## 6. Stopping early

Training stops as soon as the mean return of the last `--solve-window`
training episodes reaches the solve threshold (the environment's
`reward_threshold`, 475 for CartPole-v1) and a greedy check on
`--check-episodes` fresh episodes (seeds disjoint from training and from the
evaluation) confirms it. If the cap (`--epochs` updates or
`--max-train-seconds`) comes first, the weights with the best greedy check so
far are kept (the last weights if no check ran). Policy-gradient training
on CartPole can reach 500 and then fall back; stopping at a confirmed peak
keeps a good policy instead of whatever the last update left.

## 7. Evaluation and baselines

100 greedy episodes (the most likely action every step) in a separate
evaluation environment seeded differently from training and from the checks:
mean, standard deviation and minimum return. The same 100 episodes (the same
initial states) are played by a random policy and, on CartPole, by a
hand-written heuristic that pushes the cart the way the pole leans.

## 8. Export

`model.keras` is the policy (logits -> softmax included); `saved_model/`
serves observation float32 [batch, 4] -> action probabilities float32
[batch, 2], checked by a fresh `tf.saved_model.load` on real observations
(`run.export`). `policy_value.keras` is the training model with both heads.
"""

from __future__ import annotations

import csv
import dataclasses
import sys
import time

import kerasml  # noqa: F401  (first: quiets TensorFlow's start-up logs)

import gymnasium as gym  # isort: skip
import keras  # isort: skip
import numpy as np  # isort: skip
import tensorflow as tf  # isort: skip

from kerasml import plots  # noqa: E402
from kerasml.recipe import RecipeConfig, field, start_run  # noqa: E402


@dataclasses.dataclass
class Config(RecipeConfig):
    epochs: int = field(4000, "maximum updates (each on --batch-size transitions); stopping early "
                              "usually ends far sooner")
    batch_size: int = field(256, "transitions per update: --num-envs x steps per environment")
    learning_rate: float = field(1e-3, "Adam learning rate")
    env: str = field("CartPole-v1", "gymnasium environment id (vector observation, discrete actions)")
    num_envs: int = field(16, "environments stepped in parallel")
    gamma: float = field(0.99, "discount factor")
    gae_lambda: float = field(0.95, "GAE lambda: 0 = one-step TD advantage, 1 = n-step return")
    entropy_weight: float = field(0.01, "weight of the entropy bonus")
    value_weight: float = field(0.5, "weight of the value loss")
    max_grad_norm: float = field(0.5, "clip the gradient to this global norm")
    hidden_units: tuple[int, ...] = field((64, 64), "units of each hidden layer, in each trunk")
    shared_trunk: bool = field(False, "one trunk under both heads instead of one trunk each")
    solve_return: float | None = field(None, "stop once training returns reach this and a greedy check "
                                             "confirms (default: the environment's reward_threshold)")
    solve_window: int = field(20, "training episodes in the moving average that triggers a check")
    check_episodes: int = field(20, "greedy episodes in each stopping check")
    max_train_seconds: float = field(540.0, "wall-clock cap on training")
    eval_episodes: int = field(100, "greedy evaluation episodes")


QUICK = {"epochs": 10, "num_envs": 4, "batch_size": 32, "hidden_units": (16,), "eval_episodes": 20,
         "check_episodes": 5}
EVAL_SEED_OFFSET = 1_000_000   # evaluation episodes: seeds no training environment uses
CHECK_SEED_OFFSET = 2_000_000  # stopping checks: disjoint from training and evaluation
LOG_EVERY_SECONDS = 10.0


# ## 1. The environment
def make_envs(env_id: str, count: int) -> gym.vector.VectorEnv:
    """``count`` copies of ``env_id`` stepped together; NumPy-vectorised where gymnasium has it."""
    spec = gym.spec(env_id)
    mode = "vector_entry_point" if spec.vector_entry_point else "sync"  # never "async": no subprocesses
    return gym.make_vec(env_id, num_envs=count, vectorization_mode=mode)


def check_env(env_id: str) -> tuple[int, int, float | None]:
    """(observation size, number of actions, reward_threshold) or a ValueError that says what to change."""
    try:
        spec = gym.spec(env_id)
    except gym.error.Error as error:
        raise ValueError(f"--env {env_id!r} is not a registered gymnasium environment ({error}). "
                         "Use e.g. --env CartPole-v1 or --env Acrobot-v1.") from None
    env = gym.make(spec)
    observation_space, action_space = env.observation_space, env.action_space
    env.close()
    if not isinstance(action_space, gym.spaces.Discrete):
        raise ValueError(f"--env {env_id!r} has actions {action_space}; this recipe needs a discrete "
                         "action space (Discrete(n)), e.g. CartPole-v1, Acrobot-v1 or MountainCar-v0.")
    if not (isinstance(observation_space, gym.spaces.Box) and len(observation_space.shape) == 1):
        raise ValueError(f"--env {env_id!r} has observations {observation_space}; this recipe needs a "
                         "vector of numbers (a 1-D Box), e.g. CartPole-v1 or Acrobot-v1.")
    return observation_space.shape[0], int(action_space.n), spec.reward_threshold


def validate(config: Config) -> None:
    if config.num_envs < 1 or config.batch_size % config.num_envs:
        raise ValueError(f"--batch-size {config.batch_size} must be a positive multiple of --num-envs "
                         f"{config.num_envs} (each update takes the same number of steps from every "
                         "environment).")
    if not (0 < config.gamma <= 1 and 0 <= config.gae_lambda <= 1):
        raise ValueError("Need 0 < --gamma <= 1 and 0 <= --gae-lambda <= 1.")
    if min(config.eval_episodes, config.check_episodes, config.solve_window, config.epochs) < 1:
        raise ValueError("--eval-episodes, --check-episodes, --solve-window and --epochs must be >= 1.")


# ## 2. The model
def build_model(config: Config, observation_size: int, actions: int) -> keras.Model:
    """Policy logits and state value from tanh trunks, separate unless ``--shared-trunk``."""
    observation = keras.Input((observation_size,), name="observation")

    def trunk(name):
        x = observation
        for i, units in enumerate(config.hidden_units):
            x = keras.layers.Dense(units, activation="tanh", name=f"{name}_{i}")(x)
        return x

    policy_features = trunk("shared" if config.shared_trunk else "policy")
    value_features = policy_features if config.shared_trunk else trunk("value")
    # A near-zero last policy layer starts every action equally likely (as in Stable-Baselines3).
    logits = keras.layers.Dense(actions, name="policy_logits",
                                kernel_initializer=keras.initializers.Orthogonal(0.01))(policy_features)
    value = keras.layers.Dense(1, name="value")(value_features)
    return keras.Model(observation, [logits, value], name="actor_critic")


def policy_model(model: keras.Model) -> keras.Model:
    """The exported policy: observation -> action probabilities (shares the trained layers)."""
    logits, _ = model.outputs
    probabilities = keras.layers.Softmax(name="action_probabilities")(logits)
    return keras.Model(model.inputs[0], probabilities, name="policy")


# ## 3. Rollouts
def sample_actions(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """One action per row of ``probabilities`` (inverse-CDF sampling with a seeded generator;
    NumPy's ``Generator.choice`` takes one distribution, not one per row).

    Example:
        >>> sample_actions(np.random.default_rng(0), np.array([[0.0, 1.0], [1.0, 0.0]])).tolist()
        [1, 0]
    """
    cumulative = np.cumsum(probabilities, axis=1)
    draws = rng.random((len(probabilities), 1)) * cumulative[:, -1:]
    return np.minimum((draws >= cumulative).sum(axis=1), probabilities.shape[1] - 1)


# ## 4. Advantages
def gae_advantages(rewards, values, terminated, truncated, gamma: float, lam: float) -> np.ndarray:
    """Generalised advantage estimates (Schulman et al. 2016) of a rollout.

    ``rewards``, ``terminated``, ``truncated``: [steps, envs]; ``values``:
    [steps + 1, envs], the last row V of the observation after the rollout.
    A terminated step bootstraps nothing; a truncated one bootstraps from
    ``values[t + 1]`` (its final observation); both end the sum.

    Example:
        >>> gae_advantages(np.ones((2, 1)), np.zeros((3, 1)), np.zeros((2, 1), bool),
        ...                np.zeros((2, 1), bool), gamma=0.5, lam=1.0)[:, 0].tolist()
        [1.5, 1.0]
    """
    continues = 1.0 - terminated.astype(np.float32)
    ends = terminated | truncated
    deltas = rewards + gamma * values[1:] * continues - values[:-1]
    advantages = np.zeros_like(deltas)
    running = np.zeros_like(deltas[0])
    for t in reversed(range(len(deltas))):
        running = deltas[t] + gamma * lam * np.where(ends[t], 0.0, running)
        advantages[t] = running
    return advantages


# ## 5. The compiled act and train steps
def compile_steps(model: keras.Model, config: Config):
    """``act(observations) -> (probabilities, values)`` and one ``train_step`` per update."""
    optimizer = keras.optimizers.Adam(config.learning_rate, global_clipnorm=config.max_grad_norm)
    optimizer.build(model.trainable_variables)
    spec = tf.TensorSpec([None, model.inputs[0].shape[1]], tf.float32)

    @tf.function(input_signature=[spec])
    def act(observations):
        logits, values = model(observations)
        return tf.nn.softmax(logits), values[:, 0]

    @tf.function(input_signature=[spec, tf.TensorSpec([None], tf.int32)] + [tf.TensorSpec([None])] * 3)
    def train_step(observations, actions, advantages, returns, weights):
        with tf.GradientTape() as tape:
            logits, values = model(observations, training=True)
            log_probabilities = tf.nn.log_softmax(logits)
            chosen = tf.gather(log_probabilities, actions, batch_dims=1)
            entropy = -tf.reduce_sum(tf.exp(log_probabilities) * log_probabilities, axis=1)
            count = tf.reduce_sum(weights)
            policy_loss = -tf.reduce_sum(weights * chosen * advantages) / count
            value_loss = tf.reduce_sum(weights * tf.square(returns - values[:, 0])) / count
            mean_entropy = tf.reduce_sum(weights * entropy) / count
            loss = policy_loss + config.value_weight * value_loss - config.entropy_weight * mean_entropy
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(gradients, model.trainable_variables)
        return {"policy_loss": policy_loss, "value_loss": value_loss, "entropy": mean_entropy,
                "grad_norm": tf.linalg.global_norm(gradients)}

    return act, train_step


# ## 3 and 6. Training: rollouts, updates, stopping early
class Training:
    """Rollouts, updates, episode bookkeeping and the stopping rule of one training run."""

    def __init__(self, run, config: Config, model: keras.Model, threshold: float | None):
        self.run, self.config, self.model, self.threshold = run, config, model, threshold
        self.act, self.train_step = compile_steps(model, config)
        self.rng = np.random.default_rng(config.seed)
        self.envs = make_envs(config.env, config.num_envs)
        self.episodes: list[tuple[int, float, int]] = []  # (env steps so far, return, length)
        self.updates: list[dict] = []
        self.env_steps = 0
        self.checks: list[tuple[int, float]] = []  # (env steps, greedy check mean return)
        self.best_check, self.best_weights = -np.inf, None
        self.stopped_by = "update cap (--epochs)"
        self.seconds = {"rollouts": 0.0, "updates": 0.0, "checks": 0.0}  # where the time goes

    def greedy(self, observations):
        return np.argmax(self.act(observations)[0].numpy(), axis=1)

    def rollout(self, state):
        """``batch_size / num_envs`` steps in every environment; advances ``state`` in place."""
        n = self.config.num_envs
        steps = self.config.batch_size // n
        size = self.model.inputs[0].shape[1]
        buffer = {"observations": np.zeros((steps, n, size), np.float32), "actions": np.zeros((steps, n), np.int32),
                  "rewards": np.zeros((steps, n), np.float32), "terminated": np.zeros((steps, n), bool),
                  "truncated": np.zeros((steps, n), bool), "real": np.zeros((steps, n), bool),
                  "values": np.zeros((steps + 1, n), np.float32)}
        for t in range(steps):
            probabilities, values = self.act(state["observations"])
            actions = sample_actions(self.rng, probabilities.numpy())
            next_observations, rewards, terminated, truncated, _ = self.envs.step(actions)
            real = ~state["resetting"]  # a NEXT_STEP autoreset step is not a real transition
            for key, value in (("observations", state["observations"]), ("actions", actions),
                               ("rewards", rewards), ("terminated", terminated), ("truncated", truncated),
                               ("real", real), ("values", values.numpy())):
                buffer[key][t] = value
            self.env_steps += int(real.sum())
            state["returns"] += rewards
            state["lengths"] += real
            ended = terminated | truncated
            for i in np.flatnonzero(ended):
                self.episodes.append((self.env_steps, float(state["returns"][i]), int(state["lengths"][i])))
            state["returns"][ended], state["lengths"][ended] = 0.0, 0
            state["observations"], state["resetting"] = next_observations, ended
        buffer["values"][steps] = self.act(state["observations"])[1].numpy()
        return buffer

    def update(self, buffer) -> dict:
        config = self.config
        advantages = gae_advantages(buffer["rewards"], buffer["values"], buffer["terminated"],
                                    buffer["truncated"], config.gamma, config.gae_lambda)
        returns = advantages + buffer["values"][:-1]
        real = buffer["real"].reshape(-1)
        flat = advantages.reshape(-1)
        normalised = (flat - flat[real].mean()) / (flat[real].std() + 1e-8)
        size = buffer["observations"].shape[-1]
        losses = self.train_step(buffer["observations"].reshape(-1, size), buffer["actions"].reshape(-1),
                                 normalised.astype(np.float32), returns.reshape(-1),
                                 real.astype(np.float32))
        return {k: float(v) for k, v in losses.items()}

    def recent_mean_return(self) -> float:
        window = self.config.solve_window
        if len(self.episodes) < window:
            return float("nan")
        return float(np.mean([r for _, r, _ in self.episodes[-window:]]))

    def solved(self) -> bool:
        """The moving average reached the threshold and a greedy check on fresh episodes agrees."""
        if self.threshold is None or not self.recent_mean_return() >= self.threshold:  # NaN: too few episodes
            return False
        if self.checks and self.checks[-1][0] > self.env_steps - 10 * self.config.batch_size:
            return False  # checked moments ago: let training move on first
        started = time.perf_counter()
        returns, _ = play(self.greedy, self.config.env, self.config.check_episodes,
                          self.config.seed + CHECK_SEED_OFFSET + len(self.checks))
        self.seconds["checks"] += time.perf_counter() - started
        score = float(np.mean(returns))
        self.checks.append((self.env_steps, score))
        self.run.log(f"  greedy check at {self.env_steps} steps: mean return {score:.1f}")
        if score > self.best_check:
            self.best_check, self.best_weights = score, self.model.get_weights()
        return score >= self.threshold

    def train(self) -> None:
        config = self.config
        observations, _ = self.envs.reset(seed=config.seed)
        state = {"observations": observations, "resetting": np.zeros(config.num_envs, bool),
                 "returns": np.zeros(config.num_envs), "lengths": np.zeros(config.num_envs, int)}
        started = last_log = time.perf_counter()
        for number in range(1, config.epochs + 1):
            tick = time.perf_counter()
            buffer = self.rollout(state)
            tock = time.perf_counter()
            losses = self.update(buffer)
            self.seconds["rollouts"] += tock - tick
            self.seconds["updates"] += time.perf_counter() - tock
            self.updates.append({"update": number, "env_steps": self.env_steps, "episodes": len(self.episodes),
                                 "recent_mean_return": self.recent_mean_return(), **losses})
            now = time.perf_counter()
            if now - last_log >= LOG_EVERY_SECONDS or number == config.epochs:
                last_log = now
                self.run.log(f"update {number}: {self.env_steps} env steps, {len(self.episodes)} episodes, "
                             f"mean return of the last {config.solve_window} "
                             f"{self.recent_mean_return():.1f}, {self.env_steps / (now - started):.0f} "
                             f"env steps/s, entropy {losses['entropy']:.3f}")
            if self.solved():
                self.stopped_by = "solved (moving average and greedy check)"
                break
            if now - started > config.max_train_seconds:
                self.stopped_by = "time cap (--max-train-seconds)"
                break
        if not self.stopped_by.startswith("solved") and self.best_weights is not None:
            self.model.set_weights(self.best_weights)
            self.stopped_by += f"; kept the weights of the best greedy check ({self.best_check:.1f})"
        self.envs.close()


# ## 7. Evaluation
def play(policy, env_id: str, episodes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Returns of ``episodes`` episodes, one per environment copy, all played at once.

    ``policy`` maps observations [n, size] to actions [n]. The same ``seed``
    gives the same initial states, so policies are compared on the same
    episodes. Also returns up to 256 observations met, for the export check.
    """
    envs = make_envs(env_id, episodes)
    observations, _ = envs.reset(seed=seed)
    returns = np.zeros(episodes)
    running = np.ones(episodes, bool)
    seen = [observations]
    while running.any():
        observations, rewards, terminated, truncated, _ = envs.step(policy(observations))
        returns += rewards * running
        running &= ~(terminated | truncated)
        if sum(len(s) for s in seen) < 256:
            seen.append(observations[running])
    envs.close()
    return returns, np.concatenate(seen)[:256].astype("float32")


def random_policy(actions: int, seed: int):
    rng = np.random.default_rng(seed)
    return lambda observations: rng.integers(0, actions, size=len(observations))


def pole_lean_policy(observations: np.ndarray) -> np.ndarray:
    """CartPole heuristic: push right (1) when the pole leans right (angle > 0), else left."""
    return (observations[:, 2] > 0).astype(np.int64)


def return_stats(returns: np.ndarray) -> dict:
    return {"eval_mean_return": float(np.mean(returns)), "eval_std_return": float(np.std(returns)),
            "eval_min_return": float(np.min(returns))}


# ## 8. Train, evaluate, export
def main(argv=None) -> dict:
    run = start_run("actor_critic", Config, argv, description=__doc__, quick=QUICK)
    config = run.config
    validate(config)
    observation_size, actions, reward_threshold = check_env(config.env)
    threshold = config.solve_return if config.solve_return is not None else reward_threshold
    model = build_model(config, observation_size, actions)

    training = Training(run, config, model, threshold)
    with run.timer("train"):
        training.train()
    train_seconds = run.timing["train_seconds"]
    run.log(f"training stopped: {training.stopped_by}")

    eval_seed = config.seed + EVAL_SEED_OFFSET
    with run.timer("evaluate"):
        returns, observations = play(training.greedy, config.env, config.eval_episodes, eval_seed)
        baseline_returns = {"random": play(random_policy(actions, config.seed), config.env,
                                           config.eval_episodes, eval_seed)[0]}
        if config.env.startswith("CartPole"):
            baseline_returns["pole_lean"] = play(pole_lean_policy, config.env, config.eval_episodes, eval_seed)[0]
    metrics = return_stats(returns)
    baselines = {name: return_stats(r) for name, r in baseline_returns.items()}

    write_history(run, training)
    plot_training(run, training, threshold)
    policy = policy_model(model)
    if run.export(policy, observations):
        model.save(run.dir / "policy_value.keras")
    extra = {
        "training": {"env_steps": training.env_steps, "episodes": len(training.episodes),
                     "updates": len(training.updates), "stopped_by": training.stopped_by,
                     "env_steps_per_second": training.env_steps / train_seconds,
                     "rollout_env_steps_per_second": training.env_steps / training.seconds["rollouts"],
                     "seconds": training.seconds,
                     "greedy_checks": [{"env_steps": s, "mean_return": r} for s, r in training.checks]},
        "eval_returns": returns.tolist(),
        "serving": {"input": f"float32 [batch, {observation_size}] observations",
                    "output": f"float32 [batch, {actions}] action probabilities"},
    }
    if threshold is not None:
        extra["bar"] = {"metric": "eval_mean_return", "threshold": threshold,
                        "value": metrics["eval_mean_return"], "met": bool(metrics["eval_mean_return"] >= threshold)}
    return run.finish(dataset=f"gymnasium {config.env} (simulated; {config.eval_episodes} greedy evaluation "
                              f"episodes, reset seed {eval_seed})",
                      metrics=metrics, baselines=baselines, artifacts={"episodes": "episodes.csv"}, extra=extra)


def write_history(run, training: Training) -> None:
    """history.csv: one row per update (losses); episodes.csv: one row per training episode;
    the same curves for TensorBoard (written after training, to keep the loop lean)."""
    with open(run.dir / "history.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(training.updates[0]))
        writer.writeheader()
        writer.writerows(training.updates)
    with open(run.dir / "episodes.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["env_steps", "return", "length"])
        writer.writerows(training.episodes)
    with tf.summary.create_file_writer(str(run.dir / "tensorboard" / "model")).as_default():
        for row in training.updates:
            for key in ("policy_loss", "value_loss", "entropy", "grad_norm"):
                tf.summary.scalar(key, row[key], step=row["env_steps"])
        for steps, episode_return, length in training.episodes:
            tf.summary.scalar("episode_return", episode_return, step=steps)
            tf.summary.scalar("episode_length", length, step=steps)


def plot_training(run, training: Training, threshold: float | None) -> None:
    """Training episode returns against environment steps, with their moving average."""
    if not training.episodes:
        return
    steps, returns, _ = map(np.asarray, zip(*training.episodes))
    window = training.config.solve_window
    moving = np.array([returns[max(0, i + 1 - window):i + 1].mean() for i in range(len(returns))])
    lines = {"episode return": returns, f"moving average ({window} episodes)": moving}
    styles = {"episode return": {"alpha": 0.3, "linewidth": 0.8}}
    if threshold is not None:
        lines[f"solve threshold ({threshold:g})"] = np.full(len(returns), threshold)
        styles[f"solve threshold ({threshold:g})"] = {"linestyle": "--", "color": "grey"}
    plots.plot_lines(run.plot_path("training_returns.png"), lines, x=steps,
                     title=f"A2C on {training.config.env}: training episodes", xlabel="environment steps",
                     ylabel="return", styles=styles)


if __name__ == "__main__":
    main(sys.argv[1:])
