"""Charts of the report: SVG from matplotlib, embedded as ``data:`` URIs inside ``<img>``.

An SVG shown through ``<img>`` cannot run scripts, so group names from data cannot inject
anything into the page. matplotlib is imported inside the functions: ``import reports`` stays
fast. The object-oriented ``Figure`` API is used, never ``pyplot``, so no global backend or
figure state of the caller is touched.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from raikit.reports._format import format_count, format_interval, format_number, metric_label

if TYPE_CHECKING:
    from raikit.audit.fairness import AttributeFairness
    from raikit.audit.performance import Calibration

# Restrained palette: one blue, one ochre, grey for small groups.
COLOURS = {
    "selection_rate": "#2f5d8a",
    "true_positive_rate": "#2f5d8a",
    "false_positive_rate": "#c07a2c",
}
DEFAULT_COLOUR = "#2f5d8a"
SMALL_COLOUR = "#b8b8b8"
INK = "#333333"
GRID = "#e3e3e3"

# Fixed salt and no dates: the same evidence gives the same SVG bytes.
_RC = {
    "svg.hashsalt": "raikit",
    "svg.fonttype": "none",
    "text.parse_math": False,
    "font.size": 9,
    "font.family": "sans-serif",
    "axes.edgecolor": "#999999",
    "axes.labelcolor": INK,
    "xtick.color": INK,
    "ytick.color": INK,
    "hatch.color": "#6f6f6f",
}
_SVG_METADATA = {"Date": None, "Creator": "raikit"}


@dataclass(frozen=True)
class Chart:
    """An embedded chart: its ``data:`` URI and the text that describes it."""

    data_uri: str
    alt: str


def _to_data_uri(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", metadata=_SVG_METADATA, bbox_inches="tight")
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"data:image/svg+xml;base64,{encoded}"


def _tick_label(label: str, count: int, small: bool) -> str:
    suffix = " (small)" if small else ""
    # Intersection labels ("sex=Female & race=White") are long: one line per part.
    label = label.replace(" & ", " &\n")
    return f"{label}\nn={format_count(count)}{suffix}"


def group_rate_chart(
    attribute: AttributeFairness, metrics: Sequence[str], level: str = "95%"
) -> Chart | None:
    """Horizontal bars of per-group rates with interval whiskers; small groups hatched grey.

    Parameters
    ----------
    attribute : AttributeFairness
        The groups to draw.
    metrics : sequence of str
        Group metrics drawn side by side for each group (e.g. TPR and FPR).
    level : str
        Confidence level quoted in the description.

    Returns
    -------
    Chart or None
        ``None`` when no group has any of the metrics defined.
    """
    groups = attribute.groups
    defined = [
        g for g in groups for m in metrics if g.metrics.get(m) and g.metrics[m].value is not None
    ]
    if not groups or not defined:
        return None

    from matplotlib import rc_context
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    with rc_context(_RC):
        n_groups, n_metrics = len(groups), len(metrics)
        lines = 2 + max(g.label.count(" & ") for g in groups)
        height = 0.9 + n_groups * max(0.28 + 0.2 * n_metrics, 0.16 * lines)
        figure = Figure(figsize=(6.4, height))
        axes = figure.add_subplot()
        bar_height = 0.8 / n_metrics
        # First group at the top, as in the table beside the chart.
        positions = list(range(n_groups - 1, -1, -1))
        for m_index, metric in enumerate(metrics):
            colour = COLOURS.get(metric, DEFAULT_COLOUR)
            offset = (n_metrics - 1) / 2 * bar_height - m_index * bar_height
            for position, group in zip(positions, groups, strict=True):
                interval = group.metrics.get(metric)
                y = position + offset
                if interval is None or interval.value is None:
                    axes.text(0.01, y, "n/a", va="center", fontsize=8, color="#666666")
                    continue
                axes.barh(
                    y,
                    interval.value,
                    height=bar_height * 0.9,
                    color=SMALL_COLOUR if group.small else colour,
                    hatch="///" if group.small else None,
                    edgecolor=colour if group.small else "none",
                    linewidth=0.8,
                )
                if interval.lower is not None and interval.upper is not None:
                    axes.errorbar(
                        interval.value,
                        y,
                        # Clamped: rounding can put a bound a hair past the estimate.
                        xerr=[
                            [max(0.0, interval.value - interval.lower)],
                            [max(0.0, interval.upper - interval.value)],
                        ],
                        fmt="none",
                        ecolor=INK,
                        elinewidth=1,
                        capsize=3,
                    )
        axes.set_yticks(
            positions, [_tick_label(g.label, g.count, g.small) for g in groups], fontsize=8
        )
        axes.set_xlim(0, 1)
        axes.set_ylim(-0.6, n_groups - 0.4)
        axes.set_xlabel(f"Rate (bars) with {level} interval (whiskers)")
        axes.grid(axis="x", color=GRID, linewidth=0.8)
        axes.set_axisbelow(True)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
        handles = [
            Patch(facecolor=COLOURS.get(m, DEFAULT_COLOUR), label=metric_label(m)) for m in metrics
        ]
        if any(g.small for g in groups):
            handles.append(
                Patch(facecolor=SMALL_COLOUR, hatch="///", edgecolor="#6f6f6f", label="Small group")
            )
        axes.legend(
            handles=handles,
            loc="lower center",
            bbox_to_anchor=(0.5, 1.0),
            ncol=len(handles),
            frameon=False,
            fontsize=8,
        )
        data_uri = _to_data_uri(figure)
    return Chart(data_uri=data_uri, alt=_group_alt(attribute, metrics, level))


def _group_alt(attribute: AttributeFairness, metrics: Sequence[str], level: str) -> str:
    names = " and ".join(metric_label(m).lower() for m in metrics)
    parts = []
    for group in attribute.groups:
        values = ", ".join(
            f"{metric_label(m).lower()} {format_interval(group.metrics.get(m))}" for m in metrics
        )
        small = ", small group" if group.small else ""
        parts.append(f"{group.label} (n={format_count(group.count)}{small}): {values}")
    return (
        f"Bar chart of {names} by group of {attribute.attribute}, with {level} intervals. "
        + "; ".join(parts)
        + ". The same figures are in the table."
    )


def selection_rate_chart(attribute: AttributeFairness, level: str = "95%") -> Chart | None:
    """Selection rate per group with interval whiskers (see `group_rate_chart`)."""
    return group_rate_chart(attribute, ["selection_rate"], level)


def error_rate_chart(attribute: AttributeFairness, level: str = "95%") -> Chart | None:
    """True and false positive rate per group with interval whiskers."""
    return group_rate_chart(attribute, ["true_positive_rate", "false_positive_rate"], level)


def reliability_chart(calibration: Calibration) -> Chart | None:
    """Reliability curve (observed fraction positive vs mean prediction) with the diagonal.

    Returns ``None`` when no bin has both figures defined.
    """
    points = [
        b
        for b in calibration.bins
        if b.count > 0 and b.mean_predicted is not None and b.fraction_positive is not None
    ]
    if not points:
        return None

    from matplotlib import rc_context
    from matplotlib.figure import Figure

    with rc_context(_RC):
        figure = Figure(figsize=(4.2, 4.0))
        axes = figure.add_subplot()
        axes.plot([0, 1], [0, 1], linestyle="--", color="#999999", linewidth=1, label="Perfect")
        axes.plot(
            [b.mean_predicted for b in points],
            [b.fraction_positive for b in points],
            marker="o",
            markersize=4,
            color=DEFAULT_COLOUR,
            linewidth=1.5,
            label="Model",
        )
        axes.set_xlim(0, 1)
        axes.set_ylim(0, 1)
        axes.set_aspect("equal")
        axes.set_xlabel("Mean predicted probability")
        axes.set_ylabel("Observed fraction positive")
        ece = format_number(calibration.expected_calibration_error)
        axes.set_title(f"Reliability curve (ECE {ece})", fontsize=9)
        axes.grid(color=GRID, linewidth=0.8)
        axes.set_axisbelow(True)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
        axes.legend(loc="upper left", frameon=False, fontsize=8)
        data_uri = _to_data_uri(figure)
    alt = (
        f"Reliability curve over {len(points)} non-empty of {calibration.n_bins} bins: observed "
        f"fraction positive against mean predicted probability; the dashed diagonal marks "
        f"perfect calibration. Expected calibration error {ece}. "
        "The same figures are in the table."
    )
    return Chart(data_uri=data_uri, alt=alt)
