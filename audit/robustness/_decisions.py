"""Decisions and scores of a predictor, and the intervals of the rates built from them.

Shared by the counterfactual and perturbation tests: both score a frame, change it, score it
again and compare. The score of a row is the probability of the positive class for a binary
model and the probability of the class decided on the original row otherwise, so a score
change is always "how much more (or less) the model believes its original decision".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from raikit.audit.stats import percentile_interval

# Rows x replicates drawn at once by the row bootstrap: bounds memory at ~40 MB of indices.
_BOOTSTRAP_CELLS = 5_000_000


@dataclass(frozen=True)
class Scored:
    """Class probabilities of some rows and the decision taken on each."""

    proba: np.ndarray
    decision: np.ndarray

    def score_of(self, classes: np.ndarray) -> np.ndarray:
        """Probability of ``classes[i]`` for row ``i``."""
        return self.proba[np.arange(len(self.proba)), classes]


def score(predictor, frame: pd.DataFrame, threshold: float) -> Scored:
    """Score ``frame``: a binary model decides positive at P(positive) >= ``threshold``."""
    proba = np.asarray(predictor.predict_proba(frame), dtype=np.float64)
    if proba.shape[1] == 2:
        decision = (proba[:, 1] >= threshold).astype(np.int64)
    else:
        decision = proba.argmax(axis=1)
    return Scored(proba, decision)


def score_change(original: Scored, changed: Scored, original_rows: np.ndarray) -> np.ndarray:
    """Signed change of the score of each changed row against its original row."""
    if original.proba.shape[1] == 2:
        return changed.proba[:, 1] - original.proba[original_rows, 1]
    decided = original.decision[original_rows]
    return changed.score_of(decided) - original.score_of(decided)[original_rows]


def bootstrap_mean_intervals(
    values: np.ndarray,
    n_bootstrap: int,
    confidence_level: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap intervals of the column means of ``values`` (rows resampled).

    Parameters
    ----------
    values : numpy.ndarray, shape (n_rows, n_figures)
        One row per unit resampled (a row of the table); every figure uses the same draws.
    n_bootstrap : int
        Replicates.
    confidence_level : float
        Coverage in (0, 1).
    rng : numpy.random.Generator
        The only source of randomness.

    Returns
    -------
    lower, upper : numpy.ndarray, shape (n_figures,)
        NaN when there are no rows.
    """
    values = np.asarray(values, dtype=np.float64)
    n, m = values.shape
    if n == 0:
        return np.full(m, np.nan), np.full(m, np.nan)
    chunk = max(1, _BOOTSTRAP_CELLS // n)
    replicates = np.empty((n_bootstrap, m))
    for start in range(0, n_bootstrap, chunk):
        size = min(chunk, n_bootstrap - start)
        draws = rng.integers(0, n, size=(size, n), dtype=np.int32)
        for column in range(m):
            replicates[start : start + size, column] = values[draws, column].mean(axis=1)
    return percentile_interval(replicates, confidence_level)
