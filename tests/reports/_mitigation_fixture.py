"""A hand-built mitigation comparison for the report tests (no mitigation code runs)."""

from __future__ import annotations

from raikit.audit.mitigation import MitigationPoint, MitigationResult
from raikit.audit.types import Interval


def point(name, method, accuracy, dpd, pareto, needs=False):
    disparities = {
        "demographic_parity_difference": Interval(value=dpd, lower=dpd / 2, upper=dpd * 1.5),
        "equalized_odds_difference": Interval(value=None),
    }
    return MitigationPoint(
        name=name,
        method=method,
        stage="baseline" if method == "baseline" else "post-processing",
        accuracy=Interval(value=accuracy),
        disparities=disparities,
        needs_sensitive_at_prediction=needs,
        pareto=pareto,
        model_path=f"models/{method}",
    )


def mitigation_result(third_name: str = "reweighing (strength=1)") -> MitigationResult:
    """Baseline, a threshold optimizer (needs the sensitive column) and a dominated point."""
    return MitigationResult(
        label="income",
        sensitive=["sex"],
        constraint="demographic_parity",
        target_disparity="demographic_parity_difference",
        positive_label=">50K",
        rows="test split of adult",
        n_rows=7327,
        points=[
            point("baseline", "baseline", 0.859, 0.168, True),
            point("threshold_optimizer", "threshold_optimizer", 0.839, 0.011, True, needs=True),
            point(third_name, "reweighing", 0.80, 0.05, False),
        ],
    )
