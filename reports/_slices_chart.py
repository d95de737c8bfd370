"""Chart of the Subgroups section: the worst slices' metric against the overall rate.

Same conventions as :mod:`raikit.reports.charts`: matplotlib's object API (no pyplot), fixed SVG
salt and no dates, embedded as a ``data:`` URI in ``<img>`` so no label can inject anything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from raikit.reports._format import format_count, format_interval, format_number, metric_label
from raikit.reports.charts import _RC, DEFAULT_COLOUR, GRID, INK, Chart, _to_data_uri

if TYPE_CHECKING:
    from raikit.audit.slices import SliceResult

#: Slices drawn: the worst, as the table lists them.
TOP = 10
OVERALL_COLOUR = "#c07a2c"


def slice_chart(result: SliceResult | None, level: str = "95%") -> Chart | None:
    """Horizontal bars of the worst slices' metric with interval whiskers, and a line at the
    metric over all rows; ``None`` when no slice is reported."""
    if result is None or not result.slices:
        return None
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    slices = result.slices[:TOP]
    name = metric_label(result.metric)
    overall = result.overall.value
    with rc_context(_RC):
        lines = 2 + max(s.label.count(" & ") for s in slices)
        figure = Figure(figsize=(6.4, 0.9 + len(slices) * max(0.34, 0.17 * lines)))
        axes = figure.add_subplot()
        positions = list(range(len(slices)))[::-1]  # the worst at the top, as in the table
        values = [s.metric.value for s in slices]
        errors = [
            [max(0.0, s.metric.value - s.metric.lower) for s in slices],
            [max(0.0, s.metric.upper - s.metric.value) for s in slices],
        ]
        axes.barh(positions, values, height=0.6, color=DEFAULT_COLOUR)
        axes.errorbar(values, positions, xerr=errors, fmt="none", ecolor=INK, capsize=3, lw=1)
        if overall is not None:
            axes.axvline(overall, color=OVERALL_COLOUR, linestyle="--", linewidth=1.2)
        labels = [
            f"{s.label.replace(' & ', ' &' + chr(10))}\nn={format_count(s.size)}" for s in slices
        ]
        axes.set_yticks(positions, labels, fontsize=8)
        top = max([s.metric.upper for s in slices] + [overall or 0.0])
        axes.set_xlim(0, top * 1.1 if result.metric == "absolute_error" else min(1.0, top * 1.1))
        axes.set_ylim(-0.6, len(slices) - 0.4)
        axes.set_xlabel(f"{name} (bars) with {level} interval; dashed: all rows")
        axes.grid(axis="x", color=GRID, linewidth=0.8)
        axes.set_axisbelow(True)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
        data_uri = _to_data_uri(figure)
    parts = [f"{s.label} (n={format_count(s.size)}): {format_interval(s.metric)}" for s in slices]
    alt = (
        f"Bar chart of the {name.lower()} of the {len(slices)} worst slices, with {level} "
        f"intervals, against {format_number(overall)} over all rows. "
        + "; ".join(parts)
        + ". The same figures are in the table."
    )
    return Chart(data_uri=data_uri, alt=alt)
