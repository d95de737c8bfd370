"""Decisions and scores of a predictor, before and after a change to its input.

Shared by the counterfactual and perturbation tests: both score a frame, change it, score it
again and compare. The score of a row is the probability of the positive class for a binary
model and the probability of the class decided on the original row otherwise, so a score
change is always "how much more (or less) the model believes its original decision".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


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
