"""The mitigation trade-off chart: accuracy against the targeted disparity, Pareto front marked.

Same conventions as :mod:`raikit.reports.charts`: matplotlib's object API (no pyplot), fixed SVG
salt and no dates, embedded as a ``data:`` URI in ``<img>`` so no label can inject anything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from raikit.reports._format import metric_label
from raikit.reports.charts import _RC, GRID, INK, Chart, _to_data_uri

if TYPE_CHECKING:
    from raikit.audit.mitigation import MitigationResult

FRONT_COLOUR = "#c07a2c"
OTHER_COLOUR = "#8c8c8c"


def tradeoff_chart(result: MitigationResult | None) -> Chart | None:
    """Scatter of (targeted disparity, accuracy), one point per model; the front joined.

    Returns ``None`` without a result or when no point has its disparity defined.
    """
    if result is None:
        return None
    target = result.target_disparity
    points = [
        (index, p, p.disparities[target].value, p.accuracy.value)
        for index, p in enumerate(result.points, start=1)
        if p.disparities[target].value is not None and p.accuracy.value is not None
    ]
    if not points:
        return None

    from matplotlib import rc_context
    from matplotlib.figure import Figure

    with rc_context(_RC):
        figure = Figure(figsize=(6.4, 4.2))
        axes = figure.add_subplot()
        front = sorted((x, y) for _, p, x, y in points if p.pareto)
        if len(front) > 1:
            axes.plot(*zip(*front, strict=True), color=FRONT_COLOUR, linewidth=1.2, zorder=1)
        for index, point, x, y in points:
            colour = (
                INK
                if point.method == "baseline"
                else (FRONT_COLOUR if point.pareto else OTHER_COLOUR)
            )
            marker = "s" if point.method == "baseline" else ("D" if point.pareto else "o")
            axes.scatter([x], [y], color=colour, marker=marker, s=36, zorder=2)
            axes.annotate(str(index), (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
        axes.set_xlabel(f"{metric_label(target)} (lower is fairer)")
        axes.set_ylabel("Accuracy")
        axes.set_xlim(left=0)
        axes.grid(color=GRID, linewidth=0.8)
        axes.set_axisbelow(True)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
        from matplotlib.lines import Line2D

        handles = [
            Line2D([], [], marker="s", color=INK, linestyle="none", label="Baseline"),
            Line2D([], [], marker="D", color=FRONT_COLOUR, label="Pareto front"),
            Line2D([], [], marker="o", color=OTHER_COLOUR, linestyle="none", label="Dominated"),
        ]
        axes.legend(handles=handles, loc="lower right", frameon=False, fontsize=8)
        axes.tick_params(colors=INK)
        axes.set_title(f"Accuracy vs {metric_label(target).lower()}", fontsize=9, color=INK)
        data_uri = _to_data_uri(figure)
    parts = [
        f"{index}. {point.name}: accuracy {y:.3f}, {target} {x:.3f}"
        + (" (Pareto front)" if point.pareto else "")
        for index, point, x, y in points
    ]
    alt = (
        f"Scatter of accuracy against {metric_label(target).lower()}, one numbered point per "
        "model; Pareto-optimal points are joined. " + "; ".join(parts) + ". The same figures "
        "are in the table."
    )
    return Chart(data_uri=data_uri, alt=alt)
