import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from raikit.audit.performance import assess_performance


@pytest.fixture
def binary_case():
    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 2, 2000)
    p = np.clip(0.3 + 0.4 * y_true + rng.normal(0, 0.2, 2000), 0, 1)
    return y_true, p


def test_binary_metrics_match_sklearn(binary_case):
    y_true, p = binary_case
    y_pred = (p >= 0.5).astype(int)
    result = assess_performance(y_true, y_pred, ["no", "yes"], y_score=np.column_stack([1 - p, p]))
    m = {name: interval.value for name, interval in result.metrics.items()}
    assert m["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y_true, y_pred))
    assert m["precision"] == pytest.approx(precision_score(y_true, y_pred))
    assert m["recall"] == pytest.approx(recall_score(y_true, y_pred))
    assert m["f1"] == pytest.approx(f1_score(y_true, y_pred))
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y_true, p))
    assert result.positive_label == "yes"
    tn, fp, fn, tp = (int(((y_true == a) & (y_pred == b)).sum()) for a in (0, 1) for b in (0, 1))
    assert result.confusion_matrix == [[tn, fp], [fn, tp]]


def test_intervals_cover_point_and_shrink_with_n(binary_case):
    y_true, p = binary_case
    y_pred = (p >= 0.5).astype(int)
    big = assess_performance(y_true, y_pred, ["0", "1"])
    small = assess_performance(y_true[:200], y_pred[:200], ["0", "1"])
    for name in ("accuracy", "balanced_accuracy", "precision", "recall", "f1"):
        interval = big.metrics[name]
        assert interval.lower <= interval.value <= interval.upper
        small_width = small.metrics[name].upper - small.metrics[name].lower
        assert interval.upper - interval.lower < small_width
    # Normal approximation of the accuracy interval: 1.96 * sqrt(p(1-p)/n).
    acc = big.metrics["accuracy"]
    expected = 2 * 1.96 * np.sqrt(acc.value * (1 - acc.value) / len(y_true))
    assert acc.upper - acc.lower == pytest.approx(expected, rel=0.15)


def test_hanley_mcneil_interval_for_auc():
    # Hanley & McNeil (1982), Table: AUC 0.8 with 50 positives and 50 negatives -> SE ~ 0.0435.
    y_true = np.r_[np.ones(50), np.zeros(50)].astype(int)
    scores = np.r_[np.linspace(0.2, 1.0, 50), np.linspace(0.0, 0.8, 50)]
    result = assess_performance(
        y_true,
        (scores > 0.5).astype(int),
        ["0", "1"],
        y_score=np.column_stack([1 - scores, scores]),
    )
    auc = result.metrics["roc_auc"]
    q1, q2 = auc.value / (2 - auc.value), 2 * auc.value**2 / (1 + auc.value)
    se = np.sqrt(
        (auc.value * (1 - auc.value) + 49 * (q1 - auc.value**2) + 49 * (q2 - auc.value**2)) / 2500
    )
    assert auc.upper - auc.value == pytest.approx(1.959964 * se, rel=1e-4)


def test_calibration_by_hand():
    # Two bins used: 0.15 (4 rows, 1 positive) and 0.85 (4 rows, 3 positives).
    p = np.array([0.15] * 4 + [0.85] * 4)
    y_true = np.array([1, 0, 0, 0, 1, 1, 1, 0])
    result = assess_performance(
        y_true, (p > 0.5).astype(int), ["0", "1"], y_score=np.column_stack([1 - p, p])
    )
    calibration = result.calibration
    assert calibration.bins[1].count == 4 and calibration.bins[8].count == 4
    assert calibration.bins[1].fraction_positive == pytest.approx(0.25)
    # ECE = 0.5 * |0.25 - 0.15| + 0.5 * |0.75 - 0.85| = 0.1
    assert calibration.expected_calibration_error == pytest.approx(0.1)


def test_no_scores_is_a_finding_not_an_error(binary_case):
    y_true, p = binary_case
    result = assess_performance(y_true, (p > 0.5).astype(int), ["0", "1"])
    assert result.calibration is None and "roc_auc" not in result.metrics
    assert [f.code for f in result.findings] == ["no_scores"]


def test_undefined_precision_is_recorded():
    y_true = np.array([0, 1, 0, 1])
    result = assess_performance(y_true, np.zeros(4, dtype=int), ["0", "1"])
    assert result.metrics["precision"].value is None
    assert any(f.code == "undefined_metric" and "precision" in f.message for f in result.findings)


def test_multiclass_macro_metrics():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 3, 600)
    y_pred = np.where(rng.random(600) < 0.7, y_true, rng.integers(0, 3, 600))
    scores = np.full((600, 3), 0.1)
    scores[np.arange(600), y_pred] = 0.8
    result = assess_performance(y_true, y_pred, ["a", "b", "c"], y_score=scores)
    assert result.metrics["precision"].value == pytest.approx(
        precision_score(y_true, y_pred, average="macro")
    )
    assert result.metrics["recall"].value == pytest.approx(
        recall_score(y_true, y_pred, average="macro")
    )
    assert result.metrics["roc_auc"].value == pytest.approx(
        roc_auc_score(y_true, scores / scores.sum(axis=1, keepdims=True), multi_class="ovr")
    )
    assert result.positive_label is None
    assert result.calibration.bins[7].count == 600  # every top-label confidence is 0.8


def test_multiclass_auc_without_a_class_is_a_finding():
    y_true = np.array([0, 1, 0, 1, 0, 1])
    scores = np.tile([0.5, 0.3, 0.2], (6, 1))
    result = assess_performance(y_true, y_true, ["a", "b", "c"], y_score=scores)
    assert result.metrics["roc_auc"].value is None
    assert any(f.code == "undefined_metric" and "roc_auc" in f.message for f in result.findings)
