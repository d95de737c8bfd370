"""Evidence -> Markdown: the report for pull requests and wikis, and the model card.

Markdown renderers pass inline HTML through, so every value that reaches the output is
escaped by the environment's ``finalize`` hook (HTML-escaped, Markdown punctuation
backslashed, newlines folded); only text raikit formats itself (numbers, intervals, the
YAML front matter it dumps) is marked :class:`Raw`.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from raikit.audit.evidence import Evidence
from raikit.reports._format import (
    format_bounds,
    format_count,
    format_interval,
    format_number,
    format_p_value,
)

LIGHT_EMOJI = {"red": "🔴", "amber": "🟠", "green": "🟢", "grey": "⚪"}
_SPECIAL = re.compile(r"([\\`*_\[\]|#~])")


class Raw(str):
    """Text raikit produced itself, written to Markdown as it is."""


def md_escape(value: Any) -> str:
    """Make ``value`` inert in Markdown (and in the HTML Markdown may contain).

    Examples
    --------
    >>> md_escape("a|b <script>")
    'a\\\\|b &lt;script&gt;'
    """
    if isinstance(value, Raw):
        return value
    # A newline would end a table row or a list item early.
    text = re.sub(r"\s*[\r\n]+\s*", " ", str(value))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SPECIAL.sub(r"\\\1", text)


def _raw(function: Any) -> Any:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Raw:
        return Raw(function(*args, **kwargs))

    return wrapper


@functools.cache
def _environment() -> Environment:
    from raikit.reports._render import add_filters

    # HTML autoescaping is the wrong escape for Markdown; instead every value a template prints
    # passes through ``finalize=md_escape``, which escapes HTML and Markdown syntax alike.
    environment = Environment(
        loader=PackageLoader("raikit.reports", "templates"),
        autoescape=False,
        finalize=md_escape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    add_filters(environment)
    environment.filters.update(
        num=_raw(format_number),
        interval=_raw(format_interval),
        bounds=_raw(format_bounds),
        commas=_raw(format_count),
        pvalue=_raw(format_p_value),
        raw=Raw,
    )
    return environment


def _one_line_string(dumper: Any, value: str) -> Any:
    # A line break in a value (\n, \r, NEL, U+2028/9) is written as an escape inside double
    # quotes, never as a YAML line: no value can put a "---" line into the front matter.
    style = '"' if any(char in value for char in "\n\r\x85\u2028\u2029") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _front_matter(evidence: Evidence) -> Raw:
    import yaml

    class FrontMatterDumper(yaml.SafeDumper):
        pass

    FrontMatterDumper.add_representer(str, _one_line_string)

    impact = evidence.impact
    name = impact.system_name if impact is not None else evidence.title
    metrics = []
    performance, fairness = evidence.result("performance"), evidence.result("fairness")
    if performance is not None:
        for key, interval in performance.metrics.items():
            if interval.value is not None:
                metrics.append({"type": key, "value": round(interval.value, 4), "name": key})
    if fairness is not None:
        for attribute in fairness.attributes:
            for key, interval in attribute.disparities.items():
                if interval.value is not None:
                    metrics.append(
                        {
                            "type": key,
                            "value": round(interval.value, 4),
                            "name": f"{key} ({attribute.attribute})",
                        }
                    )
    data = {
        "library_name": "raikit",
        "tags": ["raikit", "responsible-ai", "fairness-audit"],
        "model-index": [
            {
                "name": name,
                "results": [
                    {
                        "task": {"type": "classification", "name": "Classification"},
                        "dataset": {"name": evidence.data.source, "type": evidence.data.source},
                        "metrics": metrics,
                    }
                ],
            }
        ],
    }
    text = yaml.dump(
        data,
        Dumper=FrontMatterDumper,
        sort_keys=False,
        allow_unicode=True,
        width=float("inf"),  # one line per value: a long value is never folded
    )
    return Raw(text.rstrip("\n"))


def render_markdown(evidence: Evidence, fmt: str, context: dict[str, Any]) -> str:
    """Render the Markdown report (``fmt="md"``) or the model card (``fmt="model-card"``)."""
    template = "report.md.j2" if fmt == "md" else "model_card.md.j2"
    variables = dict(context, emoji=LIGHT_EMOJI)
    if fmt == "model-card":
        variables["front_matter"] = _front_matter(evidence)
    text = _environment().get_template(template).render(**variables)
    # Conditional blocks leave runs of blank lines; Markdown treats them as one.
    return re.sub(r"\n{3,}", "\n\n", text).rstrip() + "\n"
