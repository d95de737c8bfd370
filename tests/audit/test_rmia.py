"""Offline RMIA against a hand computation and the closed form of a planted world."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import logit
from scipy.stats import norm

from raikit.audit.privacy._lira import ShadowScores
from raikit.audit.privacy._rmia import rmia_scores
from raikit.audit.stats import roc_auc
from tests.audit.test_lira import GAP, planted


def planted_rmia(n_shadows: int = 64):
    """LiRA's planted world (:func:`tests.audit.test_lira.planted`) with ``mu ~ N(-20, 3^2)``.

    Each row's probability is ``exp(mu + GAP * member + noise)``. So small a probability equals
    its logit's exponential to 1e-8, and the row's own scale ``exp(mu)`` cancels in
    ``Pr(x|θ) / Pr_OUT(x)`` (``a = 1``): what is left is ``GAP * member + noise - 1/2``, the
    likelihood ratio of the row, AUC ``Phi(GAP / sqrt(2)) = 0.9214``. With ``a = 0``, ``Pr(x)``
    is about 1/2 for every row and the score ranks raw probabilities: AUC
    ``Phi(GAP / sqrt(2 (1 + 9))) = 0.6726``.
    """
    return planted(n_shadows, mean=-20.0)


@pytest.mark.parametrize(
    ("a", "expected", "low", "high"),
    [
        (1.0, norm.cdf(GAP / math.sqrt(2)), 0.03, 0.01),
        (0.0, norm.cdf(GAP / math.sqrt(20)), 0.02, 0.02),
    ],
    ids=["a=1", "a=0"],
)
def test_rmia_reaches_the_closed_form_auc(a, expected, low, high):
    target, shadows, is_member = planted_rmia()
    # The non-members are the population, each compared with the others only.
    scores = rmia_scores(target, shadows, np.flatnonzero(~is_member), a)
    # 2,000 + 2,000 rows: standard error of the AUC about 0.004; 32 OUT shadows cost a little.
    assert expected - low < roc_auc(is_member, scores) < expected + high
    # A non-member's score is uniform on [0, 1]: its mean is 1/2.
    assert scores[~is_member].mean() == pytest.approx(0.5, abs=1e-9)


def test_rmia_scores_by_hand():
    # Three rows, probabilities given through their logits; two reference models.
    p = lambda *values: logit(np.array(values, dtype=float))  # noqa: E731
    shadows = ShadowScores(
        phi=p([0.5, 0.2, 0.9], [0.3, 0.4, 0.1]).reshape(2, 3),
        trained_on=np.array([[False, True, False], [False, False, True]]),
    )
    # Pr_OUT: row 0 (0.5 + 0.3) / 2 = 0.4; row 1 0.4 (model 2 only); row 2 0.9 (model 1).
    # a = 0.5: Pr(x) = (1.5 Pr_OUT + 0.5) / 2 = 0.55, 0.55, 0.925.
    target = p(0.66, 0.11, 0.74)  # ratios 1.2, 0.2, 0.8
    # The population is rows 1 and 2 themselves (ratios 0.2 and 0.8).
    scores = rmia_scores(target, shadows, np.array([1, 2]), 0.5)
    # Row 0 beats both; row 1 beats none of the other one; row 2 beats row 1 (1 of 1).
    np.testing.assert_allclose(scores, [1.0, 0.0, 1.0])


def test_a_row_without_an_out_reference_is_refused():
    shadows = ShadowScores(phi=np.zeros((2, 1)), trained_on=np.ones((2, 1), dtype=bool))
    with pytest.raises(ValueError, match="trained without it"):
        rmia_scores(np.zeros(1), shadows, np.array([0]))
