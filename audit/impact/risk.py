"""The risk register: each concern scored likelihood x severity, with mitigation and owner.

Risks come from the impact assessment (declared risks, misuse scenarios, security threats) and
from measurements. A measurement raises or lowers the likelihood of the declared risks of its
concern (a demographic parity difference above the policy threshold makes bias likely); a
concern nobody measured or assessed still gets a row, marked not scored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from raikit.audit.types import Frozen

if TYPE_CHECKING:
    from raikit.audit.evidence import Evidence
    from raikit.audit.policy import Policy

__all__ = ["DEFAULT_LIMITS", "Limits", "Risk", "risk_level", "risk_register"]

Level = Literal["low", "medium", "high", "unknown"]


class Risk(Frozen):
    """One row of the risk register."""

    concern: str
    title: str
    likelihood: int | None
    severity: int | None
    score: int | None
    level: Level
    mitigation: str
    owner: str
    source: str
    basis: str


@dataclass(frozen=True)
class Limits:
    """Thresholds that turn a measurement into a likelihood (the policy's, else these)."""

    max_demographic_parity_difference: float = 0.1
    max_epsilon: float = 8.0
    max_membership_auc: float = 0.6
    max_calibration_error: float = 0.1
    forbidden_pii: tuple[str, ...] = ()
    max_counterfactual_flip_rate: float = 0.02
    # Robust accuracy may fall this far below clean accuracy under the gentlest PGD L-inf
    # radius swept (or the policy's radius) before attacks make manipulation likely.
    max_robust_accuracy_drop: float = 0.1
    robustness_epsilon: float | None = None


DEFAULT_LIMITS = Limits()


def risk_level(score: int | None) -> Level:
    """Level of a likelihood x severity score on the 5 x 5 matrix: 1-6 low, 8-12 medium, 15+ high.

    Examples
    --------
    >>> risk_level(4 * 5)
    'high'
    """
    if score is None:
        return "unknown"
    return "low" if score <= 6 else "medium" if score <= 12 else "high"


@dataclass(frozen=True)
class Measured:
    """What a measurement says about the likelihood of a concern's risk."""

    concern: str
    title: str
    likelihood: int
    basis: str


def limits_from(policy: Policy | None) -> Limits:
    """The limits a policy sets, with raikit's defaults for the rest."""
    if policy is None:
        return DEFAULT_LIMITS
    dpd = [
        t.max
        for t in policy.thresholds
        if t.metric == "demographic_parity_difference" and t.max is not None
    ]
    return Limits(
        max_demographic_parity_difference=min(dpd)
        if dpd
        else DEFAULT_LIMITS.max_demographic_parity_difference,
        max_epsilon=policy.privacy.max_epsilon or DEFAULT_LIMITS.max_epsilon,
        max_membership_auc=policy.privacy.max_membership_auc or DEFAULT_LIMITS.max_membership_auc,
        forbidden_pii=tuple(policy.privacy.forbidden_pii),
        max_counterfactual_flip_rate=policy.robustness.max_counterfactual_flip_rate
        or DEFAULT_LIMITS.max_counterfactual_flip_rate,
        robustness_epsilon=policy.robustness.epsilon,
    )


def _bias(evidence: Evidence, limits: Limits) -> Measured | None:
    if evidence.fairness is None:
        return None
    limit = limits.max_demographic_parity_difference
    worst = None
    for attribute in evidence.fairness.attributes:
        dpd = attribute.disparities.get("demographic_parity_difference")
        if (
            dpd is not None
            and dpd.value is not None
            and (worst is None or dpd.value > worst[1].value)
        ):
            worst = (attribute.attribute, dpd)
    if worst is None:
        return None
    name, dpd = worst
    if dpd.lower is not None and dpd.lower > limit:
        likelihood, how = 5, "clearly above"
    elif dpd.value > limit:
        likelihood, how = 4, "above"
    elif dpd.upper is not None and dpd.upper > limit:
        likelihood, how = 3, "below, but its interval reaches above,"
    else:
        likelihood, how = 1, "below"
    bounds = f" [{dpd.lower:.3f}, {dpd.upper:.3f}]" if dpd.lower is not None else ""
    basis = (
        f"measured: demographic parity difference on {name} is {dpd.value:.3f}{bounds}, "
        f"{how} the threshold {limit:g}"
    )
    return Measured("bias", "Unequal decisions across groups", likelihood, basis)


def _privacy(evidence: Evidence, limits: Limits) -> Measured | None:
    from raikit.audit.impact.concerns import evidence_item
    from raikit.audit.policy import _number

    title = "Personal data of training subjects leaks"
    attack = evidence_item(evidence, "membership_inference")
    if getattr(attack, "verdict", None) == "inconsistent":
        basis = (
            f"measured: membership attacks prove epsilon >= {attack.epsilon_lower_bound:.2f}, "
            f"above the claimed {attack.dp.epsilon:.3g}: the DP guarantee does not hold"
        )
        return Measured("privacy", title, 5, basis)
    auc = _number(attack, "auc")
    if auc is not None:
        high = auc > limits.max_membership_auc
        basis = (
            f"measured: membership-attack AUC {auc:.3f}, "
            f"{'above' if high else 'within'} the limit {limits.max_membership_auc:g}"
        )
        return Measured("privacy", title, 5 if high else 1, basis)
    dp = evidence_item(evidence, "dp")
    epsilon = _number(dp, "epsilon")
    if epsilon is not None:
        high = epsilon > limits.max_epsilon
        basis = (
            f"measured: trained with differential privacy, epsilon {epsilon:.3g}, "
            f"{'above' if high else 'within'} the limit {limits.max_epsilon:g}"
        )
        return Measured("privacy", title, 4 if high else 2, basis)
    if evidence.model.training is not None:
        return Measured(
            "privacy", title, 3, "measured: trained without differential privacy (no guarantee)"
        )
    return None


def _pii(evidence: Evidence, limits: Limits) -> Measured | None:
    from raikit.audit.impact.concerns import evidence_item
    from raikit.audit.policy import pii_types

    found = pii_types(evidence_item(evidence, "pii"))
    if found is None:
        return None
    forbidden = sorted(set(found) & set(limits.forbidden_pii))
    if forbidden:
        likelihood, basis = (
            5,
            f"measured: forbidden PII in the training data: {', '.join(forbidden)}",
        )
    elif found:
        likelihood, basis = 3, f"measured: PII in the training data: {', '.join(sorted(found))}"
    else:
        likelihood, basis = 1, "measured: no PII found in the training data"
    return Measured("privacy", "Personal data in the training data is exposed", likelihood, basis)


def _service_quality(evidence: Evidence, limits: Limits) -> Measured | None:
    performance = evidence.performance
    if performance is None or performance.calibration is None:
        return None
    ece = performance.calibration.expected_calibration_error
    limit = limits.max_calibration_error
    likelihood = 1 if ece <= limit / 2 else 3 if ece <= limit else 4
    basis = f"measured: expected calibration error {ece:.3f} (limit {limit:g})"
    return Measured(
        "service_quality", "Scores mislead the people acting on them", likelihood, basis
    )


def _transparency(evidence: Evidence, limits: Limits) -> Measured | None:
    explanations = getattr(evidence, "explanations", None)
    if explanations is None:
        return None
    title = "Explanations of decisions mislead the people relying on them"
    deletion = explanations.quality.deletion
    relative = explanations.quality.convergence_delta_relative
    if deletion is not None and deletion.area_between <= 0:
        basis = "measured: removing the most attributed inputs hurts no more than random removal"
        return Measured("transparency", title, 4, basis)
    if relative is not None and relative > 0.05:
        basis = f"measured: attributions miss completeness by {100 * relative:.1f}%"
        return Measured("transparency", title, 3, basis)
    area = f"{deletion.area_between:.3f}" if deletion is not None else "n/a"
    basis = f"measured: attributions pass the deletion test (area {area}) and are complete"
    return Measured("transparency", title, 1, basis)


def _reliance(evidence: Evidence, limits: Limits) -> Measured | None:
    explanations = getattr(evidence, "explanations", None)
    if explanations is None or not explanations.reliance:
        return None
    shares = []
    for item in explanations.reliance:
        own = item.sensitive_share.value if item.sensitive_share is not None else 0.0
        shares.append((max(own or 0.0, item.proxy_share.value or 0.0), item.attribute))
    share, attribute = max(shares)
    likelihood = 4 if share >= 0.25 else 3 if share >= 0.1 else 1
    basis = f"measured: {100 * share:.0f}% of the attribution falls on '{attribute}' or its proxies"
    return Measured("bias", "Decisions lean on a protected attribute or a proxy", likelihood, basis)


def _counterfactual(evidence: Evidence, limits: Limits) -> Measured | None:
    robustness = getattr(evidence, "robustness", None)
    rate = robustness.max_counterfactual_flip_rate() if robustness is not None else None
    if rate is None:
        return None
    limit = limits.max_counterfactual_flip_rate
    likelihood = 4 if rate > 2 * limit else 3 if rate > limit else 1
    basis = (
        f"measured: changing only the protected attribute flips up to {100 * rate:.1f}% of "
        f"decisions in a group ({'above' if rate > limit else 'within'} the limit {limit:g})"
    )
    return Measured("bias", "Decisions change with who a person is", likelihood, basis)


def _adversarial(evidence: Evidence, limits: Limits) -> Measured | None:
    robustness = getattr(evidence, "robustness", None)
    adversarial = robustness.adversarial if robustness is not None else None
    if adversarial is None:
        return None
    swept = sorted({p.epsilon for p in adversarial.points if p.attack == "pgd_linf"} - {0.0})
    epsilon = limits.robustness_epsilon
    if epsilon is None and swept:
        epsilon = swept[0]
    robust = robustness.robust_accuracy("pgd_linf", epsilon) if epsilon is not None else None
    if robust is None:
        return None
    drop = adversarial.clean_accuracy - robust
    limit = limits.max_robust_accuracy_drop
    likelihood = 4 if drop > 2 * limit else 3 if drop > limit else 1
    basis = (
        f"measured: a PGD attack (L-inf, epsilon {epsilon:g}) lowers accuracy from "
        f"{adversarial.clean_accuracy:.3f} to {robust:.3f}"
    )
    return Measured(
        "security", "Small crafted input changes manipulate decisions", likelihood, basis
    )


# One rule per measured concern; a new assessment adds its rule here.
RULES: tuple[Callable[[Evidence, Limits], Measured | None], ...] = (
    _bias,
    _privacy,
    _pii,
    _service_quality,
    _transparency,
    _reliance,
    _counterfactual,
    _adversarial,
)


def _declared(evidence: Evidence, owner: str) -> list[Risk]:
    impact = evidence.impact
    if impact is None:
        return []
    rows: list[tuple[str, str, int, int, str, str]] = [
        (r.concern, r.description, r.likelihood, r.severity, r.mitigation, r.owner or owner)
        for r in impact.risks
    ]
    rows += [
        ("security", f"Misuse: {m.scenario}", m.likelihood, m.severity, m.mitigation, owner)
        for m in impact.misuse
    ]
    rows += [
        (
            "privacy" if t.threat in ("privacy_leakage", "data_misuse") else "security",
            f"{t.threat.replace('_', ' ').capitalize()}: {t.description}",
            t.likelihood,
            t.severity,
            t.mitigation,
            owner,
        )
        for t in impact.security
    ]
    return [
        Risk(
            concern=concern,
            title=title,
            likelihood=likelihood,
            severity=severity,
            score=likelihood * severity,
            level=risk_level(likelihood * severity),
            mitigation=mitigation,
            owner=risk_owner,
            source="impact.yaml",
            basis="declared in impact.yaml",
        )
        for concern, title, likelihood, severity, mitigation, risk_owner in rows
    ]


def _adjust(risk: Risk, measured: Measured) -> Risk:
    likelihood = measured.likelihood
    if likelihood == risk.likelihood:
        change = f"likelihood {likelihood} confirmed"
    else:
        verb = "raised" if likelihood > (risk.likelihood or 0) else "lowered"
        change = f"likelihood {verb} from {risk.likelihood} to {likelihood}"
    score = likelihood * (risk.severity or 0)
    return risk.model_copy(
        update={
            "likelihood": likelihood,
            "score": score,
            "level": risk_level(score),
            "source": "impact.yaml + measured",
            "basis": f"{measured.basis}; {change}",
        }
    )


def risk_register(evidence: Evidence, policy: Policy | None = None) -> list[Risk]:
    """The risk register of ``evidence``, highest score first, every concern represented.

    Parameters
    ----------
    evidence : Evidence
        The bundle; its ``impact`` section supplies declared risks, owners and the domain.
    policy : Policy, optional
        Thresholds for the measured rules; defaults to the policy recorded in
        ``evidence.gate`` and then to :data:`DEFAULT_LIMITS`.

    Returns
    -------
    list of Risk
    """
    from raikit.audit.impact.concerns import CONCERNS
    from raikit.audit.impact.frameworks import risk_tier

    if policy is None and evidence.gate is not None:
        policy = evidence.gate.policy
    limits = limits_from(policy)
    impact = evidence.impact
    owner = impact.accountability.owner if impact is not None else "unassigned"
    # Harm from a biased or leaky system is graver where the EU AI Act sees high risk.
    tier = risk_tier(impact.deployment.domain if impact is not None else None).tier
    severity = 4 if tier in ("high", "unknown") else 3
    risks = _declared(evidence, owner)
    measured_by_concern: dict[str, list[Measured]] = {}
    for rule in RULES:
        measured = rule(evidence, limits)
        if measured is not None:
            measured_by_concern.setdefault(measured.concern, []).append(measured)
    for concern_name, measured_list in measured_by_concern.items():
        declared = [i for i, r in enumerate(risks) if r.concern == concern_name]
        if declared:
            # The gravest measurement of the concern sets the likelihood of its declared risks.
            worst = max(measured_list, key=lambda m: m.likelihood)
            for index in declared:
                risks[index] = _adjust(risks[index], worst)
            continue
        for measured in measured_list:
            score = measured.likelihood * severity
            risks.append(
                Risk(
                    concern=measured.concern,
                    title=measured.title,
                    likelihood=measured.likelihood,
                    severity=severity,
                    score=score,
                    level=risk_level(score),
                    mitigation="none declared",
                    owner=owner,
                    source="measured",
                    basis=measured.basis,
                )
            )
    covered = {r.concern for r in risks}
    for concern in CONCERNS:
        if concern.name not in covered:
            risks.append(
                Risk(
                    concern=concern.name,
                    title=concern.title,
                    likelihood=None,
                    severity=None,
                    score=None,
                    level="unknown",
                    mitigation="",
                    owner=owner,
                    source="not assessed",
                    basis="not scored: no measurement and no declared risk",
                )
            )
    order = {c.name: i for i, c in enumerate(CONCERNS)}
    return sorted(risks, key=lambda r: (-(r.score or 0), order.get(r.concern, len(order))))
