"""A toy assessment defined outside raikit: the share of positive labels in the audited rows."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from raikit.audit.assessment import Assessment, AuditContext, Measure
from raikit.audit.registry import register_assessment, unregister_assessment
from raikit.audit.types import Finding, Frozen, Interval

TOY = "toy_positive_share"


class ToyResult(Frozen):
    positive_share: float
    n_rows: int
    findings: list[Finding] = []


def _run(context: AuditContext, config: None) -> ToyResult:
    y_true = context.scores.y_true
    return ToyResult(positive_share=float((y_true == 1).mean()), n_rows=len(y_true))


def _measures(result: ToyResult) -> list[Measure]:
    return [Measure("toy_share", "model", Interval(value=result.positive_share))]


TOY_ASSESSMENT = Assessment(
    name=TOY,
    title="Share of positive labels (toy)",
    concern="diversity",
    needs="predictions",
    result_type=ToyResult,
    run=_run,
    config_type=None,
    metrics=("toy_share",),
    measures=_measures,
)


@contextlib.contextmanager
def registered_toy() -> Iterator[None]:
    register_assessment(TOY_ASSESSMENT)
    try:
        yield
    finally:
        unregister_assessment(TOY)
