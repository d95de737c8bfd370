"""What the report says about each societal concern: status, traffic light, risks, impact text.

Everything here is driven by :data:`raikit.audit.impact.concerns.CONCERNS`; the templates only lay
it out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from raikit.audit.evidence import Evidence, Section
from raikit.audit.impact.concerns import CONCERNS, ConcernStatus, concern_status, evidence_items
from raikit.audit.impact.frameworks import CoverageRow, RiskTier, coverage, frameworks, risk_tier
from raikit.audit.impact.risk import Risk, risk_register
from raikit.audit.types import Frozen

Light = Literal["red", "amber", "green", "grey"]

STATUS_LABELS = {
    "measured": "Measured",
    "assessed": "Assessed",
    "not_assessed": "Not assessed",
}
LEVEL_LABELS = {"high": "High", "medium": "Medium", "low": "Low", "unknown": "Not scored"}
LIGHT_BY_LEVEL: dict[str, Light] = {
    "high": "red",
    "medium": "amber",
    "low": "green",
    "unknown": "grey",
}
LEVEL_RANK = {"unknown": 0, "low": 1, "medium": 2, "high": 3}


@dataclass(frozen=True)
class ConcernView:
    """One concern as the executive summary and its detail section show it."""

    status: ConcernStatus
    sections: list[tuple[str, Section]]
    risks: list[Risk]
    level: str
    light: Light
    headline: str
    measured_labels: list[str]
    missing_labels: list[str]
    impact_rows: list[tuple[str, list[tuple[str, str]]]]

    @property
    def name(self) -> str:
        return self.status.concern.name

    @property
    def title(self) -> str:
        return self.status.concern.title

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


def _impact_rows(evidence: Evidence, fields: tuple[str, ...]) -> list:
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


def _headline(status: ConcernStatus, risks: list[Risk]) -> str:
    scored = [r for r in risks if r.level != "unknown"]
    if status.status == "not_assessed":
        return "Not assessed: no measurement and no impact assessment cover this concern."
    if not scored:
        return "Assessed, but no risk was scored."
    top = max(scored, key=lambda r: r.score or 0)
    return f"{LEVEL_LABELS[top.level]} risk: {top.title} — {top.basis}."


def concern_views(evidence: Evidence, register: list[Risk]) -> list[ConcernView]:
    """One view per registered concern, in registry order (never omitting one)."""
    labels = {name: label for name, (_, label) in evidence_items(evidence).items()}
    views = []
    for concern in CONCERNS:
        status = concern_status(evidence, concern)
        risks = [r for r in register if r.concern == concern.name]
        level = max((r.level for r in risks), key=LEVEL_RANK.__getitem__, default="unknown")
        light: Light = LIGHT_BY_LEVEL[level]
        if status.status == "not_assessed":
            level, light = "unknown", "grey"
        views.append(
            ConcernView(
                status=status,
                sections=[
                    (n, evidence.sections[n]) for n in status.measured_by if n in evidence.sections
                ],
                risks=risks,
                level=level,
                light=light,
                headline=_headline(status, risks),
                measured_labels=[labels[n] for n in status.measured_by],
                missing_labels=[labels[n] for n in status.missing_measures],
                impact_rows=_impact_rows(evidence, concern.impact),
            )
        )
    return views


@dataclass(frozen=True)
class FrameworkView:
    """The framework section: risk tier, matrix columns and rows."""

    tier: RiskTier
    eu_columns: list[tuple[str, str, str]]
    nist_columns: list[tuple[str, str, str]]
    rows: list[CoverageRow]
    gaps: list[str]


def framework_view(evidence: Evidence) -> FrameworkView:
    """The EU AI Act tier and the coverage matrix of ``evidence``."""
    mapping = frameworks()
    impact = evidence.impact
    rows = coverage(evidence)
    # Column headers: "Art. 9" and "Govern"; the full label goes in a tooltip.
    eu_columns = [
        (key, " ".join(label.split(" ")[:2]), label)
        for key, label in mapping.eu_ai_act.articles.items()
    ]
    nist_columns = [
        (key, label.split(":")[0], label) for key, label in mapping.nist_ai_rmf.functions.items()
    ]
    gaps = [
        label
        for key, _, label in eu_columns + nist_columns
        if not any(r.present for r in rows if key in r.eu_ai_act or key in r.nist_ai_rmf)
    ]
    return FrameworkView(
        tier=risk_tier(impact.deployment.domain if impact is not None else None),
        eu_columns=eu_columns,
        nist_columns=nist_columns,
        rows=rows,
        gaps=gaps,
    )


def impact_context(evidence: Evidence) -> dict[str, Any]:
    """Template variables of the impact parts of the report (all formats share them)."""
    register = risk_register(evidence)
    views = concern_views(evidence, register)
    return {
        "concerns": views,
        "risks": register,
        "framework": framework_view(evidence),
        "level_labels": LEVEL_LABELS,
        "status_counts": {
            label: sum(v.status.status == key for v in views)
            for key, label in STATUS_LABELS.items()
        },
    }
