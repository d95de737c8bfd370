"""Framework mapping: EU AI Act risk tier and articles, NIST AI RMF functions.

The mapping itself is data, ``audit/impact/frameworks.yaml``, shipped with the package; this module
only reads it and lays it over an evidence bundle.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import TYPE_CHECKING, Literal

from raikit.audit.types import Frozen

if TYPE_CHECKING:
    from raikit.audit.evidence import Evidence

__all__ = ["CoverageRow", "Frameworks", "RiskTier", "coverage", "frameworks", "risk_tier"]

Tier = Literal["high", "limited", "minimal", "unknown"]
#: The domain that names none: it classifies nothing.
UNCLASSIFIED_DOMAIN = "other"


class ItemMapping(Frozen):
    """What one evidence item supports."""

    eu_ai_act: list[str]
    nist_ai_rmf: list[str]


class EUAIAct(Frozen):
    high_risk_domains: dict[str, str]
    limited_domains: list[str]
    tiers: dict[str, str]
    articles: dict[str, str]


class NISTAIRMF(Frozen):
    functions: dict[str, str]


class Frameworks(Frozen):
    """The content of ``frameworks.yaml``."""

    eu_ai_act: EUAIAct
    nist_ai_rmf: NISTAIRMF
    items: dict[str, ItemMapping]


@functools.cache
def frameworks() -> Frameworks:
    """The framework mapping shipped with raikit (read once)."""
    from raikit.audit._yaml import parse_yaml_model

    text = (
        resources.files("raikit.audit.impact")
        .joinpath("frameworks.yaml")
        .read_text(encoding="utf-8")
    )
    return parse_yaml_model(text, Frameworks, "frameworks.yaml")


class RiskTier(Frozen):
    """The EU AI Act tier of a system and why."""

    tier: Tier
    reason: str
    obligations: str


def risk_tier(domain: str | None) -> RiskTier:
    """EU AI Act risk tier from the deployment domain (Annex III high-risk areas).

    Examples
    --------
    >>> risk_tier("employment").tier
    'high'
    >>> risk_tier(None).tier
    'unknown'
    >>> risk_tier("other").tier
    'unknown'
    """
    act = frameworks().eu_ai_act
    if domain is None:
        return RiskTier(
            tier="unknown",
            reason="no impact assessment: the deployment domain is not known",
            obligations="Give an impact.yaml (rai impact init) to classify the system.",
        )
    if domain == UNCLASSIFIED_DOMAIN:
        # "other" is no answer: a system in an Annex III area must not read as minimal risk.
        return RiskTier(
            tier="unknown",
            reason="deployment domain 'other': the system is not classified",
            obligations="Name the deployment domain in impact.yaml to classify the system.",
        )
    if domain in act.high_risk_domains:
        return RiskTier(
            tier="high", reason=act.high_risk_domains[domain], obligations=act.tiers["high"]
        )
    if domain in act.limited_domains:
        return RiskTier(
            tier="limited", reason=f"domain '{domain}'", obligations=act.tiers["limited"]
        )
    return RiskTier(
        tier="minimal",
        reason=f"domain '{domain}' is not an Annex III area",
        obligations=act.tiers["minimal"],
    )


class CoverageRow(Frozen):
    """One row of the coverage matrix: an evidence item, whether present, what it supports."""

    item: str
    label: str
    kind: Literal["measurement", "assessment"]
    present: bool
    eu_ai_act: list[str]
    nist_ai_rmf: list[str]


def coverage(evidence: Evidence) -> list[CoverageRow]:
    """The framework coverage matrix of ``evidence``, one row per mapped evidence item.

    Measured items are :func:`raikit.audit.impact.concerns.evidence_items`, assessed items the
    impact fields named in :data:`raikit.audit.impact.concerns.CONCERNS`; every item has a row,
    present or not, so gaps show.
    """
    from raikit.audit.impact.concerns import CONCERNS, evidence_item, evidence_items

    mapping = frameworks().items
    unmapped = ItemMapping(eu_ai_act=[], nist_ai_rmf=[])
    items: list[tuple[str, str, Literal["measurement", "assessment"], bool]] = [
        (name, label, "measurement", evidence_item(evidence, name) is not None)
        for name, (_, label) in evidence_items(evidence).items()
    ]
    fields = dict.fromkeys(field for concern in CONCERNS for field in concern.impact)
    items += [
        (
            field,
            f"impact.yaml: {field.replace('_', ' ')}",
            "assessment",
            evidence.impact is not None and evidence.impact.has(field),
        )
        for field in fields
    ]
    items += [
        ("risk_register", "Risk register", "assessment", evidence.impact is not None),
        ("policy_gate", "Policy gate", "assessment", evidence.gate is not None),
    ]
    return [
        CoverageRow(
            item=name,
            label=label,
            kind=kind,
            present=present,
            eu_ai_act=mapping.get(name, unmapped).eu_ai_act,
            nist_ai_rmf=mapping.get(name, unmapped).nist_ai_rmf,
        )
        for name, label, kind, present in items
    ]
