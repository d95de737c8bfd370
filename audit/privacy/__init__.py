"""Membership inference: does the model reveal who was in its training data, and does its
differential-privacy guarantee hold up against the attacks?

Attacks (scores: higher means "member"):

* ``loss`` — Yeom et al. (2018): training rows tend to have a lower loss; score ``-loss``.
* ``confidence`` — the model's confidence in its top class, label-free (Salem et al. 2019);
  logit-scaled, ``z_max − logsumexp(z_others)``, so saturated probabilities keep their order.
* ``lira-online`` / ``lira-offline`` — Carlini et al. (2022), see :mod:`raikit.audit.privacy._lira`.
* ``rmia`` — Zarifzadeh et al. (2024), offline, on the same shadows; its population rows are a
  sample of the held-out rows (see :mod:`raikit.audit.privacy._rmia`).

Members are a random sample of the checkpoint's training split; non-members an equally large
sample of its validation and test splits (held out from training, drawn from the same
distribution by the recorded random split). The attack statistics (ROC table, the ε lower
bound, the DP trade-off curve) are in :mod:`raikit.audit.privacy._stats`; ROC AUC and the
Clopper–Pearson interval are the shared ones of :mod:`raikit.audit.stats`.

In the audit: the ``membership_inference`` assessment (:data:`ASSESSMENT`, in
:mod:`raikit.audit.registry`), measuring the ``privacy`` concern; it needs a raikit checkpoint
(the attacks retrain its recipe); ``membership_auc`` can be gated; the verdict against the DP
guarantee sets the privacy risk.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
import pandas as pd
from pydantic import Field, model_validator
from typing_extensions import Self

from raikit.audit.assessment import Assessment, AuditContext, Measure, MeasuredRisk, ReportSection
from raikit.audit.policy import DEFAULT_LIMITS, Limits
from raikit.audit.privacy import _stats as stats
from raikit.audit.privacy._rmia import OFFLINE_A
from raikit.audit.privacy.result import (
    AttackResult,
    DPGuarantee,
    GroupVulnerability,
    MembershipInferenceResult,
    RateAtFpr,
    Verdict,
)
from raikit.audit.stats import auc_interval, clopper_pearson_interval, roc_auc, two_sided_z
from raikit.audit.types import Finding, Interval
from raikit.models.errors import ConfigError, DataError, ModelError
from raikit.models.settings import ConfidenceLevel, MinGroupSize, Seed, Settings

if TYPE_CHECKING:
    from raikit.audit.groups import Grouping
    from raikit.audit.predictor import Predictor
    from raikit.models.data import LoadedTable

__all__ = [
    "AttackResult",
    "DPGuarantee",
    "GroupVulnerability",
    "MembershipConfig",
    "MembershipInferenceResult",
    "RateAtFpr",
    "assess_membership_inference",
]

CONCERN = "privacy"
#: The risk a membership attack measures (the training record speaks to it when none ran).
LEAK_RISK = "Personal data of training subjects leaks"
#: The declared risks that measure speaks to: the concern's own and the privacy-leakage threat.
LEAK_KINDS = ("risk:privacy", "threat:privacy_leakage")
TARGET_FPRS = (0.01, 0.001)
ROC_POINTS = 200
ATTACK_TITLES = {
    "loss": ("Loss threshold", "Yeom et al. 2018: a lower loss on the true label means member."),
    "confidence": (
        "Confidence threshold",
        "A higher top-class confidence means member (needs no label).",
    ),
    "lira-online": (
        "LiRA online",
        "Carlini et al. 2022: likelihood ratio of the confidence under shadow models trained "
        "with and without the row.",
    ),
    "lira-offline": (
        "LiRA offline",
        "Carlini et al. 2022: how far the confidence lies above that of shadow models trained "
        "without the row (one-sided test).",
    ),
    "rmia": (
        "RMIA offline",
        "Zarifzadeh et al. 2024: how often the confidence, relative to that of shadow models "
        "trained without the row, beats the same ratio of held-out population rows.",
    ),
}


class MembershipConfig(Settings):
    """How to attack.

    Parameters
    ----------
    shadows : int, optional
        K shadow models for LiRA and RMIA; 0 runs the threshold attacks only; ``None``: 8 on
        CPU, 64 when a CUDA GPU is present.
    max_samples : int
        At most this many members and as many non-members are attacked (at least 10).
    seed : int
        Seed of the member/non-member sample, the shadows' halves and their training.
    confidence_level : float
        Of every interval and of the ε lower bound.
    min_group_size : int
        Groups with fewer members or non-members than this are flagged small.
    progress : bool
        Show a progress bar (stderr) while shadow models train.
    rmia_offline_a : float
        RMIA's ``a``: how the average confidence of shadows without a row stands in for the
        average over all shadows (1: as it is).
    canaries : Path, optional
        A canary file (:func:`~raikit.audit.privacy.exposure.plant_canaries`): the exposure
        of each secret planted in the training text is measured too.
    """

    shadows: int | None = None
    max_samples: Annotated[int, Field(ge=10)] = 5000
    seed: Seed = 0
    confidence_level: ConfidenceLevel = 0.95
    min_group_size: MinGroupSize = 30
    progress: bool = False
    rmia_offline_a: Annotated[float, Field(ge=0, le=1)] = OFFLINE_A
    canaries: Path | None = None

    @model_validator(mode="after")
    def _shadows_pair_up(self) -> Self:
        # One shadow cannot be both "with" and "without" a row: LiRA needs two or more.
        if self.shadows is not None and (self.shadows < 0 or self.shadows == 1):
            raise ConfigError(
                f"--shadows must be 0 (no LiRA) or at least 2; got {self.shadows} instead"
            )
        return self


def default_shadows() -> int:
    """K when none is given: 64 shadows with a CUDA GPU, 8 on CPU."""
    import torch

    return 64 if torch.cuda.is_available() else 8


def assess_membership_inference(
    predictor: Predictor,
    table: LoadedTable,
    sensitive: tuple[str, ...] | list[str] = (),
    config: MembershipConfig | None = None,
    *,
    progress: bool | None = None,
    limits: Limits = DEFAULT_LIMITS,
    grouping: Grouping | None = None,
) -> MembershipInferenceResult:
    """Attack ``predictor`` on its own training data and compare with its DP guarantee.

    Parameters
    ----------
    predictor : Predictor
        A raikit checkpoint (its ``split.json`` says which rows were members).
    table : LoadedTable
        The model's own training table (same sha256 as its training record).
    sensitive : sequence of str
        Columns whose groups (:mod:`raikit.audit.groups`) get their own attack AUC.
    config : MembershipConfig, optional
        Shadows, sample size, seed and confidence.
    progress : bool, optional
        Show a progress bar while shadow models train (default: ``config.progress``).
    grouping : Grouping, optional
        How ``sensitive`` forms groups; by default fitted on every row of ``table``.

    Returns
    -------
    MembershipInferenceResult

    Raises
    ------
    ModelError
        When the model has no training record and split, or is not a classifier.
    DataError
        When ``table`` is not the model's training data, or a sensitive column is missing.
    """
    config = config or MembershipConfig()
    record, split = _record_and_split(predictor)
    if record.get("data", {}).get("sha256") != table.sha256:
        raise DataError(
            f"a membership attack needs the model's own training data; {table.source} does not "
            "match the sha256 in its training record"
        )
    missing = [c for c in sensitive if c not in table.frame.columns]
    if missing:
        raise DataError(f"sensitive column '{missing[0]}' not found in {table.source}")
    if grouping is None:
        from raikit.audit.groups import fit_groups

        grouping = fit_groups(table.frame[list(sensitive)])
    elif grouping.names != list(sensitive):
        raise DataError(f"the grouping was fitted on {grouping.names}, not on {list(sensitive)}")
    label = (record.get("data", {}).get("schema") or {}).get("label")
    if label is None or label not in table.frame.columns:
        raise ModelError("the training record does not name a label column of this data")

    rng = np.random.default_rng(config.seed)
    members_pool = np.asarray(split.get("train", []), dtype=np.int64)
    nonmembers_pool = np.asarray(
        sorted(split.get("validation", []) + split.get("test", [])), dtype=np.int64
    )
    n_each = min(len(members_pool), len(nonmembers_pool), config.max_samples)
    if n_each < 10:
        raise DataError(f"too few held-out rows to attack: {n_each} members and non-members each")
    members = np.sort(rng.choice(members_pool, n_each, replace=False))
    nonmembers = np.sort(rng.choice(nonmembers_pool, n_each, replace=False))
    attacked = np.concatenate([members, nonmembers])
    is_member = np.concatenate([np.ones(n_each, bool), np.zeros(n_each, bool)])
    frame = table.frame.iloc[attacked]

    from raikit.audit.privacy._lira import logit_confidence
    from raikit.models.schema import label_text

    labels = frame[label].map(label_text).tolist()
    phi = logit_confidence(predictor, frame, labels)
    scores = {
        "loss": -np.logaddexp(0.0, -phi),  # -cross-entropy, exact for p_y near 1
        "confidence": _top_confidence(predictor, frame),
    }
    n_shadows = default_shadows() if config.shadows is None else config.shadows
    lira = None
    if n_shadows >= 2:
        from raikit.audit.privacy._lira import lira_scores, recipe_from_record, train_shadows
        from raikit.audit.privacy._rmia import rmia_scores

        # RMIA's population: held-out rows (never trained on), scored by the same shadows.
        population = np.sort(
            rng.choice(
                nonmembers_pool, min(len(nonmembers_pool), config.max_samples), replace=False
            )
        )
        scored = np.union1d(attacked, population)
        shadows = train_shadows(
            table,
            recipe_from_record(record),
            scored,
            n_shadows,
            seed=config.seed,
            progress=config.progress if progress is None else progress,
        )
        at_attacked = np.searchsorted(scored, attacked)
        at_population = np.searchsorted(scored, population)
        phi_scored = np.empty(len(scored))
        phi_scored[at_attacked] = phi  # the same values where an attacked row is in both
        rest = np.setdiff1d(np.arange(len(scored)), at_attacked)
        if len(rest):  # held-out rows not attacked
            rest_frame = table.frame.iloc[scored[rest]]
            phi_scored[rest] = logit_confidence(
                predictor, rest_frame, rest_frame[label].map(label_text).tolist()
            )
        lira = lira_scores(phi, shadows.columns(at_attacked))
        if lira.online is not None:
            scores["lira-online"] = lira.online
        scores["lira-offline"] = lira.offline
        rmia = rmia_scores(phi_scored, shadows, at_population, config.rmia_offline_a)
        scores["rmia"] = rmia[at_attacked]

    dp = _dp_guarantee(record)
    n_train = len(members_pool)
    delta = dp.delta if dp.differentially_private and dp.delta is not None else 1 / (10 * n_train)
    tables = {name: stats.roc_table(s[is_member], s[~is_member]) for name, s in scores.items()}
    candidates = {name: stats.candidate_thresholds(t) for name, t in tables.items()}
    n_comparisons = sum(len(rows) for rows in candidates.values())
    attacks = [
        _attack_result(
            name,
            scores[name],
            is_member,
            tables[name],
            candidates[name],
            delta,
            n_comparisons,
            config.confidence_level,
        )
        for name in scores
    ]
    strongest = max(attacks, key=lambda a: -1.0 if a.auc.value is None else a.auc.value)
    best_bound = max(attacks, key=lambda a: a.epsilon_lower_bound)
    epsilon_lb = best_bound.epsilon_lower_bound
    if not dp.differentially_private or dp.epsilon is None:
        verdict: Verdict = "no_guarantee"
    elif epsilon_lb <= dp.epsilon:
        verdict = "consistent"
    else:
        verdict = "inconsistent"
    per_group = _per_group(
        grouping,
        frame,
        scores[strongest.name],
        is_member,
        config.min_group_size,
        config.confidence_level,
    )
    bound_fpr, bound_tpr = [], []
    if dp.differentially_private and dp.epsilon is not None:
        grid = np.unique(np.concatenate([np.logspace(-5, 0, ROC_POINTS), [0.0]]))
        bound_fpr = [float(x) for x in grid]
        bound_tpr = [float(y) for y in stats.dp_tpr_bound(grid, dp.epsilon, dp.delta or 0.0)]
    result = dict(
        auc=strongest.auc.value,
        strongest_attack=strongest.name,
        attacks=attacks,
        n_members=n_each,
        n_nonmembers=n_each,
        n_training_rows=n_train,
        nonmember_source="validation and test splits, held out from training",
        n_shadows=n_shadows if n_shadows >= 2 else 0,
        lira_fixed_variance=None if lira is None else lira.fixed_variance,
        lira_rows_without_in=0 if lira is None else lira.rows_without_in,
        confidence_level=config.confidence_level,
        delta_used=delta,
        epsilon_lower_bound=epsilon_lb,
        epsilon_lower_bound_attack=best_bound.name if epsilon_lb > 0 else None,
        n_comparisons=n_comparisons,
        dp=dp,
        dp_bound_fpr=bound_fpr,
        dp_bound_tpr=bound_tpr,
        verdict=verdict,
        per_group=per_group,
        findings=[],
    )
    if config.canaries is not None:
        from raikit.audit.privacy.exposure import assess_exposure, load_canaries

        result["exposure"] = assess_exposure(
            predictor, load_canaries(config.canaries), seed=config.seed, limits=limits
        )
    draft = MembershipInferenceResult(**result)
    return draft.model_copy(update={"findings": _findings(draft, limits)})


def _record_and_split(predictor: Predictor) -> tuple[dict, dict]:
    checkpoint = getattr(predictor, "checkpoint", None)
    record = getattr(checkpoint, "record", None)
    split = getattr(checkpoint, "split", None)
    if not record or not split:
        raise ModelError(
            f"'{predictor.path}' has no training record and split: a membership attack needs a "
            "raikit checkpoint (split.json says which rows were members)"
        )
    if getattr(checkpoint, "config", {}).get("task") == "regression":
        raise ModelError(f"'{predictor.path}' is a regressor; the attacks need class scores")
    return record, split


def _top_confidence(predictor: Predictor, frame: pd.DataFrame) -> np.ndarray:
    """Logit-scaled top-class confidence ``log p_max − log(1 − p_max)`` of every row."""
    from scipy.special import logsumexp

    from raikit.audit.privacy._lira import PROBABILITY_CLIP
    from raikit.audit.torch_model import predict_logits, torch_model

    model = torch_model(predictor)
    if model is not None:
        logits = predict_logits(model, frame)
        top = logits.argmax(axis=1)
        rows = np.arange(len(frame))
        others = logits.copy()
        others[rows, top] = -np.inf
        return logits[rows, top] - logsumexp(others, axis=1)
    p = np.clip(predictor.predict_proba(frame).max(axis=1), PROBABILITY_CLIP, 1 - PROBABILITY_CLIP)
    return np.log(p) - np.log1p(-p)


def _attack_result(
    name: str,
    scores: np.ndarray,
    is_member: np.ndarray,
    table: stats.RocTable,
    candidates: np.ndarray,
    delta: float,
    n_comparisons: int,
    confidence: float,
) -> AttackResult:
    n_m, n_n = table.n_members, table.n_nonmembers
    auc = roc_auc(is_member, scores)
    auc_lo, auc_hi = auc_interval(auc, n_m, n_n, confidence)
    balanced, row = stats.best_balanced_accuracy(table)
    tpr, fpr = table.tpr[row], table.fpr[row]
    half = two_sided_z(confidence) * math.sqrt(tpr * (1 - tpr) / n_m + fpr * (1 - fpr) / n_n) / 2
    rates = []
    for target in TARGET_FPRS:
        tp, fp = stats.tpr_at_fpr(table, target)
        lo, hi = clopper_pearson_interval(tp, n_m, confidence)
        observable, certifiable = stats.nonmembers_to_resolve(target, confidence)
        rates.append(
            RateAtFpr(
                target_fpr=target,
                tpr=Interval(value=tp / n_m, lower=lo, upper=hi),
                true_positives=tp,
                false_positives=fp,
                nonmembers_observable=observable,
                nonmembers_certifiable=certifiable,
                resolvable=n_n >= observable,
            )
        )
    bound = stats.epsilon_lower_bound(
        table.true_positives[candidates],
        table.false_positives[candidates],
        n_m,
        n_n,
        delta,
        confidence,
        n_comparisons,
    )
    chart_rows = stats.candidate_thresholds(table, ROC_POINTS)
    title, description = ATTACK_TITLES[name]
    return AttackResult(
        name=name,
        title=title,
        description=description,
        auc=Interval(value=auc, lower=auc_lo, upper=auc_hi),
        balanced_accuracy=Interval(
            value=balanced, lower=max(0.0, balanced - half), upper=min(1.0, balanced + half)
        ),
        rates=rates,
        epsilon_lower_bound=bound.epsilon,
        epsilon_bound_form=bound.form,
        roc_fpr=[float(x) for x in table.fpr[chart_rows]],
        roc_tpr=[float(y) for y in table.tpr[chart_rows]],
    )


def _dp_guarantee(record: dict) -> DPGuarantee:
    privacy = record.get("privacy") or {}
    if not privacy.get("differentially_private"):
        return DPGuarantee(differentially_private=False)
    epsilon = privacy.get("epsilon")
    delta = privacy.get("delta")
    max_auc = None
    if epsilon is not None and delta is not None:
        max_auc = stats.dp_max_auc(float(epsilon), float(delta))
    return DPGuarantee(
        differentially_private=True,
        epsilon=epsilon,
        delta=delta,
        accountant=privacy.get("accountant"),
        noise_multiplier=privacy.get("noise_multiplier"),
        sample_rate=privacy.get("sample_rate"),
        steps=privacy.get("steps"),
        epochs=privacy.get("epochs"),
        max_grad_norm=privacy.get("max_grad_norm"),
        max_auc=max_auc,
        engine=privacy.get("engine"),
        engine_fallback_reason=privacy.get("engine_fallback_reason"),
    )


def _per_group(
    grouping: Grouping,
    frame: pd.DataFrame,
    scores: np.ndarray,
    is_member: np.ndarray,
    min_group_size: int,
    confidence_level: float,
) -> list[GroupVulnerability]:
    rows = []
    for attribute in grouping.attributes(frame):
        for group, positions in attribute.rows_by_group():
            member = is_member[positions]
            n_members = int(member.sum())
            n_nonmembers = len(positions) - n_members
            auc = roc_auc(member, scores[positions])
            lo, hi = auc_interval(auc, n_members, n_nonmembers, confidence_level)
            rows.append(
                GroupVulnerability(
                    attribute=attribute.name,
                    group=group,
                    n_members=n_members,
                    n_nonmembers=n_nonmembers,
                    auc=Interval(value=auc, lower=lo, upper=hi),
                    small=min(n_members, n_nonmembers) < min_group_size,
                )
            )
    return rows


def _findings(result: MembershipInferenceResult, limits: Limits) -> list[Finding]:
    found = []
    dp = result.dp
    if result.verdict == "inconsistent":
        found.append(
            Finding(
                concern=CONCERN,
                severity="critical",
                code="dp_guarantee_violated",
                message=f"the {result.epsilon_lower_bound_attack} attack proves epsilon >= "
                f"{result.epsilon_lower_bound:.2f} ({result.confidence_level:.0%} confidence), "
                f"more than the claimed epsilon {dp.epsilon:g}: the DP guarantee is wrong or the "
                "training has a bug",
            )
        )
    if result.auc is not None and (
        result.auc > limits.max_membership_auc or result.epsilon_lower_bound > 0
    ):
        found.append(
            Finding(
                concern=CONCERN,
                severity="warning",
                code="membership_leak",
                message=f"a membership attack ({result.strongest_attack}) tells training rows "
                f"from held-out rows with AUC {result.auc:.3f}; proven epsilon >= "
                f"{result.epsilon_lower_bound:.2f}",
            )
        )
    for rate in result.attacks[0].rates:
        if not rate.resolvable:
            found.append(
                Finding(
                    concern=CONCERN,
                    severity="info",
                    code="fpr_not_resolvable",
                    message=f"TPR at FPR {rate.target_fpr:.1%} is not meaningful with "
                    f"{result.n_nonmembers:,} non-members (needs at least "
                    f"{rate.nonmembers_observable:,})",
                )
            )
    if result.n_shadows == 0:
        found.append(
            Finding(
                concern=CONCERN,
                severity="info",
                code="lira_not_run",
                message="no shadow models were trained: only the threshold attacks ran, which "
                "underestimate leakage at low false positive rates",
            )
        )
    elif result.lira_rows_without_in:
        found.append(
            Finding(
                concern=CONCERN,
                severity="info",
                code="lira_few_shadows",
                message=f"with {result.n_shadows} shadows, {result.lira_rows_without_in:,} "
                "attacked rows had no shadow trained on them; their IN fit was borrowed from "
                "the other rows (more shadows make the online attack stronger)",
            )
        )
    if result.exposure is not None:
        found.extend(result.exposure.findings)
    overall = result.auc
    for group in result.per_group:
        if (
            overall is not None
            and not group.small
            and group.auc.lower is not None
            and group.auc.lower > overall
        ):
            found.append(
                Finding(
                    concern=CONCERN,
                    severity="warning",
                    code="group_more_vulnerable",
                    message=f"{group.attribute}={group.group} is more exposed to membership "
                    f"inference: AUC {group.auc.value:.3f} (lower bound {group.auc.lower:.3f}) "
                    f"against {overall:.3f} overall",
                )
            )
    return found


def _run(context: AuditContext, config: MembershipConfig) -> MembershipInferenceResult:
    return assess_membership_inference(
        context.predictor,
        context.table,
        context.sensitive,
        config,
        progress=context.progress,
        limits=context.limits,
        grouping=context.grouping,
    )


def _measures(result: MembershipInferenceResult) -> list[Measure]:
    if result.auc is None:
        return []
    return [Measure("membership_auc", "model", Interval(value=result.auc))]


def _risks(result: MembershipInferenceResult, limits: Limits) -> list[MeasuredRisk]:
    if result.verdict == "inconsistent":
        basis = (
            f"measured: membership attacks prove epsilon >= {result.epsilon_lower_bound:.2f}, "
            f"above the claimed {result.dp.epsilon:.3g}: the DP guarantee does not hold"
        )
        return [MeasuredRisk("privacy", LEAK_RISK, 5, basis, LEAK_KINDS)]
    exposure = result.exposure
    if exposure is not None and exposure.max_exposure > limits.max_exposure:
        basis = (
            f"measured: a secret planted in the training text has exposure "
            f"{exposure.max_exposure:.1f} bits, above the limit {limits.max_exposure:g}"
        )
        return [MeasuredRisk("privacy", LEAK_RISK, 5, basis, LEAK_KINDS)]
    if result.auc is None:
        return []
    high = result.auc > limits.max_membership_auc
    basis = (
        f"measured: membership-attack AUC {result.auc:.3f}, "
        f"{'above' if high else 'within'} the limit {limits.max_membership_auc:g}"
    )
    return [MeasuredRisk("privacy", LEAK_RISK, 5 if high else 1, basis, LEAK_KINDS)]


ASSESSMENT = Assessment(
    name="membership_inference",
    title="Membership-inference attack",
    concern="privacy",
    needs="model",
    result_type=MembershipInferenceResult,
    run=_run,
    config_type=MembershipConfig,
    metrics=("membership_auc",),
    measures=_measures,
    risks=_risks,
    report=ReportSection(html=("_membership.html.j2",), markdown=("_membership.md.j2",)),
)
