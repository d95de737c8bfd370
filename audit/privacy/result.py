"""Result types of the membership-inference audit: plain, frozen, JSON-serialisable data."""

from __future__ import annotations

from typing import Literal

from raikit.audit.privacy.exposure import ExposureResult
from raikit.audit.types import Finding, Frozen, Interval

Verdict = Literal["consistent", "inconsistent", "no_guarantee"]


class RateAtFpr(Frozen):
    """TPR of an attack at a target FPR, and whether the non-members can resolve that FPR."""

    target_fpr: float
    tpr: Interval
    true_positives: int
    false_positives: int
    nonmembers_observable: int
    nonmembers_certifiable: int
    resolvable: bool


class AttackResult(Frozen):
    """One attack's metrics, its ε lower bound and its ROC curve (downsampled)."""

    name: str
    title: str
    description: str
    auc: Interval
    balanced_accuracy: Interval
    rates: list[RateAtFpr]
    epsilon_lower_bound: float
    epsilon_bound_form: str | None
    roc_fpr: list[float]
    roc_tpr: list[float]


class GroupVulnerability(Frozen):
    """The strongest attack's AUC within one sensitive group."""

    attribute: str
    group: str
    n_members: int
    n_nonmembers: int
    auc: Interval
    small: bool


class DPGuarantee(Frozen):
    """The differential-privacy guarantee claimed by the training record, if any."""

    differentially_private: bool
    epsilon: float | None = None
    delta: float | None = None
    accountant: str | None = None
    noise_multiplier: float | None = None
    sample_rate: float | None = None
    steps: int | None = None
    epochs: int | None = None
    max_grad_norm: float | None = None
    max_auc: float | None = None
    #: Which clipping engine trained it (``raikit-bookkeeping`` or ``opacus-hooks``), and why
    #: raikit's engine was not used, if it was not.
    engine: str | None = None
    engine_fallback_reason: str | None = None


class MembershipInferenceResult(Frozen):
    """Membership-inference attacks on one model, side by side with its DP guarantee."""

    auc: float | None
    strongest_attack: str
    attacks: list[AttackResult]
    n_members: int
    n_nonmembers: int
    n_training_rows: int
    nonmember_source: str
    n_shadows: int
    lira_fixed_variance: bool | None
    lira_rows_without_in: int
    confidence_level: float
    delta_used: float
    epsilon_lower_bound: float
    epsilon_lower_bound_attack: str | None
    n_comparisons: int
    dp: DPGuarantee
    dp_bound_fpr: list[float]
    dp_bound_tpr: list[float]
    verdict: Verdict
    per_group: list[GroupVulnerability]
    findings: list[Finding]
    #: Exposure of the secrets planted in the training text, when a canary file was given.
    exposure: ExposureResult | None = None
