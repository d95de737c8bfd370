"""What the report shows of each societal concern: status, traffic light, risks, impact text.

Every verdict here was judged when the evidence was made (``Evidence.verdicts``); this module
only turns it into views the templates lay out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from raikit.audit.evidence import LEVEL_LABELS, DataError, Evidence, Frozen

if TYPE_CHECKING:
    from raikit.audit.evidence import ConcernVerdict, Risk, Section

Light = Literal["red", "amber", "green", "grey"]

STATUS_LABELS = {
    "measured": "Measured",
    "assessed": "Assessed",
    "not_assessed": "Not assessed",
}
LIGHT_BY_LEVEL: dict[str, Light] = {
    "high": "red",
    "medium": "amber",
    "low": "green",
    "unknown": "grey",
}


@dataclass(frozen=True)
class ConcernView:
    """One concern as the executive summary and its detail section show it."""

    status: ConcernVerdict
    sections: list[tuple[str, Section]]
    risks: list[Risk]
    light: Light
    impact_rows: list[tuple[str, list[tuple[str, str]]]]

    @property
    def name(self) -> str:
        return self.status.name

    @property
    def title(self) -> str:
        return self.status.title

    @property
    def level(self) -> str:
        return self.status.level

    @property
    def headline(self) -> str:
        return self.status.headline

    @property
    def missing_labels(self) -> list[str]:
        return self.status.missing_labels

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status.status]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "not given"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        if not value:
            return "none"
        if all(not isinstance(v, Frozen) for v in value):
            return "; ".join(_text(v) for v in value)
    if isinstance(value, Frozen):
        fields = type(value).model_fields
        return "; ".join(f"{k.replace('_', ' ')}: {_text(getattr(value, k))}" for k in fields)
    return str(value) if str(value) != "" else "not given"


def field_rows(value: Any) -> list[tuple[str, str]]:
    """An impact field as (label, text) rows: one per sub-field, or one per list entry.

    Examples
    --------
    >>> field_rows(["applicants", "staff"])
    [('', 'applicants; staff')]
    """
    if isinstance(value, Frozen):
        return [(k.replace("_", " "), _text(getattr(value, k))) for k in type(value).model_fields]
    if isinstance(value, list) and value and isinstance(value[0], Frozen):
        return [(str(i), _text(v)) for i, v in enumerate(value, start=1)]
    return [("", _text(value))]


def _impact_rows(evidence: Evidence, fields: list[str]) -> list:
    impact = evidence.impact
    if impact is None:
        return []
    rows = []
    for field in fields:
        value: Any = impact
        for part in field.split("."):
            value = getattr(value, part, None)
        if impact.has(field):
            rows.append((field.replace("_", " ").capitalize(), field_rows(value)))
    return rows


def concern_views(evidence: Evidence) -> list[ConcernView]:
    """One view per concern, in the order the verdicts list them (never omitting one)."""
    verdicts = evidence.verdicts
    return [
        ConcernView(
            status=verdict,
            sections=[
                (n, evidence.sections[n]) for n in verdict.measured_by if n in evidence.sections
            ],
            risks=[r for r in verdicts.risks if r.concern == verdict.name],
            light=LIGHT_BY_LEVEL[verdict.level],
            impact_rows=_impact_rows(evidence, verdict.impact_fields),
        )
        for verdict in verdicts.concerns
    ]


def impact_context(evidence: Evidence) -> dict[str, Any]:
    """Template variables of the impact parts of the report (all formats share them)."""
    if evidence.verdicts is None:
        raise DataError(
            "this evidence has no verdicts (risk register, concern status); read it with "
            "raikit.audit.evidence.load_evidence, which judges them"
        )
    views = concern_views(evidence)
    return {
        "concerns": views,
        "risks": evidence.verdicts.risks,
        "framework": evidence.verdicts.framework,
        "level_labels": LEVEL_LABELS,
        "status_counts": {
            label: sum(v.status.status == key for v in views)
            for key, label in STATUS_LABELS.items()
        },
    }
