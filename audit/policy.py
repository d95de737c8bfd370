"""The policy gate: thresholds in ``policy.yaml`` checked against an evidence bundle.

Public surface: :class:`Policy` (the schema), :func:`load_policy`, :func:`check` (the verb),
:class:`GateResult` and :func:`junit_xml`. ``check`` never exits or prints; ``rai gate`` maps
the result to exit code 0 (pass) or 1 (a gate failed), and bad input to 2.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from raikit.audit._yaml import load_yaml_model
from raikit.audit.types import Frozen
from raikit.models.errors import ConfigError, PolicyError, close_matches_hint

if TYPE_CHECKING:
    from raikit.audit.evidence import Evidence

__all__ = [
    "DEFAULT_LIMITS",
    "GateCheck",
    "Limits",
    "attach_gate",
    "GateResult",
    "Policy",
    "Threshold",
    "check",
    "junit_xml",
    "limits_from",
    "load_policy",
]

CheckStatus = Literal["pass", "fail", "missing"]


class _PolicyPart(Frozen):
    """A part of ``policy.yaml``: no unknown field, and no NaN or infinite bound (which would
    make a gate pass or fail whatever was measured)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


def known_metrics() -> dict[str, str]:
    """Every metric a threshold may name, with the registered assessment that measures it."""
    from raikit.audit.registry import assessments

    return {metric: item.name for item in assessments() for metric in item.metrics}


class Threshold(_PolicyPart):
    """A bound on one metric: ``max`` or ``min`` (or both), never negative.

    ``metric`` is any figure a registered assessment measures (:func:`known_metrics`): a
    fairness disparity (``demographic_parity_difference``, ...; checked on ``attribute``, or on
    every attribute when it is left out), a performance metric (``accuracy``, ``roc_auc``, ...),
    ``membership_auc``, ``slice_gap`` (how much worse the worst discovered slice is than the
    rest; 0 when none is), ``counterfactual_flip_rate``, ``robust_accuracy`` (its ``attribute``
    is the attack and radius, e.g. ``pgd_linf at epsilon 0.1``), ``representation_ratio`` (its
    ``attribute`` is a group, e.g. ``sex=Female``; its ``min`` is the limit below which a
    group is under-represented). ``use: upper`` compares the upper
    end of the interval instead of the point estimate (a stricter gate that accounts for
    sampling noise); ``use: lower`` the lower end.
    """

    metric: str
    attribute: str | None = None
    max: float | None = Field(default=None, ge=0)
    min: float | None = Field(default=None, ge=0)
    use: Literal["value", "upper", "lower"] = "value"

    @model_validator(mode="after")
    def _one_bound(self) -> Threshold:
        if self.max is None and self.min is None:
            raise ValueError("give 'max' or 'min' (or both)")
        known = known_metrics()
        if self.metric not in known:
            hint = close_matches_hint(self.metric, known)
            raise ValueError(f"unknown metric '{self.metric}'{hint}")
        return self


class PrivacyPolicy(_PolicyPart):
    """Privacy gates: DP budget, the one-run audit of training, membership-attack AUC, secret
    exposure (bits), forbidden PII types."""

    max_epsilon: float | None = Field(default=None, gt=0)
    require_dp: bool = False
    require_one_run_audit_consistent: bool = False
    max_membership_auc: float | None = Field(default=None, ge=0.5, le=1)
    max_exposure: float | None = Field(default=None, ge=0)
    forbidden_pii: list[str] = []

    @field_validator("forbidden_pii")
    @classmethod
    def _known_types(cls, types: list[str]) -> list[str]:
        from raikit.audit.pii import ScanConfig

        try:  # the scanner's own list of the types it can find
            ScanConfig(entities=tuple(types), model=None)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return types


class ImpactPolicy(_PolicyPart):
    """Impact-assessment gates: dotted ``impact.yaml`` fields that must be filled in."""

    required: list[str] = []


class RobustnessPolicy(_PolicyPart):
    """Robustness gates: counterfactual flip rate and robust accuracy at a stated radius.

    ``min_robust_accuracy`` is checked for ``attack`` at ``epsilon`` (one of the radii the
    audit swept).
    """

    max_counterfactual_flip_rate: float | None = Field(default=None, ge=0, le=1)
    min_robust_accuracy: float | None = Field(default=None, ge=0, le=1)
    epsilon: float | None = Field(default=None, ge=0)
    attack: Literal["fgsm", "pgd_linf", "pgd_l2"] = "pgd_linf"

    @model_validator(mode="after")
    def _epsilon_with_accuracy(self) -> RobustnessPolicy:
        if self.min_robust_accuracy is not None and self.epsilon is None:
            raise ValueError("min_robust_accuracy needs 'epsilon' (the radius it applies at)")
        return self


class Policy(_PolicyPart):
    """The content of ``policy.yaml``.

    ``on_missing`` decides what a gate does when the evidence lacks what it needs (no
    fairness section, no membership attack): ``fail`` (the safe default) or ``warn``.
    """

    version: Literal[1] = 1
    name: str = "policy"
    on_missing: Literal["fail", "warn"] = "fail"
    thresholds: list[Threshold] = []
    privacy: PrivacyPolicy = PrivacyPolicy()
    impact: ImpactPolicy = ImpactPolicy()
    robustness: RobustnessPolicy = RobustnessPolicy()


class GateCheck(Frozen):
    """One check of the gate and its outcome."""

    gate: str
    subject: str
    requirement: str
    observed: str
    status: CheckStatus
    message: str


class GateResult(Frozen):
    """The outcome of :func:`check`: ``passed`` is False when any check failed."""

    policy_name: str
    on_missing: Literal["fail", "warn"]
    passed: bool
    checks: list[GateCheck]
    policy: Policy

    def counts(self) -> dict[str, int]:
        """Number of checks per status."""
        return {s: sum(c.status == s for c in self.checks) for s in ("pass", "fail", "missing")}


@dataclass(frozen=True)
class Limits:
    """The limits every verdict reads: findings, risk levels and gates (the one source).

    The policy's own bounds where it sets them (:func:`limits_from`), these defaults elsewhere.
    """

    max_demographic_parity_difference: float = 0.1
    max_epsilon: float = 8.0
    max_membership_auc: float = 0.6
    # A planted secret ranking within the top 2^-10 of its format's fills is memorised.
    max_exposure: float = 10.0
    max_calibration_error: float = 0.1
    # How much worse (a difference of rates) a discovered slice may be than the rest.
    max_slice_gap: float = 0.1
    forbidden_pii: tuple[str, ...] = ()
    max_counterfactual_flip_rate: float = 0.02
    # Robust accuracy may fall this far below clean accuracy under the gentlest PGD L-inf
    # radius swept (or the policy's radius) before attacks make manipulation likely.
    max_robust_accuracy_drop: float = 0.1
    robustness_epsilon: float | None = None
    # A group may lose this much accuracy to a smaller model (against its baseline).
    max_group_accuracy_drop: float = 0.05
    # A group whose share of the data is clearly below this fraction of its share of the
    # reference population is under-represented (the four-fifths rule of thumb).
    min_representation_ratio: float = 0.8


DEFAULT_LIMITS = Limits()


def limits_from(policy: Policy | None) -> Limits:
    """The limits a policy sets, with raikit's defaults for the rest."""
    if policy is None:
        return DEFAULT_LIMITS

    def smallest_max(metric: str, default: float) -> float:
        bounds = [t.max for t in policy.thresholds if t.metric == metric and t.max is not None]
        return min(bounds) if bounds else default

    def largest_min(metric: str, default: float) -> float:
        bounds = [t.min for t in policy.thresholds if t.metric == metric and t.min is not None]
        return max(bounds) if bounds else default

    return Limits(
        max_demographic_parity_difference=smallest_max(
            "demographic_parity_difference", DEFAULT_LIMITS.max_demographic_parity_difference
        ),
        max_slice_gap=smallest_max("slice_gap", DEFAULT_LIMITS.max_slice_gap),
        max_epsilon=policy.privacy.max_epsilon or DEFAULT_LIMITS.max_epsilon,
        max_membership_auc=policy.privacy.max_membership_auc or DEFAULT_LIMITS.max_membership_auc,
        max_exposure=DEFAULT_LIMITS.max_exposure
        if policy.privacy.max_exposure is None
        else policy.privacy.max_exposure,
        forbidden_pii=tuple(policy.privacy.forbidden_pii),
        max_counterfactual_flip_rate=policy.robustness.max_counterfactual_flip_rate
        or DEFAULT_LIMITS.max_counterfactual_flip_rate,
        robustness_epsilon=policy.robustness.epsilon,
        max_group_accuracy_drop=smallest_max(
            "group_accuracy_drop", DEFAULT_LIMITS.max_group_accuracy_drop
        ),
        min_representation_ratio=largest_min(
            "representation_ratio", DEFAULT_LIMITS.min_representation_ratio
        ),
    )


def load_policy(path: Path) -> Policy:
    """Read and validate a ``policy.yaml``; errors name the file, line and field."""
    return load_yaml_model(path, Policy, "policy", PolicyError)


def _bound_text(threshold: Threshold) -> str:
    parts = []
    if threshold.min is not None:
        parts.append(f">= {threshold.min:g}")
    if threshold.max is not None:
        parts.append(f"<= {threshold.max:g}")
    which = "" if threshold.use == "value" else f" ({threshold.use} bound)"
    return " and ".join(parts) + which


def _within(value: float, threshold: Threshold) -> bool:
    if threshold.max is not None and value > threshold.max:
        return False
    return not (threshold.min is not None and value < threshold.min)


def _threshold_values(evidence: Evidence, threshold: Threshold) -> list[tuple[str, float | None]]:
    """(subject, compared value) pairs for ``threshold``; empty when nothing measures it.

    Every registered result offers its measures (``Assessment.measures``); a threshold with an
    ``attribute`` reads only the measures of that subject.

    Raises
    ------
    PolicyError
        When the metric is measured but not for ``attribute`` (a misspelt attribute would
        otherwise pass as "not measured").
    """
    from raikit.audit.registry import registered

    pairs: list[tuple[str, float | None]] = []
    for name, result in evidence.results.items():
        item = registered(name)
        for measure in item.measures(result) if item is not None else []:
            if measure.metric == threshold.metric:
                pairs.append((measure.subject, getattr(measure.value, threshold.use)))
    if threshold.attribute is None:
        return pairs
    chosen = [(subject, value) for subject, value in pairs if subject == threshold.attribute]
    if pairs and not chosen:
        subjects = list(dict.fromkeys(subject for subject, _ in pairs))
        hint = close_matches_hint(threshold.attribute, subjects)
        raise PolicyError(
            f"policy threshold on {threshold.metric}: attribute '{threshold.attribute}' is not "
            f"in this evidence{hint} (it has: {', '.join(subjects)})"
        )
    return chosen


def _check_thresholds(evidence: Evidence, policy: Policy, missing: CheckStatus) -> list[GateCheck]:
    checks: list[GateCheck] = []
    for threshold in policy.thresholds:
        requirement = _bound_text(threshold)
        pairs = _threshold_values(evidence, threshold)
        if not pairs:
            subject = threshold.attribute or "any attribute"
            checks.append(
                GateCheck(
                    gate=threshold.metric,
                    subject=subject,
                    requirement=requirement,
                    observed="not measured",
                    status=missing,
                    message=f"{threshold.metric} on {subject} is not in the evidence",
                )
            )
        for subject, value in pairs:
            if value is None or math.isnan(value):
                status, observed = missing, "undefined"
                message = f"{threshold.metric} on {subject} is undefined for this data"
            else:
                status = "pass" if _within(value, threshold) else "fail"
                observed = f"{value:.3f}"
                message = f"{threshold.metric} on {subject} is {value:.3f}; required {requirement}"
            checks.append(
                GateCheck(
                    gate=threshold.metric,
                    subject=subject,
                    requirement=requirement,
                    observed=observed,
                    status=status,
                    message=message,
                )
            )
    return checks


def _privacy_checks(evidence: Evidence, policy: Policy, missing: CheckStatus) -> list[GateCheck]:
    privacy = policy.privacy
    checks: list[GateCheck] = []

    def add(gate: str, requirement: str, observed: str, status: CheckStatus, message: str) -> None:
        checks.append(
            GateCheck(
                gate=gate,
                subject="model",
                requirement=requirement,
                observed=observed,
                status=status,
                message=message,
            )
        )

    dp = evidence.model.dp
    if privacy.require_dp:
        ok = dp is not None
        add(
            "require_dp",
            "trained with DP",
            "yes" if ok else "no",
            "pass" if ok else "fail",
            "the model was trained with differential privacy"
            if ok
            else "the model was not trained with differential privacy",
        )
    if privacy.max_epsilon is not None:
        requirement = f"epsilon <= {privacy.max_epsilon:g}"
        epsilon = dp.epsilon_bound() if dp is not None else None
        if epsilon is None:
            add(
                "max_epsilon",
                requirement,
                "no DP guarantee",
                missing,
                "no differential-privacy epsilon is recorded for this model",
            )
        elif dp.epsilon_matches() is False:
            add(
                "max_epsilon",
                requirement,
                f"recorded {dp.epsilon:.3g}, recomputed {dp.epsilon_recomputed:.3g}",
                "fail",
                "the recorded epsilon does not match the one its mechanism gives: the "
                "training record is wrong or was edited",
            )
        else:
            status: CheckStatus = "pass" if epsilon <= privacy.max_epsilon else "fail"
            add(
                "max_epsilon",
                requirement,
                f"{epsilon:.3g}",
                status,
                f"epsilon is {epsilon:.3g}; required {requirement}",
            )
    if privacy.require_one_run_audit_consistent:
        training = evidence.model.training
        audit = training.privacy.one_run_audit if training is not None else None
        requirement = "one-run lower bound <= claimed epsilon"
        if audit is None or audit.verdict in ("inconclusive", "no_guarantee"):
            why = {
                None: "the model was trained without a one-run audit (--audit-canaries)",
                "inconclusive": "the one-run audit had too few canaries to test the claimed "
                "epsilon",
                "no_guarantee": "the model has no DP guarantee for the one-run audit to test",
            }[audit.verdict if audit is not None else None]
            add("require_one_run_audit_consistent", requirement, "not tested", missing, why)
        else:
            ok = audit.verdict == "consistent"
            observed = f"{audit.epsilon_lower_bound:.3g} vs {audit.claimed_epsilon:.3g}"
            add(
                "require_one_run_audit_consistent",
                requirement,
                observed,
                "pass" if ok else "fail",
                f"the one-run audit proves epsilon >= {audit.epsilon_lower_bound:.3g}; claimed "
                f"{audit.claimed_epsilon:.3g}",
            )

    def at_most(
        gate: str,
        limit: float,
        value: float | None,
        requirement: str,
        *,
        spec: str,
        finding: str,
        absent: str,
    ) -> None:
        """A measured figure against its upper limit: shown with format ``spec``, stated by
        ``finding`` (``{}`` for the figure); ``absent`` says why nothing was measured."""
        if value is None:
            add(gate, requirement, "not measured", missing, absent)
            return
        shown = format(value, spec)
        status: CheckStatus = "pass" if value <= limit else "fail"
        add(gate, requirement, shown, status, f"{finding.format(shown)}; required {requirement}")

    attack = evidence.result("membership_inference")
    if privacy.max_membership_auc is not None:
        at_most(
            "max_membership_auc",
            privacy.max_membership_auc,
            attack.auc if attack is not None else None,
            f"AUC <= {privacy.max_membership_auc:g}",
            spec=".3f",
            finding="membership-attack AUC is {}",
            absent="no membership-inference attack is in the evidence",
        )
    if privacy.max_exposure is not None:
        exposure = attack.exposure if attack is not None else None
        at_most(
            "max_exposure",
            privacy.max_exposure,
            exposure.max_exposure if exposure is not None else None,
            f"exposure <= {privacy.max_exposure:g} bits",
            spec=".1f",
            finding="the largest secret exposure is {} bits",
            absent="no secret-exposure test is in the evidence",
        )
    if privacy.forbidden_pii:
        requirement = "none of " + ", ".join(privacy.forbidden_pii)
        scan = evidence.result("pii")
        if scan is None:
            add(
                "forbidden_pii",
                requirement,
                "not scanned",
                missing,
                "the training data was not scanned for PII",
            )
        else:
            bad = sorted(set(scan.entity_types_found()) & set(privacy.forbidden_pii))
            add(
                "forbidden_pii",
                requirement,
                ", ".join(bad) or "none",
                "fail" if bad else "pass",
                f"forbidden PII types found: {', '.join(bad)}"
                if bad
                else "no forbidden PII type was found",
            )
    return checks


def _impact_checks(evidence: Evidence, policy: Policy) -> list[GateCheck]:
    checks = []
    for field in policy.impact.required:
        ok = evidence.impact is not None and evidence.impact.has(field)
        message = (
            f"impact field '{field}' is filled in"
            if ok
            else f"impact field '{field}' is required but missing, empty or a TODO"
        )
        observed = "present" if ok else "missing"
        status: CheckStatus = "pass" if ok else "fail"
        checks.append(
            GateCheck(
                gate="impact_required",
                subject=field,
                requirement="filled in",
                observed=observed,
                status=status,
                message=message,
            )
        )
    return checks


def _robustness_checks(evidence: Evidence, policy: Policy, missing: CheckStatus) -> list[GateCheck]:
    gates = policy.robustness
    section = evidence.result("robustness")
    checks = []
    if gates.max_counterfactual_flip_rate is not None:
        requirement = f"flip rate <= {gates.max_counterfactual_flip_rate:g}"
        rate = section.max_counterfactual_flip_rate() if section is not None else None
        if rate is None:
            status: CheckStatus = missing
            observed, message = "not measured", "no counterfactual test is in the evidence"
        else:
            status = "pass" if rate <= gates.max_counterfactual_flip_rate else "fail"
            observed = f"{rate:.3f}"
            message = f"largest counterfactual flip rate is {rate:.3f}; required {requirement}"
        checks.append(
            GateCheck(
                gate="max_counterfactual_flip_rate",
                subject="model",
                requirement=requirement,
                observed=observed,
                status=status,
                message=message,
            )
        )
    if gates.min_robust_accuracy is not None and gates.epsilon is not None:
        subject = f"{gates.attack} at epsilon {gates.epsilon:g}"
        requirement = f"robust accuracy >= {gates.min_robust_accuracy:g}"
        accuracy = (
            section.robust_accuracy(gates.attack, gates.epsilon) if section is not None else None
        )
        if accuracy is None:
            status, observed = missing, "not measured"
            message = f"no robust accuracy for {subject} is in the evidence"
        else:
            status = "pass" if accuracy >= gates.min_robust_accuracy else "fail"
            observed = f"{accuracy:.3f}"
            message = f"robust accuracy under {subject} is {accuracy:.3f}; required {requirement}"
        checks.append(
            GateCheck(
                gate="min_robust_accuracy",
                subject=subject,
                requirement=requirement,
                observed=observed,
                status=status,
                message=message,
            )
        )
    return checks


GATES: tuple[Callable[[Evidence, Policy, CheckStatus], list[GateCheck]], ...] = (
    _check_thresholds,
    _privacy_checks,
    lambda evidence, policy, missing: _impact_checks(evidence, policy),
    _robustness_checks,
)


def check(evidence: Evidence, policy: Policy) -> GateResult:
    """Check ``evidence`` against ``policy``.

    Returns
    -------
    GateResult
        Every check with its status; ``passed`` is False when any check is ``fail``
        (a ``missing`` measurement counts as ``fail`` unless ``on_missing: warn``).

    Examples
    --------
    >>> result = check(load_evidence(Path("evidence.json")), load_policy(Path("policy.yaml")))
    ... # doctest: +SKIP
    """
    missing: CheckStatus = "fail" if policy.on_missing == "fail" else "missing"
    checks = [c for gate in GATES for c in gate(evidence, policy, missing)]
    return GateResult(
        policy_name=policy.name,
        on_missing=policy.on_missing,
        passed=all(c.status != "fail" for c in checks),
        checks=checks,
        policy=policy,
    )


def attach_gate(evidence: Evidence, policy: Policy) -> Evidence:
    """A copy of ``evidence`` with the result of :func:`check` in ``evidence.gate``.

    The verdicts are judged anew against the policy's limits.
    """
    from raikit.audit.impact.verdicts import with_verdicts

    gate = check(evidence.model_copy(update={"gate": None}), policy)
    return with_verdicts(evidence.model_copy(update={"gate": gate}), policy)


# Characters XML 1.0 cannot hold, even escaped: most C0 controls, lone surrogates, U+FFFE/F.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text: str) -> str:
    """``text`` with each character XML 1.0 forbids replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


def junit_xml(result: GateResult) -> str:
    """The gate result as JUnit XML (one ``testcase`` per check) for CI systems.

    Names and messages come from the user's data and policy; a character XML 1.0 forbids
    (a control character) is written as U+FFFD so the file always parses.
    """
    import xml.etree.ElementTree as ET

    counts = result.counts()
    suite = ET.Element(
        "testsuite",
        name=_xml_text(f"raikit policy gate: {result.policy_name}"),
        tests=str(len(result.checks)),
        failures=str(counts["fail"]),
        errors="0",
        skipped=str(counts["missing"]),
    )
    for item in result.checks:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=_xml_text(f"raikit.gate.{item.gate}"),
            name=_xml_text(item.subject),
        )
        if item.status == "fail":
            ET.SubElement(
                case, "failure", message=_xml_text(item.message), type=_xml_text(item.gate)
            ).text = _xml_text(f"required {item.requirement}; observed {item.observed}")
        elif item.status == "missing":
            ET.SubElement(case, "skipped", message=_xml_text(item.message))
    suites = ET.Element("testsuites")
    suites.append(suite)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, "unicode") + "\n"
