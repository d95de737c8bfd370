"""Views of the explanations section: importance and deletion charts, attribution images,
and highlighted words.

Same conventions as :mod:`raikit.reports.charts`: matplotlib's object API, fixed SVG salt, embedded
as ``data:`` URIs in ``<img>``. Highlight colours are computed here from numbers only; the
words themselves reach the page through the template's autoescaping.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from raikit.reports.charts import _RC, GRID, INK, Chart, _to_data_uri

if TYPE_CHECKING:
    from raikit.audit.explain.result import ExplanationResult, LocalExplanation

POSITIVE = (47, 93, 138)  # supports the explained class: blue
NEGATIVE = (192, 122, 44)  # speaks against it: ochre


@dataclass(frozen=True)
class TokenView:
    """One word of a highlighted sentence."""

    text: str
    score: float
    style: str


@dataclass(frozen=True)
class LocalView:
    """What the report shows beside one local explanation."""

    explanation: LocalExplanation
    tokens: list[TokenView]
    images: list[Chart]


@dataclass(frozen=True)
class ExplanationViews:
    importance: Chart | None
    deletion: Chart | None
    mean_map: Chart | None
    local: list[LocalView]


def _axes(figsize):
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize)
    axes = figure.add_subplot()
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.tick_params(colors=INK)
    return figure, axes


def importance_chart(result: ExplanationResult) -> Chart | None:
    """Horizontal bars of mean |attribution| per feature with bootstrap whiskers."""
    features = [f for f in result.features if f.importance.value is not None][:15]
    if not features:
        return None
    from matplotlib import rc_context

    with rc_context(_RC):
        figure, axes = _axes((6.4, 0.3 * len(features) + 1.0))
        names = [f.feature for f in features][::-1]
        values = [f.importance.value for f in features][::-1]
        lows = [
            v - (f.importance.lower if f.importance.lower is not None else v)
            for v, f in zip(values, features[::-1], strict=True)
        ]
        highs = [
            (f.importance.upper if f.importance.upper is not None else v) - v
            for v, f in zip(values, features[::-1], strict=True)
        ]
        axes.barh(names, values, color="#2f5d8a", xerr=[lows, highs], ecolor=INK, capsize=2)
        axes.set_xlabel("Mean |attribution| (whiskers: bootstrap interval)")
        axes.grid(axis="x", color=GRID, linewidth=0.8)
        axes.set_axisbelow(True)
        uri = _to_data_uri(figure)
    parts = "; ".join(f"{f.feature} {f.importance.value:.3g}" for f in features)
    return Chart(uri, f"Bar chart of mean absolute attribution per feature: {parts}.")


def deletion_chart(result: ExplanationResult) -> Chart | None:
    """The deletion curve: probability as top-attributed vs random units are removed."""
    curve = result.quality.deletion
    if curve is None:
        return None
    from matplotlib import rc_context

    with rc_context(_RC):
        figure, axes = _axes((5.6, 3.4))
        x = [100 * f for f in curve.fractions]
        axes.plot(x, curve.attributed, color="#2f5d8a", marker="o", label="Most attributed first")
        axes.plot(x, curve.random, color="#8c8c8c", marker="s", linestyle="--", label="Random")
        axes.fill_between(x, curve.attributed, curve.random, color="#2f5d8a", alpha=0.12)
        axes.set_xlabel("Inputs removed (%)")
        axes.set_ylabel("P(explained class)")
        axes.grid(color=GRID, linewidth=0.8)
        axes.legend(frameon=False, fontsize=8)
        uri = _to_data_uri(figure)
    return Chart(
        uri,
        f"Deletion curve: mean probability of the explained class falls from "
        f"{curve.attributed[0]:.3f} to {min(curve.attributed):.3f} when the most attributed "
        f"inputs are removed first, and to {min(curve.random):.3f} at random; area between "
        f"{curve.area_between:.3f}.",
    )


def heatmap(values: list[list[float]], kind: str, title: str) -> Chart:
    """An image (``kind="image"``), signed attributions (``"signed"``) or magnitudes."""
    import numpy as np
    from matplotlib import rc_context

    array = np.asarray(values, dtype=float)
    with rc_context(_RC):
        figure, axes = _axes((1.9, 1.9))
        if kind == "signed":
            bound = float(np.abs(array).max()) or 1.0
            axes.imshow(array, cmap="RdBu_r", vmin=-bound, vmax=bound, interpolation="nearest")
        else:
            axes.imshow(array, cmap="gray" if kind == "image" else "magma", interpolation="nearest")
        axes.set_xticks([])
        axes.set_yticks([])
        axes.set_title(title, fontsize=8, color=INK)
        uri = _to_data_uri(figure)
    return Chart(uri, f"{title} ({array.shape[0]}x{array.shape[1]})")


def _token_views(local: LocalExplanation) -> list[TokenView]:
    peak = max((abs(t.score) for t in local.tokens), default=0.0) or 1.0
    views = []
    for token in local.tokens:
        alpha = min(1.0, abs(token.score) / peak) * 0.6
        red, green, blue = POSITIVE if token.score >= 0 else NEGATIVE
        views.append(
            TokenView(
                token.text, token.score, f"background-color: rgba({red},{green},{blue},{alpha:.2f})"
            )
        )
    return views


def explanation_views(result: ExplanationResult | None) -> ExplanationViews | None:
    """Every chart and highlight of the explanations section; ``None`` without a result."""
    if result is None:
        return None
    local = []
    for item in result.local:
        images = []
        if item.image is not None:
            images.append(heatmap(item.image, "image", "Input"))
        if item.attribution_map is not None:
            images.append(heatmap(item.attribution_map, "signed", "Integrated Gradients"))
        if item.saliency_map is not None:
            images.append(heatmap(item.saliency_map, "magnitude", "Saliency |gradient|"))
        local.append(LocalView(item, _token_views(item), images))
    mean_map = None
    if result.mean_attribution_map is not None:
        mean_map = heatmap(result.mean_attribution_map, "magnitude", "Mean |attribution|")
    return ExplanationViews(importance_chart(result), deletion_chart(result), mean_map, local)
