import doctest
import warnings

import numpy as np
import pytest
from sklearn.metrics import (accuracy_score, mean_absolute_percentage_error, precision_score, recall_score,
                             root_mean_squared_log_error)

import kerasml.metrics
from kerasml.metrics import NearZeroTargetWarning, mape, near_zero_targets, prevalence_weights, rmsle


def test_docstring_examples():
    assert doctest.testmod(kerasml.metrics).failed == 0


def test_rmsle_matches_the_formula_and_scikit_learn():
    rng = np.random.default_rng(0)
    y, p = rng.gamma(2.0, 30.0, 200), rng.gamma(2.0, 30.0, 200)
    expected = np.sqrt(np.mean((np.log(1 + p) - np.log(1 + y)) ** 2))
    assert rmsle(y, p) == pytest.approx(expected, rel=1e-12)
    assert rmsle(y, p) == pytest.approx(root_mean_squared_log_error(y, p), rel=1e-12)


def test_rmsle_shift_for_negative_targets_and_clipped_predictions():
    y = np.array([-4.0, -1.0, 0.0, 3.0, 10.0])
    p = np.array([-6.0, 0.5, -1.0, 2.0, 12.0])  # -6 lies below the floor -shift = -5
    shift = 5.0
    expected = np.sqrt(np.mean((np.log(1 + np.maximum(p + shift, 0)) - np.log(1 + y + shift)) ** 2))
    assert rmsle(y, p, shift=shift) == pytest.approx(expected, rel=1e-12)


def test_rmsle_negative_targets_without_shift_say_which_shift_would_do():
    with pytest.raises(ValueError, match=r"2 of 4 targets.*smallest -3.5.*--rmsle-shift 4"):
        rmsle([-3.5, -1.0, 2.0, 5.0], [1.0, 1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="2 values but y_pred has 3"):
        rmsle([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="finite"):
        rmsle([1.0, np.nan], [1.0, 2.0])


def test_mape_matches_the_formula_and_scikit_learn_in_percent():
    rng = np.random.default_rng(1)
    y = rng.uniform(50, 150, 100) * rng.choice([-1, 1], 100)
    p = y + rng.normal(0, 10, 100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no near-zero targets here: no warning
        value = mape(y, p)
    assert value == pytest.approx(100 * np.mean(np.abs((p - y) / y)), rel=1e-12)
    assert value == pytest.approx(100 * mean_absolute_percentage_error(y, p), rel=1e-12)


def test_mape_warns_when_targets_are_near_zero():
    y = np.array([100.0, 120.0, 80.0, 0.5, 90.0])
    p = y + 5.0
    with pytest.warns(NearZeroTargetWarning, match=r"1 of 5 targets are near zero.*MAE or RMSE"):
        value = mape(y, p)
    assert value == pytest.approx(100 * np.mean(5.0 / y))  # the 0.5 row alone contributes 200%
    assert near_zero_targets(y).tolist() == [False, False, False, True, False]
    with pytest.warns(NearZeroTargetWarning):
        assert np.isfinite(mape([0.0, 10.0, 20.0], [1.0, 10.0, 20.0]))


def test_prevalence_weights_reweight_accuracy_and_precision():
    rng = np.random.default_rng(2)
    truth = rng.random(300) < 0.4
    flagged = np.where(truth, rng.random(300) < 0.9, rng.random(300) < 0.1)
    weights = prevalence_weights(truth, 0.05)
    assert weights.sum() == pytest.approx(1.0) and weights[truth].sum() == pytest.approx(0.05)
    recall, specificity = flagged[truth].mean(), (~flagged[~truth]).mean()
    assert accuracy_score(truth, flagged, sample_weight=weights) == pytest.approx(
        0.05 * recall + 0.95 * specificity)
    assert recall_score(truth, flagged, sample_weight=weights) == pytest.approx(recall)
    precision = 0.05 * recall / (0.05 * recall + 0.95 * (1 - specificity))
    assert precision_score(truth, flagged, sample_weight=weights) == pytest.approx(precision)
    with pytest.raises(ValueError, match="between 0 and 1"):
        prevalence_weights(truth, 1.5)
    with pytest.raises(ValueError, match="both positive and negative"):
        prevalence_weights(np.ones(5, bool), 0.1)
