"""Degenerate classifiers: models that always, or nearly always, predict one class.

Such a model has no disparity between groups, no attack moves it and no attacker learns from
it, so its fairness, robustness and privacy figures look good and mean nothing. raikit says so
when it trains one and when it audits one, and never counts one as evidence of low risk or as a
trade-off point.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["MIN_RECALL", "MIN_SUPPORT", "confusion_matrix", "degenerate_reason"]

#: A class counts as missed when the model finds fewer than this share of its rows ...
MIN_RECALL = 0.10
#: ... and the class has at least this many rows (fewer say nothing either way).
MIN_SUPPORT = 10


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts of (true class, predicted class), class indices in ``range(n_classes)``."""
    key = np.asarray(y_true, dtype=np.int64) * n_classes + np.asarray(y_pred, dtype=np.int64)
    return np.bincount(key, minlength=n_classes**2).reshape(n_classes, n_classes)


def degenerate_reason(confusion: np.ndarray, classes: Sequence[str]) -> str | None:
    """Why a classifier with this confusion matrix is degenerate, or ``None`` when it is not.

    Degenerate: it predicts a single class for every row, or it finds fewer than
    :data:`MIN_RECALL` of the rows of a class that has at least :data:`MIN_SUPPORT` rows.
    Rows with one true class only cannot tell, and give ``None``.

    Examples
    --------
    >>> degenerate_reason(np.array([[134, 0], [166, 0]]), ["no", "yes"])
    "it predicts 'no' for every row"
    >>> degenerate_reason(np.array([[10, 124], [0, 166]]), ["no", "yes"])
    "it finds 10 of the 134 rows of class 'no' (7%): it (nearly) always predicts 'yes'"
    """
    confusion = np.asarray(confusion)
    support, predicted = confusion.sum(axis=1), confusion.sum(axis=0)
    if (support > 0).sum() < 2:
        return None
    used = np.flatnonzero(predicted)
    if len(used) == 1:
        return f"it predicts '{classes[used[0]]}' for every row"
    for k in np.argsort(-support, kind="stable"):
        found = int(confusion[k, k])
        if support[k] >= MIN_SUPPORT and found < MIN_RECALL * support[k]:
            reason = (
                f"it finds {found} of the {int(support[k])} rows of class '{classes[k]}' "
                f"({found / support[k]:.0%})"
            )
            if len(classes) == 2:
                reason += f": it (nearly) always predicts '{classes[int(np.argmax(predicted))]}'"
            return reason
    return None
