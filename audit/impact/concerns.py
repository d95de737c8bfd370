"""The registry of societal concerns: which evidence measures each, which impact fields assess it.

The executive summary, the risk register, the coverage matrix and the report's detail sections
are all driven by this table. A concern is measured by the registered assessments that name it
(:mod:`raikit.audit.registry`) and by record items: the training record's DP guarantee (``dp``)
and a reproduction of the audit (``reproducibility``, ``rai reproduce``); while none of them is
in the evidence the concern reads "not measured", never silently nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from raikit.audit.evidence import Evidence

__all__ = [
    "CONCERNS",
    "RECORD_ITEMS",
    "Concern",
    "ConcernStatus",
    "concern_status",
    "evidence_items",
]

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
    record : tuple of str
        Record items (see :data:`RECORD_ITEMS`) that measure the concern, besides the
        registered assessments that name it.
    impact : tuple of str
        Dotted ``ImpactAssessment`` fields that assess it.
    """

    name: str
    title: str
    question: str
    record: tuple[str, ...]
    impact: tuple[str, ...]


#: Recorded items that measure a concern, in the report's words.
RECORD_ITEMS: dict[str, str] = {
    "dp": "Training record: differential privacy guarantee, or none",
    "reproducibility": "Reproduction of the audit (rai reproduce)",
}

CONCERNS: tuple[Concern, ...] = (
    Concern(
        "bias",
        "Bias and fairness",
        "Does the system treat the groups it affects differently?",
        (),
        ("affected_groups",),
    ),
    Concern(
        "privacy",
        "Privacy and data protection",
        "Could the system expose personal data of the people it was built from?",
        ("dp",),
        ("data_provenance",),
    ),
    Concern(
        "transparency",
        "Transparency and explainability",
        "Can its users and the people affected understand what it does and why?",
        (),
        ("intended_use", "human_oversight"),
    ),
    Concern(
        "security",
        "Security and misuse",
        "How could it be attacked, stolen or misused, and what prevents that?",
        (),
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
        (),
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
    Concern(
        "science",
        "Impact on science",
        "Can others reproduce and check its results, and do the claims made with it rest on "
        "evidence?",
        ("reproducibility",),
        ("science",),
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


def evidence_items(evidence: Evidence | None = None) -> dict[str, tuple[str, str]]:
    """Every item that can measure a concern: name -> (concern, label).

    The registered assessments, the training-record items, and the results of ``evidence``
    whose assessment this raikit does not have registered (their stored sections name them).
    """
    from raikit.audit.registry import assessments

    items = {a.name: (a.concern, a.title) for a in assessments()}
    for concern in CONCERNS:
        items.update({name: (concern.name, RECORD_ITEMS[name]) for name in concern.record})
    if evidence is not None:
        items.update({n: (s.concern, s.title) for n, s in evidence.sections.items()})
    return items


def evidence_item(evidence: Evidence, name: str) -> Any:
    """The result ``name`` of ``evidence``, or the record item ``name`` (``dp``: the training
    record's privacy record, a guarantee or the recorded fact that there is none;
    ``reproducibility``: the audit's reproduction); ``None`` when absent."""
    if name == "dp":
        training = evidence.model.training
        return training.privacy if training is not None else None
    if name == "reproducibility":
        return evidence.reproduction
    return evidence.result(name)


def _on_request(name: str) -> bool:
    """Whether the assessment ``name`` runs only when asked for (no gap when absent)."""
    from raikit.audit.registry import registered

    item = registered(name)
    return item is not None and item.on_request


def concern_status(evidence: Evidence, concern: Concern) -> ConcernStatus:
    """Classify ``concern`` for ``evidence``: measured beats assessed beats not assessed."""
    names = [n for n, (owner, _) in evidence_items(evidence).items() if owner == concern.name]
    measured = [n for n in names if evidence_item(evidence, n) is not None]
    impact = evidence.impact
    assessed = [f for f in concern.impact if impact is not None and impact.has(f)]
    status: Status = "measured" if measured else "assessed" if assessed else "not_assessed"
    return ConcernStatus(
        concern=concern,
        status=status,
        measured_by=measured,
        missing_measures=[n for n in names if n not in measured and not _on_request(n)],
        assessed_by=assessed,
        missing_assessments=[f for f in concern.impact if f not in assessed],
    )
