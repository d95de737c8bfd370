"""The robust membership-inference attack, offline (RMIA, Zarifzadeh, Liu & Shokri, ICML 2024).

RMIA compares a row ``x`` with population rows ``z`` (rows the target never trained on). With
``Pr(x|θ)`` the probability the model gives ``x``'s true label, and ``Pr(x)`` its average over
reference models, the likelihood ratio of ``x`` against ``z`` is
``LR(x, z) = (Pr(x|θ) / Pr(x)) / (Pr(z|θ) / Pr(z))``; the score of ``x`` is the fraction of
population rows with ``LR(x, z) > γ`` (here γ = 1). Offline, every reference model was trained
without the row, and the average over models that did train on it is approximated from the
ones that did not: ``Pr(x) = ((1 + a) Pr_OUT(x) + (1 − a)) / 2`` (the paper's linear
approximation; ``a`` = 1 uses the OUT average as it is).

The reference models are LiRA's shadows (:mod:`raikit.audit.privacy._lira`): for each row only
those whose training split left it out count.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from raikit.audit.privacy._lira import ShadowScores

#: Privacy Meter's default for ``a``.
OFFLINE_A = 0.3


def offline_marginal(shadows: ShadowScores, a: float) -> np.ndarray:
    """``Pr(x) = ((1 + a) mean_OUT Pr(x|θ') + (1 − a)) / 2`` of each row of ``shadows``.

    Raises
    ------
    ValueError
        When a row has no reference model trained without it.
    """
    out = ~shadows.trained_on
    n_out = out.sum(0)
    if (n_out == 0).any():
        raise ValueError("every row needs at least one reference model trained without it")
    mean_out = (expit(shadows.phi) * out).sum(0) / n_out
    return ((1.0 + a) * mean_out + (1.0 - a)) / 2.0


def rmia_scores(
    target_phi: np.ndarray, shadows: ShadowScores, population: np.ndarray, a: float = OFFLINE_A
) -> np.ndarray:
    """Offline RMIA score of each row: the fraction of population rows it dominates.

    Parameters
    ----------
    target_phi : array
        The target's logit-scaled confidence ``log p − log(1 − p)`` of each row's true label
        (:func:`~raikit.audit.privacy._lira.logit_confidence`).
    shadows : ShadowScores
        The reference models' confidences of the same rows, and which models trained on them.
    population : array of int
        Positions of the population rows (never trained on by the target) among the rows. A
        population row is not compared with itself: its denominator is one row smaller.
    a : float
        The offline approximation's parameter, in [0, 1].

    Returns
    -------
    array
        In [0, 1], one per row; higher means "more likely a member".
    """
    # One ratio per row, computed once: a population row's own ratio is then exactly equal.
    ratio = expit(target_phi) / offline_marginal(shadows, a)
    ratio_z = np.sort(ratio[population])
    # LR(x, z) > 1  <=>  ratio_z < ratio_x: the count of population ratios strictly below.
    below = np.searchsorted(ratio_z, ratio, side="left")
    compared = np.full(len(ratio), len(ratio_z), dtype=np.float64)
    compared[population] -= 1
    return below / compared
