"""Evidence -> one self-contained HTML document (inline CSS, charts as ``data:`` URIs)."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from pydantic import ValidationError

from audit.evidence import Evidence
from audit.fairness import GROUP_METRICS, AttributeFairness
from models.errors import ConfigError, DataError
from reports import charts
from reports._format import (
    format_bounds,
    format_count,
    format_interval,
    format_number,
    format_percent_level,
    metric_help,
    metric_label,
    metric_short_label,
)
from reports._mitigation_chart import tradeoff_chart
from reports._summary import SummaryItem, summarise

SUPPORTED_FORMATS = ("html",)
SEVERITY_ORDER = ("critical", "warning", "info")


@functools.cache
def _environment() -> Environment:
    # autoescape=True, not select_autoescape(): the templates end in ".html.j2", which
    # select_autoescape's extension test would not recognise as HTML.
    environment = Environment(
        loader=PackageLoader("reports", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters.update(
        num=format_number,
        interval=format_interval,
        bounds=format_bounds,
        commas=format_count,
        metric_label=metric_label,
        metric_short_label=metric_short_label,
        metric_help=metric_help,
    )
    return environment


def _coerce(evidence: Evidence | Mapping[str, Any]) -> Evidence:
    if isinstance(evidence, Evidence):
        return evidence
    if isinstance(evidence, Mapping):
        try:
            return Evidence.model_validate(dict(evidence))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise DataError(f"evidence is invalid at '{where}': {first['msg']}") from None
    raise DataError(
        f"evidence must be an Evidence or a dict; got {type(evidence).__name__} instead"
    )


@dataclass(frozen=True)
class _AttributeView:
    attribute: AttributeFairness
    metric_names: list[str]
    has_small: bool
    selection_chart: charts.Chart | None
    error_chart: charts.Chart | None


def _metric_names(attribute: AttributeFairness) -> list[str]:
    present = {name for group in attribute.groups for name in group.metrics}
    known = [name for name in GROUP_METRICS if name in present]
    return known + sorted(present - set(known))


def _attribute_views(evidence: Evidence, level: str) -> list[_AttributeView]:
    if evidence.fairness is None:
        return []
    return [
        _AttributeView(
            attribute=attribute,
            metric_names=_metric_names(attribute),
            has_small=any(group.small for group in attribute.groups),
            selection_chart=charts.selection_rate_chart(attribute, level),
            error_chart=charts.error_rate_chart(attribute, level),
        )
        for attribute in evidence.fairness.attributes
    ]


def _summary_by_attribute(items: list[SummaryItem]) -> list[tuple[str, list[SummaryItem]]]:
    grouped: dict[str, list[SummaryItem]] = {}
    for item in items:
        grouped.setdefault(item.attribute, []).append(item)
    return list(grouped.items())


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _training_rows(record: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Flatten a training record into (dotted key, text) rows; long lists are summarised."""
    rows: list[tuple[str, str]] = []
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            rows.extend(_training_rows(value, f"{name}."))
        elif isinstance(value, list):
            if value and all(isinstance(v, Mapping) for v in value):
                last = json.dumps(value[-1], sort_keys=True, default=str)
                rows.append((name, f"{len(value)} entries; last: {last}"))
            elif len(value) <= 8:
                rows.append((name, ", ".join(_scalar_text(v) for v in value) or "(empty)"))
            else:
                rows.append((name, f"{len(value)} values; last: {_scalar_text(value[-1])}"))
        else:
            rows.append((name, _scalar_text(value)))
    return rows


def _severity_counts(evidence: Evidence) -> list[tuple[str, int]]:
    findings = evidence.all_findings()
    return [(s, sum(f.severity == s for f in findings)) for s in SEVERITY_ORDER]


def _context(evidence: Evidence) -> dict[str, Any]:
    fairness = evidence.fairness
    level = format_percent_level(fairness.confidence_level if fairness is not None else 0.95)
    performance = evidence.performance
    reliability = None
    if performance is not None and performance.calibration is not None:
        reliability = charts.reliability_chart(performance.calibration)
    findings = evidence.all_findings()
    return {
        "ev": evidence,
        "level": level,
        "summary": _summary_by_attribute(summarise(evidence)),
        "attributes": _attribute_views(evidence, level),
        "reliability": reliability,
        "findings": sorted(findings, key=lambda f: SEVERITY_ORDER.index(f.severity)),
        "severity_counts": _severity_counts(evidence),
        "undefined_figures": _has_undefined(evidence),
        "packages": sorted(evidence.provenance.packages.items()),
        "config_json": json.dumps(evidence.provenance.config, indent=2, sort_keys=True),
        "training_rows": _training_rows(evidence.model.training or {}),
        "mitigation_chart": tradeoff_chart(evidence.mitigation),
    }


def _has_undefined(evidence: Evidence) -> bool:
    if evidence.performance is not None and any(
        i.value is None for i in evidence.performance.metrics.values()
    ):
        return True
    if evidence.fairness is not None:
        for attribute in evidence.fairness.attributes:
            if any(i.value is None for i in attribute.disparities.values()):
                return True
            for group in attribute.groups:
                if any(i.value is None for i in group.metrics.values()):
                    return True
    return False


def render(evidence: Evidence | Mapping[str, Any], fmt: str = "html") -> str:
    """Render audit evidence as a report.

    Parameters
    ----------
    evidence : Evidence or dict
        The evidence bundle, or its JSON form (validated here).
    fmt : {"html"}
        Output format. ``"html"`` gives one self-contained document: inline CSS, charts as
        ``data:`` URIs, no scripts and no network fetches.

    Returns
    -------
    str
        The report. The same evidence always renders to the same text.

    Raises
    ------
    ConfigError
        When ``fmt`` is not a supported format.
    DataError
        When ``evidence`` is a dict that is not valid evidence.

    Examples
    --------
    >>> html = render(load_evidence(Path("evidence.json")))  # doctest: +SKIP
    """
    if fmt not in SUPPORTED_FORMATS:
        supported = ", ".join(f"'{f}'" for f in SUPPORTED_FORMATS)
        raise ConfigError(f"report format {fmt!r} is not supported; use one of: {supported}")
    validated = _coerce(evidence)
    template = _environment().get_template("report.html.j2")
    return template.render(**_context(validated))
