"""The comparison chart: each group's accuracy change against the baseline, with its interval.

Same conventions as :mod:`raikit.reports.charts` (object API, fixed SVG salt, ``data:`` URI in
``<img>``, so no group name can inject anything).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from raikit.reports.charts import _RC, GRID, INK, SMALL_COLOUR, Chart, _tick_label, _to_data_uri

if TYPE_CHECKING:
    from raikit.audit.comparison import AttributeComparison, GroupComparison

LOSS_COLOUR, GAIN_COLOUR = "#c07a2c", "#2f5d8a"


def accuracy_change_chart(attribute: AttributeComparison, overall: GroupComparison) -> Chart | None:
    """Horizontal bars of each group's accuracy change, whiskers for the interval,
    a dashed line at the change over all rows; small groups grey. ``None`` if none is defined."""
    groups = [g for g in attribute.groups if g.metrics["accuracy"].change.value is not None]
    if not groups:
        return None

    from matplotlib import rc_context
    from matplotlib.figure import Figure

    with rc_context(_RC):
        lines = 2 + max(g.label.count(" & ") for g in groups)
        figure = Figure(figsize=(6.4, 0.9 + len(groups) * max(0.36, 0.16 * lines)))
        axes = figure.add_subplot()
        positions = list(range(len(groups) - 1, -1, -1))
        for position, group in zip(positions, groups, strict=True):
            change = group.metrics["accuracy"].change
            value = change.value
            colour = (
                SMALL_COLOUR if not group.compared else (LOSS_COLOUR if value < 0 else GAIN_COLOUR)
            )
            axes.barh(position, value, height=0.6, color=colour)
            if change.lower is not None and change.upper is not None:
                axes.errorbar(
                    value,
                    position,
                    xerr=[
                        [max(0.0, value - change.lower)],
                        [max(0.0, change.upper - value)],
                    ],
                    fmt="none",
                    ecolor=INK,
                    elinewidth=1,
                    capsize=3,
                )
        everyone = overall.metrics["accuracy"].change.value
        axes.axvline(everyone, color=INK, linestyle="--", linewidth=1)
        axes.axvline(0, color="#999999", linewidth=0.8)
        axes.set_yticks(
            positions, [_tick_label(g.label, g.count, not g.compared) for g in groups], fontsize=8
        )
        axes.set_xlabel("Accuracy change against the baseline")
        axes.grid(axis="x", color=GRID, linewidth=0.8)
        axes.set_axisbelow(True)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
        axes.set_title(f"Accuracy change by group: {attribute.attribute}", fontsize=9, color=INK)
        data_uri = _to_data_uri(figure)
    parts = [
        f"{g.label}: {g.metrics['accuracy'].change.value:+.3f}"
        + ("" if g.compared else " (small group)")
        for g in groups
    ]
    alt = (
        f"Bar chart of each group's accuracy change against the baseline for "
        f"{attribute.attribute}; the dashed line is the change over all rows "
        f"({everyone:+.3f}). " + "; ".join(parts) + ". The same figures are in "
        "the table."
    )
    return Chart(data_uri=data_uri, alt=alt)


def comparison_charts(result) -> dict[str, Chart]:
    """One chart per attribute of a comparison result (none without a result)."""
    if result is None:
        return {}
    charts = {}
    for attribute in result.attributes:
        chart = accuracy_change_chart(attribute, result.overall)
        if chart is not None:
            charts[attribute.attribute] = chart
    return charts
