"""Evidence -> report: one self-contained HTML document (inline CSS, charts as ``data:`` URIs),
Markdown, PDF (weasyprint, from the HTML) or a Hugging Face style model card."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, overload

from jinja2 import Environment, PackageLoader, StrictUndefined
from pydantic import ValidationError

from raikit.audit.evidence import ConfigError, DataError, Evidence
from raikit.reports import charts
from raikit.reports._comparison_chart import comparison_charts
from raikit.reports._concerns import impact_context
from raikit.reports._explain_chart import explanation_views
from raikit.reports._format import (
    format_bounds,
    format_count,
    format_interval,
    format_number,
    format_p_value,
    format_percent_level,
    metric_help,
    metric_label,
    metric_short_label,
)
from raikit.reports._glossary import glossary
from raikit.reports._membership_chart import membership_view
from raikit.reports._mitigation_chart import tradeoff_chart
from raikit.reports._privacy_summary import privacy_summary
from raikit.reports._robustness_chart import robustness_charts
from raikit.reports._slices_chart import slice_chart
from raikit.reports._summary import SummaryItem, summarise

if TYPE_CHECKING:
    from raikit.audit.fairness import AttributeFairness

SUPPORTED_FORMATS = ("html", "md", "pdf", "model-card")
SEVERITY_ORDER = ("critical", "warning", "info")
Format = Literal["html", "md", "pdf", "model-card"]


def add_filters(environment: Environment) -> Environment:
    """Register the number and label filters every report template uses."""
    environment.filters.update(
        num=format_number,
        interval=format_interval,
        bounds=format_bounds,
        commas=format_count,
        pvalue=format_p_value,
        metric_label=metric_label,
        metric_short_label=metric_short_label,
        metric_help=metric_help,
    )
    return environment


@functools.cache
def _environment() -> Environment:
    # autoescape=True, not select_autoescape(): the templates end in ".html.j2", which
    # select_autoescape's extension test would not recognise as HTML.
    environment = Environment(
        loader=PackageLoader("raikit.reports", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return add_filters(environment)


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
    """Every metric some group has, in the order the result lists them."""
    return list(dict.fromkeys(name for group in attribute.groups for name in group.metrics))


def _attribute_views(evidence: Evidence, level: str) -> list[_AttributeView]:
    fairness = evidence.result("fairness")
    if fairness is None:
        return []
    return [
        _AttributeView(
            attribute=attribute,
            metric_names=_metric_names(attribute),
            has_small=any(group.small for group in attribute.groups),
            selection_chart=charts.selection_rate_chart(attribute, level),
            error_chart=charts.error_rate_chart(attribute, level),
        )
        for attribute in fairness.attributes
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
    """Flatten a record (or any result) into (dotted key, text) rows; long lists summarised."""
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


def context(evidence: Evidence, charts_on: bool = True) -> dict[str, Any]:
    """Template variables shared by every format; ``charts_on=False`` skips drawing charts."""
    fairness = evidence.result("fairness")
    level = format_percent_level(fairness.confidence_level if fairness is not None else 0.95)
    performance = evidence.result("performance")
    reliability = None
    if charts_on and performance is not None and performance.calibration is not None:
        reliability = charts.reliability_chart(performance.calibration)
    findings = evidence.all_findings()
    return {
        "ev": evidence,
        "level": level,
        "summary": _summary_by_attribute(summarise(evidence)),
        "attributes": _attribute_views(evidence, level) if charts_on else [],
        "reliability": reliability,
        "findings": sorted(findings, key=lambda f: SEVERITY_ORDER.index(f.severity)),
        "severity_counts": _severity_counts(evidence),
        "undefined_figures": _has_undefined(evidence),
        "packages": sorted(evidence.provenance.packages.items()),
        "config_json": json.dumps(evidence.provenance.config, indent=2, sort_keys=True),
        "training_rows": _training_rows(
            evidence.model.training.model_dump(exclude_none=True)
            if evidence.model.training is not None
            else {}
        ),
        "glossary": glossary(),
        "result_rows": {
            name: _training_rows(evidence.results[name].model_dump(mode="json"))
            for name, section in evidence.sections.items()
            if not (section.html and section.markdown)
        },
        **impact_context(evidence),
        "mitigation_chart": tradeoff_chart(evidence.result("mitigation")),
        "membership": membership_view(evidence, charts_on),
        "privacy_summary": privacy_summary(evidence),
        "explanation_views": (
            explanation_views(evidence.result("explanations")) if charts_on else None
        ),
        "slices_chart": slice_chart(evidence.result("slices"), level) if charts_on else None,
        "robustness_charts": robustness_charts(
            evidence.result("robustness") if charts_on else None, level
        ),
        "comparison_charts": comparison_charts(
            evidence.result("comparison") if charts_on else None
        ),
    }


def _has_undefined(evidence: Evidence) -> bool:
    performance, fairness = evidence.result("performance"), evidence.result("fairness")
    if performance is not None and any(i.value is None for i in performance.metrics.values()):
        return True
    if fairness is not None:
        for attribute in fairness.attributes:
            if any(i.value is None for i in attribute.disparities.values()):
                return True
            for group in attribute.groups:
                if any(i.value is None for i in group.metrics.values()):
                    return True
    return False


@overload
def render(evidence: Evidence | Mapping[str, Any], fmt: Literal["pdf"]) -> bytes: ...
@overload
def render(
    evidence: Evidence | Mapping[str, Any], fmt: Literal["html", "md", "model-card"] = ...
) -> str: ...
def render(evidence: Evidence | Mapping[str, Any], fmt: str = "html") -> str | bytes:
    """Render audit evidence as a report.

    Parameters
    ----------
    evidence : Evidence or dict
        The evidence bundle, or its JSON form (validated here).
    fmt : {"html", "md", "pdf", "model-card"}
        ``"html"``: one self-contained document (inline CSS, charts as ``data:`` URIs, no
        scripts, no network fetches). ``"md"``: the same report as Markdown for pull requests
        and wikis (tables, no charts). ``"pdf"``: the HTML printed by weasyprint (the
        optional ``raikit[pdf]`` extra). ``"model-card"``: a Hugging Face style model card
        (``README.md`` with YAML front matter).

    Returns
    -------
    str or bytes
        ``bytes`` for ``"pdf"``, ``str`` for every other format; the same evidence always
        renders to the same output.

    Raises
    ------
    ConfigError
        When ``fmt`` is not a supported format, or ``"pdf"`` without weasyprint installed.
    DataError
        When ``evidence`` is a dict that is not valid evidence.

    Examples
    --------
    >>> html = render(load_evidence(Path("evidence.json")))  # doctest: +SKIP
    >>> markdown = render(load_evidence(Path("evidence.json")), "md")  # doctest: +SKIP
    """
    if fmt not in SUPPORTED_FORMATS:
        supported = ", ".join(f"'{f}'" for f in SUPPORTED_FORMATS)
        raise ConfigError(f"report format {fmt!r} is not supported; use one of: {supported}")
    validated = _coerce(evidence)
    if fmt in ("md", "model-card"):
        from raikit.reports._markdown import render_markdown

        return render_markdown(validated, fmt, context(validated, charts_on=False))
    if fmt == "pdf":
        from raikit.reports._pdf import html_to_pdf, require_weasyprint

        require_weasyprint()  # before drawing charts: fail fast when the extra is missing
        template = _environment().get_template("report.html.j2")
        return html_to_pdf(template.render(**context(validated)))
    template = _environment().get_template("report.html.j2")
    return template.render(**context(validated))
