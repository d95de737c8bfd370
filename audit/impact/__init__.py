"""Societal-impact assessment: the ``impact.yaml`` a team writes about its AI system.

Public surface: :class:`ImpactAssessment` (the schema), :func:`load_impact`,
:func:`impact_template` (the commented file ``rai impact init`` writes) and
:func:`placeholder_fields`. The risk register is in :mod:`raikit.audit.impact.risk`, the framework
mapping in :mod:`raikit.audit.impact.frameworks`.

The governance side of the audit: the concern table (:mod:`.concerns`), the risk register
(:mod:`.risk`), the EU AI Act / NIST AI RMF mapping (:mod:`.frameworks`) and the verdicts judged
from them when evidence is made (:mod:`.verdicts`).
"""

from __future__ import annotations

import datetime as dt
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from pydantic import Field, field_validator

from raikit.audit._yaml import load_yaml_model, parse_yaml_model
from raikit.audit.types import Frozen

if TYPE_CHECKING:
    from raikit.audit.evidence import Evidence

__all__ = [
    "DOMAINS",
    "attach_impact",
    "PLACEHOLDER",
    "ImpactAssessment",
    "impact_template",
    "load_impact",
    "placeholder_fields",
]

Domain = Literal[
    "healthcare",
    "education",
    "finance",
    "employment",
    "justice",
    "law_enforcement",
    "migration",
    "public_services",
    "critical_infrastructure",
    "biometrics",
    "insurance",
    "marketing",
    "entertainment",
    "research",
    "other",
]
DOMAINS: tuple[str, ...] = get_args(Domain)
Score = Field(ge=1, le=5)
# The template's values start with this marker until someone writes the real answer.
PLACEHOLDER = "TODO"


class IntendedUse(Frozen):
    """What the system is for, who uses it, and what it must not be used for."""

    description: str
    users: list[str] = Field(min_length=1)
    out_of_scope: list[str] = []


class Deployment(Frozen):
    """Where the system is deployed; ``domain`` decides the EU AI Act risk tier."""

    domain: Domain
    context: str = ""
    automated_decisions: bool = False
    countries: list[str] = []


class HumanOversight(Frozen):
    """Who can review, override or stop the system's decisions."""

    description: str
    human_in_the_loop: bool
    can_override: bool = True


class DataProvenance(Frozen):
    """Where the data comes from and on what basis it is used."""

    sources: list[str] = Field(min_length=1)
    consent: str
    collection_period: str = ""
    personal_data: bool = True


class Automation(Frozen):
    """Effects on work: tasks automated, jobs affected, re-skilling offered."""

    tasks_automated: list[str] = []
    jobs_affected: str = ""
    reskilling: str = ""


class Claim(Frozen):
    """A productivity or service-quality claim and the evidence behind it."""

    claim: str
    evidence: str


class MisuseScenario(Frozen):
    """A way the system could be misused or abused, and what prevents it."""

    scenario: str
    mitigation: str
    likelihood: int = Score
    severity: int = Score


class SecurityThreat(Frozen):
    """A security threat to the system or its data, and what prevents it."""

    threat: Literal["privacy_leakage", "data_misuse", "model_theft", "adversarial_input", "other"]
    description: str
    mitigation: str
    likelihood: int = Score
    severity: int = Score


class EnvironmentalCost(Frozen):
    """The compute and energy it took to build the system, where known."""

    training_compute: str = ""
    hardware: str = ""
    energy_kwh: float | None = Field(default=None, ge=0)
    co2_kg: float | None = Field(default=None, ge=0)


class ScientificImpact(Frozen):
    """Effects on science: whether others can reproduce and check the system's results."""

    reproducibility: str = ""
    data_access: str = ""
    claims: list[Claim] = []


class Accountability(Frozen):
    """Who answers for the system, and when it is next reviewed."""

    owner: str
    contact: str
    review_date: dt.date


class Diversity(Frozen):
    """Diversity of the team that built the system and of its data."""

    team: str
    data: str


class DeclaredRisk(Frozen):
    """A risk the team names itself; measured evidence may raise or lower its likelihood."""

    concern: str
    description: str
    likelihood: int = Score
    severity: int = Score
    mitigation: str
    owner: str = ""

    @field_validator("concern")
    @classmethod
    def _known_concern(cls, value: str) -> str:
        from raikit.audit.impact.concerns import CONCERNS

        names = [c.name for c in CONCERNS]
        if value not in names:
            raise ValueError(f"concern must be one of {', '.join(names)}")
        return value


class ImpactAssessment(Frozen):
    """The societal-impact assessment of one AI system (the content of ``impact.yaml``).

    Only ``system_name``, ``intended_use``, ``deployment`` and ``accountability`` are
    required; every other part left out shows as "not assessed" in the report.
    """

    system_name: str
    intended_use: IntendedUse
    deployment: Deployment
    accountability: Accountability
    affected_groups: list[str] = []
    human_oversight: HumanOversight | None = None
    data_provenance: DataProvenance | None = None
    automation: Automation | None = None
    productivity_claims: list[Claim] = []
    service_quality_claims: list[Claim] = []
    misuse: list[MisuseScenario] = []
    security: list[SecurityThreat] = []
    environment: EnvironmentalCost | None = None
    diversity: Diversity | None = None
    science: ScientificImpact | None = None
    risks: list[DeclaredRisk] = []

    def has(self, field: str) -> bool:
        """Whether the dotted ``field`` is filled in: not missing, not empty, and with no
        ``TODO`` placeholder left anywhere inside it (a section or list holding one is not an
        answer).

        Examples
        --------
        >>> assessment.has("accountability.owner")  # doctest: +SKIP
        True
        """
        value: Any = self
        for part in field.split("."):
            value = getattr(value, part, None)
            if value is None:
                return False
        return _filled(value)


def _filled(value: Any) -> bool:
    if isinstance(value, str):
        return bool(value.strip()) and not value.startswith(PLACEHOLDER)
    if isinstance(value, (list, dict)):
        return bool(value) and not placeholder_fields(value)
    if isinstance(value, Frozen):
        return not placeholder_fields(value)
    return True


def load_impact(path: Path) -> ImpactAssessment:
    """Read and validate an ``impact.yaml``.

    Raises
    ------
    ConfigError
        Naming the file, the line and the field, e.g.
        ``impact.yaml line 9: field 'deployment.domain': Input should be ...; got 'heathcare'``.
    """
    return load_yaml_model(path, ImpactAssessment, "impact assessment")


def parse_impact(text: str, name: str = "impact.yaml") -> ImpactAssessment:
    """Validate the YAML ``text`` of an impact assessment (see :func:`load_impact`)."""
    return parse_yaml_model(text, ImpactAssessment, name)


def placeholder_fields(value: Any) -> list[str]:
    """Dotted names of every text field under ``value`` (an assessment, a section of one or a
    list) still holding the template's ``TODO`` placeholder."""
    found: list[str] = []

    def walk(value: Any, name: str) -> None:
        if isinstance(value, str) and value.startswith(PLACEHOLDER):
            found.append(name)
        elif isinstance(value, Frozen):
            for key in type(value).model_fields:
                walk(getattr(value, key), f"{name}.{key}" if name else key)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{name}[{index}]")

    walk(value, "")
    return found


def attach_impact(evidence: Evidence, impact: ImpactAssessment) -> Evidence:
    """A copy of ``evidence`` with ``impact`` attached and a finding per ``TODO`` left in it."""
    from raikit.audit.types import Finding

    findings = list(evidence.findings)
    todo = placeholder_fields(impact)
    if todo:
        findings.append(
            Finding(
                concern="impact",
                severity="warning",
                code="impact_placeholder",
                message=f"impact.yaml still has TODO placeholders in: {', '.join(todo)}",
            )
        )
    from raikit.audit.impact.verdicts import with_verdicts

    return with_verdicts(evidence.model_copy(update={"impact": impact, "findings": findings}))


def impact_template(answers: dict[str, str] | None = None) -> str:
    """The commented ``impact.yaml`` template, with ``answers`` filled in.

    Parameters
    ----------
    answers : dict of str to str, optional
        Values for the template's ``{{name}}`` slots (``system_name``, ``domain``,
        ``description``, ``users``, ``owner``, ``contact``); a slot without an answer keeps
        its ``TODO`` placeholder. Answers are written as quoted YAML strings.

    Returns
    -------
    str
        YAML text that :func:`load_impact` accepts as it is.
    """
    import json

    text = (
        resources.files("raikit.audit.impact")
        .joinpath("impact_template.yaml")
        .read_text(encoding="utf-8")
    )
    defaults = {
        "system_name": "TODO: name of the system",
        "domain": "other",
        "description": "TODO: what the system decides or recommends, for whom",
        "users": "TODO: who uses the system's output",
        "owner": "TODO: accountable person or team",
        "contact": "TODO: e-mail address",
        "review_date": (dt.date.today() + dt.timedelta(days=182)).isoformat(),
    }
    for key, default in defaults.items():
        value = (answers or {}).get(key) or default
        # JSON strings are valid YAML scalars, so any answer stays one quoted value.
        text = text.replace("{{" + key + "}}", json.dumps(value, ensure_ascii=False))
    return text
