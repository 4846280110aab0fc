"""The few metric helpers that neither Keras nor scikit-learn provide.

Use Keras (``keras.metrics.AUC``, ``F1Score``, ``R2Score``, ...) and
scikit-learn (``roc_auc_score``, ``average_precision_score``,
``confusion_matrix``, ``r2_score``, ...) for everything else. What is here:

- ``rmsle``: root mean squared logarithmic error, ``sqrt(mean((log1p(p + s) -
  log1p(y + s))^2))``, with an explicit ``shift`` ``s`` for targets that can be
  negative. A target below ``-shift`` is an error that names how many there are,
  the smallest one and the shift that would make them valid. scikit-learn's
  ``root_mean_squared_log_error`` refuses only values <= -1, without naming them,
  and silently takes logs of values in (-1, 0); Keras's
  ``MeanSquaredLogarithmicError`` silently clips negatives to zero.
- ``mape``: mean absolute percentage error in percent, with a
  ``NearZeroTargetWarning`` when some targets are near zero (scikit-learn
  divides by ``max(|y|, eps)`` and returns astronomically large numbers
  without a word).
- ``prevalence_weights``: sample weights that re-weight a binary test set to
  another prevalence of the positive class, to read accuracy, precision,
  F1 and average precision as they would be if positives were rarer (or
  commoner) than in the test set. scikit-learn metrics take them as
  ``sample_weight``.

Example:
    >>> round(rmsle([0.0, 9.0], [0.0, 99.0]), 4)   # log1p(99) - log1p(9) = log(10)
    1.6282
    >>> round(rmsle([-3.0, 6.0], [-3.0, 96.0], shift=3.0), 4)
    1.6282
    >>> round(mape([100.0, 200.0], [110.0, 180.0]), 6)
    10.0
"""

from __future__ import annotations

import math
import warnings

import numpy as np


class NearZeroTargetWarning(UserWarning):
    """Percentage errors are dominated by targets near zero."""


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype="float64").ravel()
    y_pred = np.asarray(y_pred, dtype="float64").ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} values but y_pred has {y_pred.size}.")
    if y_true.size == 0:
        raise ValueError("No values to score.")
    if not (np.all(np.isfinite(y_true)) and np.all(np.isfinite(y_pred))):
        raise ValueError("y_true and y_pred must be finite (no NaN or inf).")
    return y_true, y_pred


def rmsle(y_true, y_pred, shift: float = 0.0) -> float:
    """Root mean squared logarithmic error of ``y_pred`` against ``y_true``.

    ``sqrt(mean((log1p(max(y_pred + shift, 0)) - log1p(y_true + shift)) ** 2))``.

    Args:
        y_true: targets; ``y_true + shift`` must be >= 0, else a ``ValueError``
            that says which shift would do.
        y_pred: predictions, same size. A prediction below ``-shift`` (below
            the smallest value a target may take) is clipped to ``-shift``,
            the usual practice, rather than taking the log of a negative number.
        shift: added to targets and predictions before the log. Use it for
            targets that can be negative (e.g. ``shift = -min possible target``);
            say which shift you used when you report the number.
    """
    y_true, y_pred = _pair(y_true, y_pred)
    shifted = y_true + shift
    below = shifted < 0
    if below.any():
        smallest = float(y_true.min())
        raise ValueError(
            f"RMSLE needs targets >= {-shift:g} (targets + shift >= 0, shift={shift:g}), but "
            f"{int(below.sum())} of {y_true.size} targets are below that (smallest {smallest:g}). "
            f"Pass a shift of at least {-smallest:g} (in the recipes: --rmsle-shift {math.ceil(-smallest)}), "
            "or do not use RMSLE for targets that can be negative.")
    predicted = np.maximum(y_pred + shift, 0.0)
    return float(np.sqrt(np.mean((np.log1p(predicted) - np.log1p(shifted)) ** 2)))


def near_zero_targets(y_true, rel_tol: float = 0.05) -> np.ndarray:
    """Boolean mask of targets with ``|y| <= rel_tol * median(|y|)`` (all zeros if the median is 0)."""
    magnitude = np.abs(np.asarray(y_true, dtype="float64").ravel())
    return magnitude <= rel_tol * np.median(magnitude)


def mape(y_true, y_pred, rel_tol: float = 0.05) -> float:
    """Mean absolute percentage error, in percent: ``100 * mean(|y_pred - y_true| / |y_true|)``.

    Warns ``NearZeroTargetWarning`` when some ``|y_true|`` are within
    ``rel_tol`` of zero relative to the median ``|y_true|``: those rows then
    dominate the mean, and MAE or RMSE describe the model better. A target of
    exactly zero is divided by float64's machine epsilon, as in scikit-learn.
    """
    y_true, y_pred = _pair(y_true, y_pred)
    near = near_zero_targets(y_true, rel_tol)
    if near.any():
        warnings.warn(NearZeroTargetWarning(
            f"MAPE: {int(near.sum())} of {y_true.size} targets are near zero (|target| <= "
            f"{rel_tol:g} x the median |target| {np.median(np.abs(y_true)):.4g}; smallest |target| "
            f"{np.abs(y_true).min():.4g}); their percentage errors dominate the mean. Judge the "
            "model by MAE or RMSE instead."), stacklevel=2)
    denominator = np.maximum(np.abs(y_true), np.finfo("float64").eps)
    return float(100.0 * np.mean(np.abs(y_pred - y_true) / denominator))


def prevalence_weights(is_positive, prevalence: float) -> np.ndarray:
    """Sample weights that give the positives a total share ``prevalence`` of the weight.

    Each positive weighs ``prevalence / n_positive`` and each negative
    ``(1 - prevalence) / n_negative`` (the weights sum to 1). Weighted by them,
    accuracy is ``prevalence * recall + (1 - prevalence) * specificity``: the
    accuracy the same classifier would have where positives are that common,
    provided the scores of each class are distributed as in the test set.
    ROC AUC and balanced accuracy do not change; accuracy, precision, F1 and
    average precision do.
    """
    is_positive = np.asarray(is_positive).astype(bool).ravel()
    if not 0.0 < prevalence < 1.0:
        raise ValueError(f"prevalence must be between 0 and 1, got {prevalence}.")
    n_positive = int(is_positive.sum())
    n_negative = is_positive.size - n_positive
    if n_positive == 0 or n_negative == 0:
        raise ValueError("Re-weighting to a prevalence needs both positive and negative examples.")
    return np.where(is_positive, prevalence / n_positive, (1.0 - prevalence) / n_negative)
