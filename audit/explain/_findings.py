"""Findings of the explanations assessment: what a reader must not miss."""

from __future__ import annotations

from raikit.audit.explain.result import ExplanationQuality
from raikit.audit.types import Finding

# A share of attribution above this on a sensitive column or its proxies is worth a warning.
RELIANCE_WARNING = 0.1


IMAGE_RELIANCE = (
    "reliance on sensitive attributes is not assessed for image models: pixels are not "
    "columns a proxy can be named among"
)


def finding(severity: str, code: str, message: str) -> Finding:
    return Finding(concern="explanations", severity=severity, code=code, message=message)


def explanation_findings(engine, quality: ExplanationQuality, relied, config) -> list[Finding]:
    found = []
    if engine.method in ("feature-ablation", "kernel-shap"):
        found.append(
            finding(
                "info",
                "model_agnostic",
                f"the model exposes no gradients: attributions are {engine.method} over its "
                "raw columns through predict_proba",
            )
        )
    relative = quality.convergence_delta_relative
    if relative is not None and relative > config.tolerance:
        found.append(
            finding(
                "warning",
                "ig_not_converged",
                f"Integrated Gradients did not converge: the convergence delta is "
                f"{100 * relative:.1f}% of the output change even at {config.max_steps} steps",
            )
        )
    if quality.deletion is not None and quality.deletion.area_between <= 0:
        found.append(
            finding(
                "warning",
                "deletion_not_better_than_random",
                "removing the most attributed inputs does not lower the model's confidence "
                "more than removing random ones: do not rely on these attributions",
            )
        )
    for item in relied:
        share = item.sensitive_share.value if item.sensitive_share is not None else 0.0
        if share is not None and share >= RELIANCE_WARNING:
            found.append(
                finding(
                    "warning",
                    "relies_on_sensitive",
                    f"{100 * share:.0f}% of the attribution falls on the sensitive column "
                    f"'{item.attribute}'",
                )
            )
        proxy = item.proxy_share.value
        if item.proxies and proxy is not None and proxy >= RELIANCE_WARNING:
            names = ", ".join(f"'{p.feature}'" for p in item.proxies)
            found.append(
                finding(
                    "warning",
                    "relies_on_proxy",
                    f"{100 * proxy:.0f}% of the attribution falls on {names}, proxies of "
                    f"'{item.attribute}'",
                )
            )
    return found
