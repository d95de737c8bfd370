"""Charts of the robustness section: robust accuracy against the radius, flip rate per group.

Same conventions as :mod:`raikit.reports.charts`: matplotlib's object API (no pyplot), fixed SVG
salt and no dates, embedded as a ``data:`` URI in ``<img>`` so no label can inject anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from raikit.reports.charts import _RC, DEFAULT_COLOUR, GRID, INK, SMALL_COLOUR, Chart, _to_data_uri

if TYPE_CHECKING:
    from raikit.audit.robustness import RobustnessResult

ATTACK_STYLE = {
    "fgsm": ("#8c8c8c", "o", "FGSM (L∞)"),
    "pgd_linf": (DEFAULT_COLOUR, "s", "PGD (L∞)"),
    "pgd_l2": ("#c07a2c", "D", "PGD (L2)"),
}


@dataclass(frozen=True)
class RobustnessCharts:
    """The section's charts; ``None`` where there is nothing to draw."""

    robust_accuracy: Chart | None
    flip_rates: Chart | None


def _style(axes) -> None:
    axes.grid(color=GRID, linewidth=0.8)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.tick_params(colors=INK)


def robust_accuracy_chart(result: RobustnessResult) -> Chart | None:
    """Robust accuracy against the radius, one line per attack."""
    adversarial = result.adversarial
    if adversarial is None or not adversarial.points:
        return None
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    attacks = list(dict.fromkeys(p.attack for p in adversarial.points))
    with rc_context(_RC):
        figure = Figure(figsize=(6.0, 3.8))
        axes = figure.add_subplot()
        for attack in attacks:
            points = [p for p in adversarial.points if p.attack == attack]
            colour, marker, label = ATTACK_STYLE.get(attack, (INK, "o", attack))
            axes.plot(
                [p.epsilon for p in points],
                [p.robust_accuracy.value for p in points],
                color=colour,
                marker=marker,
                markersize=4,
                linewidth=1.4,
                label=label,
            )
        axes.set_ylim(0, 1.02)
        axes.set_xlabel(f"epsilon ({adversarial.epsilon_unit})")
        axes.set_ylabel("Robust accuracy")
        axes.set_title("Robust accuracy against the attack radius", fontsize=9, color=INK)
        axes.legend(loc="lower left", frameon=False, fontsize=8)
        _style(axes)
        data_uri = _to_data_uri(figure)
    parts = [
        f"{ATTACK_STYLE.get(a, (None, None, a))[2]}: "
        + ", ".join(
            f"{p.robust_accuracy.value:.3f} at {p.epsilon:g}"
            for p in adversarial.points
            if p.attack == a
        )
        for a in attacks
    ]
    alt = (
        "Line chart of robust accuracy against the attack radius epsilon, one line per "
        "attack. " + "; ".join(parts) + ". The same figures are in the table."
    )
    return Chart(data_uri=data_uri, alt=alt)


def _flip_bars(result: RobustnessResult) -> list[tuple[str, float, float, float, bool]]:
    """(label, rate, lower, upper, small) of every counterfactual group, in report order."""
    bars = []
    for item in result.counterfactual:
        suffix = " (+ proxies)" if item.proxies else ""
        for group in item.groups:
            if group.flip_rate.value is None:
                continue
            bars.append(_bar(f"{item.attribute} = {group.name}{suffix}", group))
    for item in result.text_counterfactual:
        for category in item.categories:
            if category.flip_rate.value is None:
                continue
            bars.append(_bar(f"{category.name} ({item.source})", category))
    return bars


def flip_rate_chart(result: RobustnessResult, level: str = "95%") -> Chart | None:
    """Counterfactual flip rate per group (tabular) or identity category (text), with CIs."""
    bars = _flip_bars(result)
    if not bars:
        return None
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    with rc_context(_RC):
        figure = Figure(figsize=(6.0, 0.9 + 0.32 * len(bars)))
        axes = figure.add_subplot()
        positions = list(range(len(bars)))[::-1]
        rates = [b[1] for b in bars]
        errors = [
            [max(b[1] - b[2], 0.0) for b in bars],
            [max(b[3] - b[1], 0.0) for b in bars],
        ]
        colours = [SMALL_COLOUR if b[4] else DEFAULT_COLOUR for b in bars]
        axes.barh(positions, rates, color=colours, height=0.6)
        axes.errorbar(rates, positions, xerr=errors, fmt="none", ecolor=INK, capsize=2, lw=0.9)
        axes.set_yticks(positions, [b[0] for b in bars])
        axes.set_xlim(0, max(0.05, min(1.0, max(b[3] for b in bars) * 1.1)))
        axes.set_xlabel(f"Counterfactual flip rate ({level} interval)")
        axes.set_title("Decisions that flip when only the group changes", fontsize=9, color=INK)
        _style(axes)
        data_uri = _to_data_uri(figure)
    alt = (
        "Bar chart of the counterfactual flip rate per group: "
        + "; ".join(f"{b[0]} {b[1]:.3f}" for b in bars)
        + ". The same figures are in the table."
    )
    return Chart(data_uri=data_uri, alt=alt)


def robustness_charts(result: RobustnessResult | None, level: str = "95%") -> RobustnessCharts:
    """Both charts of the section (each ``None`` when there is nothing to draw)."""
    if result is None:
        return RobustnessCharts(None, None)
    return RobustnessCharts(robust_accuracy_chart(result), flip_rate_chart(result, level))


def _bar(label: str, stat) -> tuple[str, float, float, float, bool]:
    """One bar: a flip rate with its interval (an open end drawn to 0 or 1) and smallness."""
    rate = stat.flip_rate
    lower = rate.lower if rate.lower is not None else 0.0
    upper = rate.upper if rate.upper is not None else 1.0
    return (label, rate.value, lower, upper, stat.small)
