"""Verdicts: what the evidence lets a reader conclude, computed once when the evidence is made.

The risk register, each concern's status, level and headline, the EU AI Act tier and the
framework coverage are judged here from the results, the impact assessment and the policy's
limits, and stored in ``Evidence.verdicts``; reports lay them out and never judge again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from raikit.audit.impact.frameworks import CoverageRow, RiskTier
from raikit.audit.impact.risk import Level, Risk
from raikit.audit.types import Frozen

if TYPE_CHECKING:
    from raikit.audit.evidence import Evidence
    from raikit.audit.policy import Policy

__all__ = ["ConcernVerdict", "FrameworkCoverage", "Verdicts", "judge", "with_verdicts"]

LEVEL_LABELS = {"high": "High", "medium": "Medium", "low": "Low", "unknown": "Not scored"}
_LEVEL_RANK = {"unknown": 0, "low": 1, "medium": 2, "high": 3}


class ConcernVerdict(Frozen):
    """One societal concern: measured, assessed or not, its risk level and a one-line headline.

    ``measured_by`` and ``missing_measures`` name evidence items (results, ``dp``);
    ``measured_labels`` and ``missing_labels`` say the same in the report's words.
    """

    name: str
    title: str
    question: str
    status: Literal["measured", "assessed", "not_assessed"]
    measured_by: list[str]
    missing_measures: list[str]
    measured_labels: list[str]
    missing_labels: list[str]
    assessed_by: list[str]
    missing_assessments: list[str]
    impact_fields: list[str]
    level: Level
    headline: str


class FrameworkCoverage(Frozen):
    """The EU AI Act tier and which evidence supports which article and NIST function."""

    tier: RiskTier
    eu_columns: list[tuple[str, str, str]]
    nist_columns: list[tuple[str, str, str]]
    rows: list[CoverageRow]
    gaps: list[str]


class Verdicts(Frozen):
    """Everything the report concludes, with the limits it was judged against."""

    limits: dict[str, float | list[str] | None]
    risks: list[Risk]
    concerns: list[ConcernVerdict]
    framework: FrameworkCoverage


def _headline(status: str, risks: list[Risk]) -> str:
    scored = [r for r in risks if r.level != "unknown"]
    if status == "not_assessed":
        return "Not assessed: no measurement and no impact assessment cover this concern."
    if not scored:
        why = next((r.basis for r in risks if r.source == "measured"), None)
        return f"{why[:1].upper()}{why[1:]}." if why else "Assessed, but no risk was scored."
    top = max(scored, key=lambda r: r.score or 0)
    return f"{LEVEL_LABELS[top.level]} risk: {top.title} — {top.basis}."


def _concerns(evidence: Evidence, register: list[Risk]) -> list[ConcernVerdict]:
    from raikit.audit.impact.concerns import CONCERNS, concern_status, evidence_items

    labels = {name: label for name, (_, label) in evidence_items(evidence).items()}
    verdicts = []
    for concern in CONCERNS:
        status = concern_status(evidence, concern)
        risks = [r for r in register if r.concern == concern.name]
        level = max((r.level for r in risks), key=_LEVEL_RANK.__getitem__, default="unknown")
        if status.status == "not_assessed":
            level = "unknown"
        verdicts.append(
            ConcernVerdict(
                name=concern.name,
                title=concern.title,
                question=concern.question,
                status=status.status,
                measured_by=status.measured_by,
                missing_measures=status.missing_measures,
                measured_labels=[labels[n] for n in status.measured_by],
                missing_labels=[labels[n] for n in status.missing_measures],
                assessed_by=status.assessed_by,
                missing_assessments=status.missing_assessments,
                impact_fields=list(concern.impact),
                level=level,
                headline=_headline(status.status, risks),
            )
        )
    return verdicts


def _framework(evidence: Evidence) -> FrameworkCoverage:
    from raikit.audit.impact.frameworks import coverage, frameworks, risk_tier

    mapping = frameworks()
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
    impact = evidence.impact
    return FrameworkCoverage(
        tier=risk_tier(impact.deployment.domain if impact is not None else None),
        eu_columns=eu_columns,
        nist_columns=nist_columns,
        rows=rows,
        gaps=gaps,
    )


def judge(evidence: Evidence, policy: Policy | None = None) -> Verdicts:
    """The verdicts of ``evidence`` under ``policy``'s limits (raikit's defaults otherwise)."""
    from dataclasses import asdict

    from raikit.audit.impact.risk import risk_register
    from raikit.audit.policy import limits_from

    register = risk_register(evidence, policy)
    limits = asdict(limits_from(policy))
    limits["forbidden_pii"] = list(limits["forbidden_pii"])
    return Verdicts(
        limits=limits,
        risks=register,
        concerns=_concerns(evidence, register),
        framework=_framework(evidence),
    )


def with_verdicts(evidence: Evidence, policy: Policy | None = None) -> Evidence:
    """A copy of ``evidence`` with its verdicts judged anew.

    ``policy`` defaults to the one recorded by the gate (``evidence.gate.policy``).
    """
    if policy is None and evidence.gate is not None:
        policy = evidence.gate.policy
    return evidence.model_copy(update={"verdicts": judge(evidence, policy)})
