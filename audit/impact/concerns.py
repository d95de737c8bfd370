"""The registry of societal concerns: which evidence measures each, which impact fields assess it.

The executive summary, the risk register, the coverage matrix and the report's detail sections
are all driven by this table. A new assessment joins the report by naming its ``Evidence``
field in :data:`EVIDENCE_ITEMS` and in its concern's ``evidence`` tuple; until that field
exists (or while it is ``None``) the concern reads "not measured", never silently nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from raikit.audit.evidence import Evidence

__all__ = ["CONCERNS", "EVIDENCE_ITEMS", "Concern", "ConcernStatus", "concern_status"]

Status = Literal["measured", "assessed", "not_assessed"]


@dataclass(frozen=True)
class Concern:
    """One societal concern the report covers.

    Attributes
    ----------
    name : str
        Identifier, used in risk entries (``concern: bias``) and as the section anchor.
    title : str
        Heading in the report.
    question : str
        What a reader wants to know, in plain words.
    evidence : tuple of str
        ``Evidence`` fields (see :data:`EVIDENCE_ITEMS`) that measure the concern.
    impact : tuple of str
        Dotted ``ImpactAssessment`` fields that assess it.
    """

    name: str
    title: str
    question: str
    evidence: tuple[str, ...]
    impact: tuple[str, ...]


# Evidence field -> what it is, in the report's words. Fields that other assessments add
# later are listed already, so their absence is visible.
EVIDENCE_ITEMS: dict[str, str] = {
    "performance": "Performance and calibration",
    "fairness": "Group fairness (rates and disparities by group)",
    "mitigation": "Bias mitigation",
    "pii": "Personal data (PII) scan of the training data",
    "dp": "Differential privacy guarantee of training",
    "membership_inference": "Membership-inference attack",
    "explanations": "Explanations (feature attributions)",
    "robustness": "Robustness (counterfactual, perturbation, adversarial)",
}

CONCERNS: tuple[Concern, ...] = (
    Concern(
        "bias",
        "Bias and fairness",
        "Does the system treat the groups it affects differently?",
        ("fairness", "mitigation"),
        ("affected_groups",),
    ),
    Concern(
        "privacy",
        "Privacy and data protection",
        "Could the system expose personal data of the people it was built from?",
        ("pii", "dp", "membership_inference"),
        ("data_provenance",),
    ),
    Concern(
        "transparency",
        "Transparency and explainability",
        "Can its users and the people affected understand what it does and why?",
        ("explanations",),
        ("intended_use", "human_oversight"),
    ),
    Concern(
        "security",
        "Security and misuse",
        "How could it be attacked, stolen or misused, and what prevents that?",
        ("robustness",),
        ("misuse", "security"),
    ),
    Concern(
        "employment",
        "Employment and productivity",
        "Which work does it automate, who is affected, and are its gains real?",
        (),
        ("automation", "productivity_claims"),
    ),
    Concern(
        "service_quality",
        "Service quality",
        "Is it accurate and well calibrated enough for the service it supports?",
        ("performance",),
        ("service_quality_claims",),
    ),
    Concern(
        "accountability",
        "Accountability",
        "Who answers for the system, who oversees it, and when is it reviewed?",
        (),
        ("accountability", "human_oversight"),
    ),
    Concern(
        "diversity",
        "Diversity",
        "Who built it, and whom does its data represent?",
        (),
        ("diversity",),
    ),
    Concern(
        "environment",
        "Environmental cost",
        "What did it cost in compute and energy?",
        (),
        ("environment",),
    ),
)


@dataclass(frozen=True)
class ConcernStatus:
    """Whether one concern was measured, assessed or not assessed, and by what."""

    concern: Concern
    status: Status
    measured_by: list[str]
    missing_measures: list[str]
    assessed_by: list[str]
    missing_assessments: list[str]


def evidence_item(evidence: Evidence, name: str) -> Any:
    """The evidence section ``name``, or ``None`` when this evidence lacks it.

    ``dp`` is read from the training record (``model.training["privacy"]`` when
    ``differentially_private``) when the evidence has no ``dp`` section of its own, since
    raikit's trainer records the guarantee there.
    """
    value = getattr(evidence, name, None)
    if value is None and name == "dp":
        training = evidence.model.training or {}
        # raikit's trainer writes privacy.differentially_private; older records dp.enabled.
        for key, flag in (("privacy", "differentially_private"), ("dp", "enabled")):
            record = training.get(key)
            if isinstance(record, dict) and record.get(flag):
                return record
    return value


def concern_status(evidence: Evidence, concern: Concern) -> ConcernStatus:
    """Classify ``concern`` for ``evidence``: measured beats assessed beats not assessed."""
    measured = [n for n in concern.evidence if evidence_item(evidence, n) is not None]
    impact = evidence.impact
    assessed = [f for f in concern.impact if impact is not None and impact.has(f)]
    status: Status = "measured" if measured else "assessed" if assessed else "not_assessed"
    return ConcernStatus(
        concern=concern,
        status=status,
        measured_by=measured,
        missing_measures=[n for n in concern.evidence if n not in measured],
        assessed_by=assessed,
        missing_assessments=[f for f in concern.impact if f not in assessed],
    )
