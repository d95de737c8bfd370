"""The risk register: each concern scored likelihood x severity, with mitigation and owner.

Risks come from the impact assessment (declared risks, misuse scenarios, security threats) and
from measurements. A measurement raises or lowers the likelihood of the declared risks of its
concern (a demographic parity difference above the policy threshold makes bias likely); a
concern nobody measured or assessed still gets a row, marked not scored.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Literal

from raikit.audit.assessment import MeasuredRisk
from raikit.audit.types import Frozen

if TYPE_CHECKING:
    from raikit.audit.evidence import Evidence
    from raikit.audit.policy import Limits, Policy

__all__ = ["Risk", "measured_risks", "risk_level", "risk_register"]

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


def _training_record(evidence: Evidence, limits: Limits) -> list[MeasuredRisk]:
    """What the model's training record says of leakage: its DP guarantee, or none."""
    from raikit.audit.privacy import LEAK_KINDS, LEAK_RISK

    dp = evidence.model.dp
    epsilon = dp.epsilon_bound() if dp is not None else None
    audit = dp.one_run_audit if dp is not None else None
    if audit is not None and audit.verdict == "inconsistent":
        basis = (
            f"measured: the one-run audit of training proves epsilon >= "
            f"{audit.epsilon_lower_bound:.2f}, above the claimed {audit.claimed_epsilon:.3g}: "
            "the DP guarantee does not hold"
        )
        return [MeasuredRisk("privacy", LEAK_RISK, 5, basis, LEAK_KINDS)]
    if dp is not None and dp.epsilon_matches() is False:
        basis = (
            f"measured: the training record claims epsilon {dp.epsilon:g} but its mechanism "
            f"gives {dp.epsilon_recomputed:.3g}: the guarantee cannot be trusted"
        )
        return [MeasuredRisk("privacy", LEAK_RISK, 5, basis, LEAK_KINDS)]
    if epsilon is not None:
        high = epsilon > limits.max_epsilon
        basis = (
            f"measured: trained with differential privacy, epsilon {epsilon:.3g}, "
            f"{'above' if high else 'within'} the limit {limits.max_epsilon:g}"
        )
        return [MeasuredRisk("privacy", LEAK_RISK, 4 if high else 2, basis, LEAK_KINDS)]
    if evidence.model.training is not None:
        basis = "measured: trained without differential privacy (no guarantee)"
        return [MeasuredRisk("privacy", LEAK_RISK, 3, basis, LEAK_KINDS)]
    return []


def measured_risks(evidence: Evidence, limits: Limits) -> list[MeasuredRisk]:
    """What every result says about its concern's risks, in registry order.

    The training record speaks to a risk only when no result measured that risk itself (a
    membership attack supersedes the claim of the DP guarantee), unless the record proves the
    risk certain (likelihood 5: a guarantee the one-run audit refutes, or a wrong ε), which no
    attack on the final model can lower.
    """
    from raikit.audit.registry import registered

    measured = [
        _unless_degenerate(risk, evidence.model.degenerate)
        for name, result in evidence.results.items()
        if (item := registered(name)) is not None
        for risk in item.risks(result, limits)
    ]
    from raikit.audit.reproduce import reproduction_risks

    titles = {risk.title for risk in measured}
    record = [
        r for r in _training_record(evidence, limits) if r.title not in titles or r.likelihood == 5
    ]
    proven = {r.title for r in record if r.likelihood == 5}
    measured = [risk for risk in measured if risk.title not in proven]
    return measured + record + reproduction_risks(evidence)


def _unless_degenerate(risk: MeasuredRisk, degenerate: str | None) -> MeasuredRisk:
    """A low figure read from a degenerate model's decisions (no disparity, nothing an attack
    can flip) is no evidence of low risk: it scores nothing."""
    if (
        degenerate is None
        or not risk.from_decisions
        or risk.likelihood is None
        or risk.likelihood >= 3
    ):
        return risk
    basis = (
        f"not scored: {risk.basis.removeprefix('measured: ')}, but the model is degenerate "
        f"({degenerate}), so a low figure shows nothing"
    )
    return dataclasses.replace(risk, likelihood=None, basis=basis)


def _declared(evidence: Evidence, owner: str) -> list[tuple[Risk, str]]:
    """The risks ``impact.yaml`` declares, each with its kind (see ``MeasuredRisk.measures``)."""
    impact = evidence.impact
    if impact is None:
        return []
    rows: list[tuple[str, str, str, int, int, str, str]] = [
        (
            f"risk:{r.concern}",
            r.concern,
            r.description,
            r.likelihood,
            r.severity,
            r.mitigation,
            r.owner or owner,
        )
        for r in impact.risks
    ]
    rows += [
        (
            "misuse",
            "security",
            f"Misuse: {m.scenario}",
            m.likelihood,
            m.severity,
            m.mitigation,
            owner,
        )
        for m in impact.misuse
    ]
    rows += [
        (
            f"threat:{t.threat}",
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
        (
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
            ),
            kind,
        )
        for kind, concern, title, likelihood, severity, mitigation, risk_owner in rows
    ]


def _adjust(risk: Risk, measured: MeasuredRisk) -> Risk:
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
    from raikit.audit.policy import limits_from

    if policy is None and evidence.gate is not None:
        policy = evidence.gate.policy
    limits = limits_from(policy)
    impact = evidence.impact
    owner = impact.accountability.owner if impact is not None else "unassigned"
    # Harm from a biased or leaky system is graver where the EU AI Act sees high risk.
    tier = risk_tier(impact.deployment.domain if impact is not None else None).tier
    severity = 4 if tier in ("high", "unknown") else 3
    declared = _declared(evidence, owner)
    risks = [risk for risk, _ in declared]
    # A measurement moves only the declared risks it measures (the gravest one wins); one that
    # measures no declared risk is a row of its own.
    unmatched = []
    for measured in measured_risks(evidence, limits):
        hits = [i for i, (_, kind) in enumerate(declared) if kind in measured.declared_kinds()]
        if measured.likelihood is None:  # it moves nothing; the register says why
            hits = []
        for index in hits:
            current = risks[index]
            if current.source == "impact.yaml" or measured.likelihood > (current.likelihood or 0):
                risks[index] = _adjust(declared[index][0], measured)
        if not hits:
            unmatched.append(measured)
    for measured in unmatched:
        scored = measured.likelihood is not None
        score = measured.likelihood * severity if scored else None
        risks.append(
            Risk(
                concern=measured.concern,
                title=measured.title,
                likelihood=measured.likelihood,
                severity=severity if scored else None,
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
