"""LiRA's per-example Gaussian fits against the closed form of a planted Gaussian world."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from raikit.audit.privacy._lira import ShadowScores, lira_scores
from raikit.audit.stats import roc_auc

GAP = 2.0  # IN confidences sit GAP above OUT ones, both with unit variance


def planted(n_shadows: int, n_rows: int = 4000, seed: int = 0, mean: float = 0.0):
    """Rows with their own difficulty (``mu ~ N(mean, 3^2)``) and a fixed IN/OUT gap.

    For one row, telling N(mu + GAP, 1) from N(mu, 1) by its likelihood ratio has AUC
    Phi(GAP / sqrt(2)) = 0.9214; thresholding the raw confidence across rows instead mixes
    the rows' difficulties: AUC Phi(GAP / sqrt(2 (1 + 9))) = 0.6726.
    """
    rng = np.random.default_rng(seed)
    mu = rng.normal(mean, 3, n_rows)
    trained = np.zeros((n_shadows, n_rows), dtype=bool)
    for row in range(n_rows):
        trained[rng.permutation(n_shadows)[: n_shadows // 2], row] = True
    phi = mu + GAP * trained + rng.normal(size=(n_shadows, n_rows))
    is_member = np.arange(n_rows) < n_rows // 2
    target = mu + GAP * is_member + rng.normal(size=n_rows)
    return target, ShadowScores(phi=phi, trained_on=trained), is_member


@pytest.mark.parametrize("n_shadows", [8, 64], ids=["fixed-variance", "per-row-variance"])
def test_lira_reaches_the_likelihood_ratio_auc(n_shadows):
    target, shadows, is_member = planted(n_shadows)
    scores = lira_scores(target, shadows)
    assert scores.fixed_variance is (n_shadows < 64)
    optimum = norm.cdf(GAP / math.sqrt(2))  # 0.9214
    for name in ("online", "offline"):
        values = getattr(scores, name)
        auc = roc_auc(is_member, values)
        # Estimated means cost a little; 2,000 + 2,000 rows: standard error about 0.004.
        assert optimum - 0.04 < auc < optimum + 0.015, name
    raw = roc_auc(is_member, target)
    assert raw == pytest.approx(norm.cdf(GAP / math.sqrt(20)), abs=0.03)


def test_rows_without_an_in_shadow_borrow_the_average_gap():
    # Two shadows, row 0 never trained on: its IN mean is its OUT mean plus the others' gap.
    phi = np.array([[0.0, 1.0, 5.0], [0.2, 3.0, 7.0]])
    trained = np.array([[False, False, True], [False, True, False]])
    scores = lira_scores(np.array([0.1, 3.0, 7.0]), ShadowScores(phi=phi, trained_on=trained))
    assert scores.rows_without_in == 1 and scores.rows_without_out == 0
    # Gaps of rows 1 and 2: 3 - 1 = 2 and 5 - 7 = -2: mean 0, so row 0's IN mean is its OUT
    # mean, 0.1, the target's value. No row has two IN values, so IN borrows the OUT spread
    # (deviations -0.1 and 0.1 of row 0, 1 degree of freedom): equal Gaussians, score 0.
    assert scores.online[0] == pytest.approx(0.0, abs=1e-12)
    # Row 1 (target 3.0 = its IN mean 3.0, OUT mean 1.0, both std sqrt(0.02)):
    # log-ratio = (3 - 1)^2 / (2 * 0.02) = 100.
    assert scores.online[1] == pytest.approx(100.0, rel=1e-9)
    # Offline, row 2: target 7.0 at its OUT mean 7.0: log Phi(0).
    assert scores.offline[2] == pytest.approx(math.log(0.5), rel=1e-12)
