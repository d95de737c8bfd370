"""A realistic, hand-built Evidence for the report tests (no audit code is run).

The figures follow from the confusion counts below (an Adult-like income model on 3,000 rows):
rates are computed here with Wilson intervals, independently of raikit's audit code.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest

from raikit import reports
from raikit.audit.evidence import DataInfo, Evidence, ModelInfo, Provenance
from raikit.audit.fairness import AttributeFairness, FairnessResult, GroupMetrics
from raikit.audit.impact.verdicts import with_verdicts
from raikit.audit.performance import Calibration, PerformanceResult, ReliabilityBin
from raikit.audit.types import Finding, Interval
from tests.reports._mitigation_fixture import mitigation_result

MIN_GROUP_SIZE = 30

# (group, rows, actual positives, true positives, false positives)
SEX = [
    ({"sex": "Female"}, 980, 110, 62, 18),
    ({"sex": "Male"}, 2020, 630, 376, 142),
]
RACE = [
    ({"race": "White"}, 2560, 660, 400, 140),
    ({"race": "Black"}, 428, 80, 38, 20),
    ({"race": "Amer-Indian-Eskimo"}, 12, 0, 0, 0),
]
SEX_RACE = [
    ({"sex": "Female", "race": "White"}, 820, 95, 55, 15),
    ({"sex": "Female", "race": "Black"}, 155, 15, 7, 3),
    ({"sex": "Female", "race": "Amer-Indian-Eskimo"}, 5, 0, 0, 0),
    ({"sex": "Male", "race": "White"}, 1740, 565, 345, 125),
    ({"sex": "Male", "race": "Black"}, 273, 65, 31, 17),
    ({"sex": "Male", "race": "Amer-Indian-Eskimo"}, 7, 0, 0, 0),
]


def wilson(successes: int, trials: int) -> Interval:
    """Proportion with its 95% Wilson interval; undefined (None) without trials."""
    if trials == 0:
        return Interval(value=None)
    z = 1.959963984540054
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return Interval(value=p, lower=max(0.0, centre - half), upper=min(1.0, centre + half))


def _label(group: dict[str, str]) -> str:
    if len(group) == 1:
        return next(iter(group.values()))
    return " & ".join(f"{k}={v}" for k, v in group.items())


def group_metrics(group: dict[str, str], n: int, pos: int, tp: int, fp: int) -> GroupMetrics:
    neg = n - pos
    tn = neg - fp
    label = _label(group)
    return GroupMetrics(
        group=group,
        label=label,
        count=n,
        actual_positives=pos,
        actual_negatives=neg,
        small=n < MIN_GROUP_SIZE,
        metrics={
            "selection_rate": wilson(tp + fp, n),
            "true_positive_rate": wilson(tp, pos),
            "false_positive_rate": wilson(fp, neg),
            "false_negative_rate": wilson(pos - tp, pos),
            "precision": wilson(tp, tp + fp),
            "accuracy": wilson(tp + tn, n),
        },
    )


def _spread(groups: list[GroupMetrics], metric: str) -> float:
    values = [g.metrics[metric].value for g in groups if g.metrics[metric].value is not None]
    return max(values) - min(values)


def attribute(
    name: str, columns: list[str], rows: list[tuple], binning: str | None = None
) -> AttributeFairness:
    groups = [group_metrics(*row) for row in rows]
    dp = _spread(groups, "selection_rate")
    tpr = _spread(groups, "true_positive_rate")
    fpr = _spread(groups, "false_positive_rate")
    selection = [g.metrics["selection_rate"].value for g in groups]
    ratio = min(selection) / max(selection)
    return AttributeFairness(
        attribute=name,
        columns=columns,
        binning=binning,
        groups=groups,
        disparities={
            # Hand-set bootstrap-like intervals around the point estimates.
            "demographic_parity_difference": Interval(value=dp, lower=dp - 0.03, upper=dp + 0.03),
            "demographic_parity_ratio": Interval(
                value=ratio, lower=max(0.0, ratio - 0.06), upper=ratio + 0.06
            ),
            "equalized_odds_difference": Interval(
                value=max(tpr, fpr), lower=max(tpr, fpr) - 0.05, upper=max(tpr, fpr) + 0.05
            ),
            "equal_opportunity_difference": Interval(
                value=tpr, lower=max(0.0, tpr - 0.05), upper=tpr + 0.05
            ),
        },
    )


def build_evidence(
    *,
    source: str = "adult_test.csv",
    extra_group: str | None = None,
    with_performance: bool = True,
    with_fairness: bool = True,
    with_mitigation: bool = True,
) -> Evidence:
    """The fixture evidence; ``extra_group`` adds a (hostile) group value to ``race``."""
    race = list(RACE)
    if extra_group is not None:
        race.append(({"race": extra_group}, 40, 10, 5, 3))
    fairness_findings = [
        Finding(
            concern="fairness",
            severity="warning",
            code="small_group",
            message=f"group {_label(g)} has {n} rows, fewer than {MIN_GROUP_SIZE}: "
            "its estimates are too uncertain to conclude anything",
        )
        for g, n, *_ in RACE[2:] + SEX_RACE[2:3] + SEX_RACE[5:]
    ] + [
        Finding(
            concern="fairness",
            severity="info",
            code="undefined_metric",
            message="true_positive_rate, false_negative_rate and precision are undefined for "
            "race=Amer-Indian-Eskimo: the group has no actual positives and no positive "
            "predictions",
        )
    ]
    fairness = FairnessResult(
        positive_label=">50K",
        min_group_size=MIN_GROUP_SIZE,
        n_bootstrap=1000,
        confidence_level=0.95,
        seed=7,
        attributes=[
            attribute("sex", ["sex"], SEX),
            attribute("race", ["race"], race),
            attribute("sex × race", ["sex", "race"], SEX_RACE),
        ],
        findings=fairness_findings,
    )
    bins = [
        ReliabilityBin(
            lower=i / 10,
            upper=(i + 1) / 10,
            count=count,
            mean_predicted=mean,
            fraction_positive=frac,
        )
        for i, (count, mean, frac) in enumerate(
            [
                (1412, 0.041, 0.032),
                (486, 0.148, 0.129),
                (301, 0.251, 0.236),
                (198, 0.349, 0.378),
                (152, 0.452, 0.487),
                (131, 0.548, 0.573),
                (118, 0.651, 0.686),
                (102, 0.747, 0.775),
                (100, 0.846, 0.870),
                (0, None, None),
            ]
        )
    ]
    performance = PerformanceResult(
        n_rows=3000,
        classes=["<=50K", ">50K"],
        positive_label=">50K",
        metrics={
            "accuracy": Interval(value=0.846, lower=0.8329, upper=0.8587),
            "balanced_accuracy": Interval(value=0.7606, lower=0.7442, upper=0.7771),
            "roc_auc": Interval(value=0.9012, lower=0.8897, upper=0.9121),
            "precision": Interval(value=0.7324, lower=0.6961, upper=0.7664),
            "recall": Interval(value=0.5919, lower=0.5558, upper=0.6270),
            "f1": Interval(value=0.6547, lower=0.6262, upper=0.6822),
        },
        confusion_matrix=[[2100, 160], [302, 438]],
        calibration=Calibration(expected_calibration_error=0.0213, n_bins=10, bins=bins),
        findings=[
            Finding(
                concern="performance",
                severity="info",
                code="empty_calibration_bin",
                message="calibration bin 0.9-1.0 holds no predictions",
            )
        ],
    )
    evidence = Evidence(
        title="Income classifier audit",
        data=DataInfo(
            source=source,
            sha256="3f1c" + "0" * 56 + "9a2b",
            n_rows_total=16281,
            n_rows_audited=3000,
            rows="random sample of the test split, seed 7",
            label="income",
            positive_label=">50K",
            sensitive=["sex", "race"],
        ),
        model=ModelInfo(
            kind="raikit-checkpoint",
            path="runs/adult-mlp",
            files_sha256={
                "model.safetensors": "a" * 64,
                "config.json": "b" * 64,
                "training.json": "c" * 64,
            },
            architecture="tabular-mlp (2 x 64, ReLU)",
            training={
                "data": {"source": "adult", "sha256": "d" * 64, "n_rows": 32561},
                "hyperparameters": {"lr": 0.001, "batch_size": 256, "weight_decay": 0.0001},
                "best_epoch": 12,
                "privacy": {
                    "differentially_private": True,
                    "epsilon": 2.94,
                    "delta": 1e-05,
                    "noise_multiplier": 1.1,
                    "sample_rate": 0.0079,
                    "steps": 1524,
                    "max_grad_norm": 1.0,
                    "accountant": "rdp",
                    "history": [[1.1, 0.0079, 1524]],
                },
            },
        ),
        provenance=Provenance(
            raikit_version="0.1.0",
            python_version="3.11.9",
            packages={"fairlearn": "0.15.0", "torch": "2.13.0", "scikit-learn": "1.6.1"},
            seed=7,
            config={
                "min_group_size": MIN_GROUP_SIZE,
                "n_bootstrap": 1000,
                "sensitive": ["sex", "race"],
                "intersections": [["sex", "race"]],
            },
            created_at="2025-11-24T18:30:00+00:00",
        ),
        findings=[
            Finding(
                concern="provenance",
                severity="info",
                code="predictions_sampled",
                message="3,000 of 16,281 test rows were audited (random sample, seed 7)",
            )
        ],
    )
    for name, result, wanted in (
        ("performance", performance, with_performance),
        ("fairness", fairness, with_fairness),
        ("mitigation", mitigation_result(), with_mitigation),
    ):
        if wanted:
            evidence = evidence.with_result(name, result)
    return with_verdicts(evidence)


@pytest.fixture(scope="session")
def evidence() -> Evidence:
    # Frozen models: one instance can be shared by every test.
    return build_evidence()


@pytest.fixture(scope="session")
def html(evidence: Evidence) -> str:
    """The fixture evidence rendered once (charts make a render take about a second)."""

    return reports.render(evidence)


@pytest.fixture
def make_evidence() -> Callable[..., Evidence]:
    return build_evidence


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def build_full_evidence(
    impact_text: str | None = None, extra_group: str | None = None, source: str = "adult_test.csv"
) -> Evidence:
    """The fixture evidence with the example impact assessment and policy gate attached."""
    from raikit.audit.impact import attach_impact, load_impact, parse_impact
    from raikit.audit.policy import attach_gate, load_policy

    impact = (
        parse_impact(impact_text)
        if impact_text is not None
        else load_impact(EXAMPLES / "impact.yaml")
    )
    evidence = attach_impact(build_evidence(extra_group=extra_group, source=source), impact)
    policy = load_policy(EXAMPLES / "policy.yaml")
    # The example policy also gates the demo's `colour`; this evidence audits sex and race.
    thresholds = [t for t in policy.thresholds if t.attribute != "colour"]
    return attach_gate(evidence, policy.model_copy(update={"thresholds": thresholds}))


@pytest.fixture(scope="session")
def full_evidence() -> Evidence:
    return build_full_evidence()


def with_one_run_audit(evidence: Evidence, bound: float, verdict: str) -> Evidence:
    """``evidence`` whose model was trained with 1,000 canaries giving this bound and verdict."""
    from raikit.audit.evidence import OneRunAudit

    training = evidence.model.training
    audit = OneRunAudit(
        method="one training run with canaries (Steinke, Nasr & Jagielski 2023)",
        canaries=1000,
        canaries_included=497,
        canary_kind="random inputs with random labels",
        seed=0,
        score="minus the loss of the canary's own label",
        guesses=500,
        correct_guesses=410,
        guess_shares=[0.1, 0.2, 0.5, 1.0],
        confidence=0.95,
        delta=1e-05,
        epsilon_lower_bound=bound,
        largest_detectable_epsilon=5.37,
        claimed_epsilon=training.privacy.epsilon,
        verdict=verdict,
        note="canaries are not rows of the data",
    )
    privacy = training.privacy.model_copy(update={"one_run_audit": audit})
    model = evidence.model.model_copy(
        update={"training": training.model_copy(update={"privacy": privacy})}
    )
    return with_verdicts(evidence.model_copy(update={"model": model}))
