import csv
import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from recipes import actor_critic

METRIC_KEYS = {"eval_mean_return", "eval_std_return", "eval_min_return"}


def explicit_gae(rewards, values, terminated, truncated, gamma, lam):
    """A_t = sum_l (gamma lam)^l delta_t+l up to the step that ends the episode or the rollout."""
    steps, envs = rewards.shape
    advantages = np.zeros((steps, envs))
    for env in range(envs):
        for t in range(steps):
            total = 0.0
            for k in range(t, steps):
                bootstrap = 0.0 if terminated[k, env] else values[k + 1, env]
                delta = rewards[k, env] + gamma * bootstrap - values[k, env]
                total += (gamma * lam) ** (k - t) * delta
                if terminated[k, env] or truncated[k, env]:
                    break
            advantages[t, env] = total
    return advantages


def random_rollout(rng, steps=12, envs=3):
    rewards = rng.normal(size=(steps, envs)).astype(np.float32)
    values = rng.normal(size=(steps + 1, envs)).astype(np.float32)
    terminated = rng.random((steps, envs)) < 0.15
    truncated = ~terminated & (rng.random((steps, envs)) < 0.1)
    return rewards, values, terminated, truncated


@pytest.mark.parametrize("gamma,lam", [(0.99, 0.95), (0.9, 0.0), (0.8, 1.0)])
def test_gae_matches_the_explicit_sum(gamma, lam):
    rng = np.random.default_rng(int(lam * 10))
    for _ in range(5):
        rollout = random_rollout(rng)
        got = actor_critic.gae_advantages(*rollout, gamma=gamma, lam=lam)
        np.testing.assert_allclose(got, explicit_gae(*rollout, gamma, lam), rtol=1e-5, atol=1e-5)


def test_gae_with_lambda_one_is_the_discounted_return_minus_the_value():
    rewards = np.array([[1.0], [2.0], [3.0], [4.0]], np.float32)
    values = np.array([[0.5], [1.0], [7.0], [2.0], [10.0]], np.float32)
    terminated = np.array([[False], [True], [False], [False]])
    truncated = np.zeros_like(terminated)
    got = actor_critic.gae_advantages(rewards, values, terminated, truncated, gamma=0.9, lam=1.0)
    # Episode 1 ends (terminated) at step 1; episode 2 runs past the rollout: bootstrap V = 10.
    expected_returns = [1 + 0.9 * 2, 2, 3 + 0.9 * 4 + 0.81 * 10, 4 + 0.9 * 10]
    np.testing.assert_allclose(got[:, 0], np.array(expected_returns) - values[:-1, 0], rtol=1e-6)
    # A truncated step bootstraps from its final observation's value instead of stopping at zero.
    truncated[1] = True
    terminated[1] = False
    got = actor_critic.gae_advantages(rewards, values, terminated, truncated, gamma=0.9, lam=1.0)
    assert got[1, 0] == pytest.approx(2 + 0.9 * 7 - 1.0)
    assert got[0, 0] == pytest.approx(1 + 0.9 * (2 + 0.9 * 7) - 0.5)


def test_sample_actions_follows_the_probabilities():
    probabilities = np.tile(np.array([[0.1, 0.6, 0.3]]), (200_000, 1))
    actions = actor_critic.sample_actions(np.random.default_rng(0), probabilities)
    np.testing.assert_allclose(np.bincount(actions, minlength=3) / len(actions), [0.1, 0.6, 0.3], atol=0.005)


def test_train_step_losses_match_numpy_formulas():
    config = actor_critic.Config(hidden_units=(8,))
    model = actor_critic.build_model(config, observation_size=4, actions=2)
    act, train_step = actor_critic.compile_steps(model, config)
    rng = np.random.default_rng(1)
    observations = rng.normal(size=(10, 4)).astype(np.float32)
    actions = rng.integers(0, 2, 10).astype(np.int32)
    advantages, returns = rng.normal(size=10).astype(np.float32), rng.normal(size=10).astype(np.float32)
    weights = (np.arange(10) % 3 != 0).astype(np.float32)  # some steps are autoreset steps: weight 0
    logits, values = (np.asarray(t, np.float64) for t in model(observations))
    probabilities, _ = act(observations)
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    np.testing.assert_allclose(probabilities.numpy(), np.exp(log_p), rtol=1e-5)
    real = weights > 0
    expected = {"policy_loss": -np.mean(log_p[np.arange(10), actions][real] * advantages[real]),
                "value_loss": np.mean((returns - values[:, 0])[real] ** 2),
                "entropy": np.mean(-(np.exp(log_p) * log_p).sum(1)[real])}
    before = [w.copy() for w in model.get_weights()]
    losses = train_step(observations, actions, advantages, returns, weights)
    for key, value in expected.items():
        assert float(losses[key]) == pytest.approx(value, rel=1e-4), key
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))


def read_csv(path):
    with open(path) as handle:
        return list(csv.DictReader(handle))


def test_quick_run_report_episodes_and_saved_model(tmp_path):
    report = actor_critic.main(["--quick", "--output-dir", str(tmp_path)])
    assert report["recipe"] == "actor_critic"
    assert set(report["metrics"]) == METRIC_KEYS
    assert set(report["baselines"]) == {"random", "pole_lean"}
    for values in [report["metrics"], *report["baselines"].values()]:
        assert all(math.isfinite(values[k]) for k in METRIC_KEYS)
    returns = np.array(report["eval_returns"])
    assert len(returns) == 20  # --quick plays 20 evaluation episodes
    assert report["metrics"]["eval_mean_return"] == pytest.approx(returns.mean())
    assert report["metrics"]["eval_std_return"] == pytest.approx(returns.std())
    assert np.all((returns >= 8) & (returns <= 500))  # 8: pushing one way all along; 500: the time limit
    assert report["bar"]["threshold"] == 475 and report["bar"]["met"] == (returns.mean() >= 475)
    assert json.loads((tmp_path / "metrics.json").read_text()) == report
    for name in ["history.csv", "episodes.csv", "plots/training_returns.png", "model.keras",
                 "policy_value.keras", "saved_model"]:
        assert (tmp_path / name).exists(), name

    # Every episode's return is its length (+1 a step): autoreset steps are neither counted nor rewarded.
    episodes = read_csv(tmp_path / "episodes.csv")
    training = report["training"]
    assert len(episodes) == training["episodes"] > 0
    assert all(float(e["return"]) == int(e["length"]) for e in episodes)
    assert sum(int(e["length"]) for e in episodes) <= training["env_steps"]
    assert training["env_steps"] <= 10 * 32  # 10 updates of 32 transitions, autoreset steps excluded
    assert len(read_csv(tmp_path / "history.csv")) == training["updates"] == 10

    # The SavedModel serves observations -> action probabilities, like the Keras policy.
    observations = np.random.default_rng(0).uniform(-0.2, 0.2, size=(7, 4)).astype(np.float32)
    reloaded = tf.saved_model.load(str(tmp_path / "saved_model"))  # fresh: no Keras, no recipe code
    served = reloaded.serve(tf.constant(observations)).numpy()
    expected = keras.saving.load_model(tmp_path / "model.keras").predict(observations, verbose=0)
    assert served.shape == (7, 2)
    np.testing.assert_allclose(served, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(served.sum(axis=1), 1.0, atol=1e-6)


def test_same_seed_same_run(tmp_path):
    argv = ["--quick", "--no-export", "--epochs", "4", "--eval-episodes", "5"]
    first = actor_critic.main([*argv, "--output-dir", str(tmp_path / "a")])
    second = actor_critic.main([*argv, "--output-dir", str(tmp_path / "b")])
    assert first["eval_returns"] == second["eval_returns"]
    assert first["training"]["env_steps"] == second["training"]["env_steps"]
    assert (tmp_path / "a" / "episodes.csv").read_text() == (tmp_path / "b" / "episodes.csv").read_text()


def test_stops_once_returns_and_a_greedy_check_reach_the_threshold(tmp_path):
    report = actor_critic.main(["--quick", "--no-export", "--output-dir", str(tmp_path), "--solve-return", "5",
                                "--solve-window", "5"])
    training = report["training"]
    assert training["stopped_by"].startswith("solved")
    assert training["updates"] < 10 and training["episodes"] >= 5
    assert len(training["greedy_checks"]) == 1 and training["greedy_checks"][0]["mean_return"] >= 5
    assert report["bar"] == {"metric": "eval_mean_return", "threshold": 5.0,
                             "value": report["metrics"]["eval_mean_return"], "met": True}


def test_bad_input_says_what_to_change(tmp_path):
    def run(*flags):
        return actor_critic.main(["--quick", "--no-export", "--output-dir", str(tmp_path), *flags])

    with pytest.raises(ValueError, match="'NoSuchEnv-v0' is not a registered gymnasium environment"):
        run("--env", "NoSuchEnv-v0")
    with pytest.raises(ValueError, match="needs a discrete action space"):
        run("--env", "Pendulum-v1")
    with pytest.raises(ValueError, match="--batch-size 30 must be a positive multiple of --num-envs 4"):
        run("--batch-size", "30")
