"""The registry of assessments: every check raikit runs, in report order.

``run_audit``, ``rai audit --...`` and the per-concern commands all go through this table. A
new concern is one package exporting an :class:`~raikit.audit.assessment.Assessment` plus one
line here (or :func:`register_assessment` from your own code; no edit of raikit needed).
"""

from __future__ import annotations

from raikit.audit import (
    comparison,
    explain,
    fairness,
    mitigation,
    performance,
    pii,
    privacy,
    representation,
    robustness,
    slices,
)
from raikit.audit.assessment import Assessment
from raikit.audit.evidence import Section
from raikit.models.errors import ConfigError, close_matches_hint

__all__ = [
    "assessment",
    "assessments",
    "register_assessment",
    "registered",
    "registered_result_type",
    "section_of",
    "unregister_assessment",
]

_REGISTRY: dict[str, Assessment] = {}


def register_assessment(item: Assessment, force: bool = False) -> None:
    """Add ``item`` to the registry, after those already there.

    Raises
    ------
    ConfigError
        If an assessment of the same name is registered and ``force`` is False, or its
        concern is not one of :data:`raikit.audit.impact.concerns.CONCERNS`.
    """
    from raikit.audit.impact import concerns

    known = [c.name for c in concerns.CONCERNS]
    if item.concern not in known:
        hint = close_matches_hint(item.concern, known)
        raise ConfigError(
            f"assessment '{item.name}' names an unknown concern '{item.concern}'{hint}"
        )
    if item.name in _REGISTRY and not force:
        raise ConfigError(
            f"an assessment named '{item.name}' is already registered; pass force=True to "
            "replace it"
        )
    _REGISTRY[item.name] = item


def unregister_assessment(name: str) -> None:
    """Remove the assessment ``name`` (a no-op when none is registered)."""
    _REGISTRY.pop(name, None)


def assessment(name: str) -> Assessment:
    """The registered assessment ``name``; a ``ConfigError`` names the known ones."""
    if name not in _REGISTRY:
        hint = close_matches_hint(name, _REGISTRY)
        known = ", ".join(_REGISTRY)
        raise ConfigError(f"unknown check '{name}'{hint} (known: {known})")
    return _REGISTRY[name]


def registered(name: str) -> Assessment | None:
    """The assessment ``name``, or ``None`` when none is registered under that name."""
    return _REGISTRY.get(name)


def registered_result_type(name: str) -> type | None:
    """The result type of the assessment ``name``, or ``None`` when none is registered."""
    item = registered(name)
    return item.result_type if item is not None else None


def section_of(name: str) -> Section:
    """How the report shows the result of the registered assessment ``name``."""
    item = assessment(name)
    return Section(
        title=item.title,
        concern=item.concern,
        html=list(item.report.html),
        markdown=list(item.report.markdown),
    )


def assessments() -> list[Assessment]:
    """Every registered assessment, in report order."""
    return list(_REGISTRY.values())


for _builtin in (
    performance.ASSESSMENT,
    fairness.ASSESSMENT,
    representation.ASSESSMENT,
    slices.ASSESSMENT,
    mitigation.ASSESSMENT,
    pii.ASSESSMENT,
    privacy.ASSESSMENT,
    explain.ASSESSMENT,
    robustness.ASSESSMENT,
    comparison.ASSESSMENT,
):
    register_assessment(_builtin)
