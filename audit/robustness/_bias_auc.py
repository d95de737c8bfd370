"""Pure maths of the unintended-bias AUCs of Borkan et al. (2019).

Borkan, Dixon, Sorensen, Thain and Vasserman, "Nuanced Metrics for Measuring Unintended Bias
with Real Data for Text Classification" (WWW '19 Companion) split the ROC AUC of a classifier
by an identity subgroup ``g`` into three figures, each an AUC on a different set of rows:

- subgroup AUC: positives and negatives of ``g`` only -- can the model separate the classes
  within the group?
- BPSN (background positive, subgroup negative) AUC: the positives outside ``g`` and the
  negatives inside it -- low when the group's negatives score higher than other positives,
  i.e. the model over-predicts the positive class for the group;
- BNSP (background negative, subgroup positive) AUC: the negatives outside ``g`` and the
  positives inside it -- low when the group's positives score lower than other negatives.

The AUC is :func:`raikit.audit.stats.roc_auc`, the Mann-Whitney probability that a random
positive outscores a random negative, ties counting one half. Functions here are pure: numpy
in, float out, NaN when a set has no positives or no negatives.
"""

from __future__ import annotations

import numpy as np

from raikit.audit.stats import roc_auc


def subgroup_auc(labels: np.ndarray, scores: np.ndarray, in_subgroup: np.ndarray) -> float:
    """AUC restricted to the subgroup's rows."""
    mask = np.asarray(in_subgroup, dtype=bool)
    return roc_auc(np.asarray(labels)[mask], np.asarray(scores)[mask])


def bpsn_auc(labels: np.ndarray, scores: np.ndarray, in_subgroup: np.ndarray) -> float:
    """AUC on the background positives and the subgroup negatives."""
    labels = np.asarray(labels, dtype=bool)
    mask = np.asarray(in_subgroup, dtype=bool)
    keep = (mask & ~labels) | (~mask & labels)
    return roc_auc(labels[keep], np.asarray(scores)[keep])


def bnsp_auc(labels: np.ndarray, scores: np.ndarray, in_subgroup: np.ndarray) -> float:
    """AUC on the background negatives and the subgroup positives."""
    labels = np.asarray(labels, dtype=bool)
    mask = np.asarray(in_subgroup, dtype=bool)
    keep = (mask & labels) | (~mask & ~labels)
    return roc_auc(labels[keep], np.asarray(scores)[keep])


def bias_aucs(labels: np.ndarray, scores: np.ndarray, in_subgroup: np.ndarray) -> dict[str, float]:
    """The three AUCs of one subgroup, keyed ``subgroup_auc``, ``bpsn_auc``, ``bnsp_auc``."""
    return {
        "subgroup_auc": subgroup_auc(labels, scores, in_subgroup),
        "bpsn_auc": bpsn_auc(labels, scores, in_subgroup),
        "bnsp_auc": bnsp_auc(labels, scores, in_subgroup),
    }
