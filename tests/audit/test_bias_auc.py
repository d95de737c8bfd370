"""Borkan et al. (2019) bias AUCs against hand computations and scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from raikit.audit.robustness._bias_auc import bias_aucs, bnsp_auc, bpsn_auc, subgroup_auc

# (label, score, in subgroup): small enough to count the pairs by hand.
TABLE = [
    (1, 0.9, True),
    (0, 0.6, True),
    (1, 0.4, True),
    (0, 0.2, False),
    (1, 0.8, False),
    (0, 0.5, False),
]
LABELS = np.array([r[0] for r in TABLE])
SCORES = np.array([r[1] for r in TABLE])
GROUP = np.array([r[2] for r in TABLE])


def test_the_three_aucs_match_a_hand_count_of_pairs():
    # Subgroup: positives {0.9, 0.4} vs negative {0.6}: 0.9 wins, 0.4 loses -> 1/2.
    assert subgroup_auc(LABELS, SCORES, GROUP) == pytest.approx(0.5)
    # BPSN: background positive {0.8} vs subgroup negative {0.6}: 1 of 1 pairs.
    assert bpsn_auc(LABELS, SCORES, GROUP) == pytest.approx(1.0)
    # BNSP: subgroup positives {0.9, 0.4} vs background negatives {0.2, 0.5}: 3 of 4 pairs.
    assert bnsp_auc(LABELS, SCORES, GROUP) == pytest.approx(0.75)
    assert bias_aucs(LABELS, SCORES, GROUP) == pytest.approx(
        {"subgroup_auc": 0.5, "bpsn_auc": 1.0, "bnsp_auc": 0.75}
    )


def test_a_subgroup_missing_a_class_is_undefined():
    assert math.isnan(subgroup_auc(LABELS, SCORES, np.array([1, 0, 0, 0, 0, 0], dtype=bool)))


def test_bias_aucs_agree_with_scikit_learn_on_the_selected_rows_with_ties():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 400)
    scores = np.round(rng.random(400), 1)  # many ties
    group = rng.random(400) < 0.3
    bpsn = (group & (labels == 0)) | (~group & (labels == 1))
    bnsp = (group & (labels == 1)) | (~group & (labels == 0))
    assert subgroup_auc(labels, scores, group) == pytest.approx(
        roc_auc_score(labels[group], scores[group])
    )
    assert bpsn_auc(labels, scores, group) == pytest.approx(
        roc_auc_score(labels[bpsn], scores[bpsn])
    )
    assert bnsp_auc(labels, scores, group) == pytest.approx(
        roc_auc_score(labels[bnsp], scores[bnsp])
    )
