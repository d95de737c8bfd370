"""Concern registry, risk register and framework mapping."""

from __future__ import annotations

from dataclasses import replace

import pytest

from raikit.audit.evidence import PrivacyRecord
from raikit.audit.impact import DOMAINS, parse_impact
from raikit.audit.impact import concerns as concerns_module
from raikit.audit.impact.concerns import CONCERNS, RECORD_ITEMS, concern_status
from raikit.audit.impact.frameworks import coverage, frameworks, risk_tier
from raikit.audit.impact.risk import risk_level, risk_register
from raikit.audit.impact.verdicts import judge
from raikit.audit.pii import ColumnPii, EntityStat, PiiResult
from raikit.audit.policy import Policy
from raikit.audit.registry import (
    assessment,
    assessments,
    register_assessment,
    unregister_assessment,
)
from tests.audit.test_impact import MINIMAL
from tests.reports.conftest import build_evidence, build_full_evidence

ISSUE_CONCERNS = {
    "bias",
    "privacy",
    "transparency",
    "security",
    "employment",
    "service_quality",
    "accountability",
    "diversity",
}


def test_registry_covers_every_concern_of_the_issue_and_maps_every_item():
    names = [c.name for c in CONCERNS]
    assert len(names) == len(set(names))
    assert set(names) >= ISSUE_CONCERNS
    mapped = frameworks().items
    for concern in CONCERNS:
        for item in concern.record:
            assert item in RECORD_ITEMS, item
        for item in (*concern.record, *concern.impact):
            assert item in mapped, f"{item} has no framework mapping"
    for item in assessments():
        assert item.concern in names, item.name
        assert item.name in mapped, f"{item.name} has no framework mapping"
    articles = set(frameworks().eu_ai_act.articles)
    functions = set(frameworks().nist_ai_rmf.functions)
    for name, item in mapped.items():
        assert set(item.eu_ai_act) <= articles, name
        assert set(item.nist_ai_rmf) <= functions, name


@pytest.mark.parametrize(
    ("domain", "tier"),
    [
        ("employment", "high"),
        ("finance", "high"),
        ("justice", "high"),
        ("healthcare", "high"),
        ("marketing", "limited"),
        ("research", "minimal"),
        (None, "unknown"),
    ],
)
def test_eu_ai_act_tier_from_domain(domain, tier):
    assert risk_tier(domain).tier == tier
    assert set(DOMAINS) >= set(frameworks().eu_ai_act.high_risk_domains)


def test_statuses_measured_assessed_not_assessed():
    bare = build_evidence()
    status = {c.name: concern_status(bare, c).status for c in CONCERNS}
    # Fairness and performance measured; DP recorded in the training record.
    assert status["bias"] == status["service_quality"] == status["privacy"] == "measured"
    assert status["accountability"] == status["employment"] == "not_assessed"
    full = build_full_evidence()
    status = {c.name: concern_status(full, c).status for c in CONCERNS}
    assert status["accountability"] == status["employment"] == "assessed"
    assert "not_assessed" not in status.values()


def test_a_new_concern_and_its_assessment_show_as_not_measured_without_code(monkeypatch):
    extra = concerns_module.Concern("membership", "Membership privacy", "Q?", (), ())
    monkeypatch.setattr(concerns_module, "CONCERNS", (*CONCERNS, extra))
    attack = replace(assessment("membership_inference"), name="mia", concern="membership")
    register_assessment(attack)
    try:
        register = risk_register(build_evidence())
        [row] = [r for r in register if r.concern == "membership"]
        assert row.level == "unknown" and row.source == "not assessed"
        status = concern_status(build_evidence(), extra)
        assert status.status == "not_assessed" and status.missing_measures == ["mia"]
        assert any(r.item == "mia" and not r.present for r in coverage(build_evidence()))
    finally:
        unregister_assessment("mia")


@pytest.mark.parametrize(
    ("score", "level"),
    [
        (None, "unknown"),
        (1, "low"),
        (6, "low"),
        (8, "medium"),
        (12, "medium"),
        (15, "high"),
        (25, "high"),
    ],
)
def test_risk_levels(score, level):
    assert risk_level(score) == level


def test_measured_bias_raises_the_declared_risk():
    # The fixture's largest demographic parity difference is sex x race, 0.270 [0.240, 0.300].
    register = risk_register(build_full_evidence())
    [bias] = [r for r in register if r.concern == "bias"]
    assert bias.likelihood == 5 and bias.severity == 5 and bias.level == "high"
    assert "likelihood raised from 3 to 5" in bias.basis
    assert bias.source == "impact.yaml + measured"
    assert register[0] == bias  # highest score first


def test_measurement_within_threshold_lowers_the_declared_risk():
    lenient = Policy.model_validate(
        {"thresholds": [{"metric": "demographic_parity_difference", "max": 0.5}]}
    )
    [bias] = [r for r in risk_register(build_full_evidence(), lenient) if r.concern == "bias"]
    assert bias.likelihood == 1 and "lowered from 3 to 1" in bias.basis


def test_without_impact_measured_risks_and_unscored_concerns_remain():
    register = risk_register(build_evidence())
    by_concern = {r.concern: r for r in register}
    assert set(by_concern) == {c.name for c in CONCERNS}
    assert by_concern["bias"].mitigation == "none declared"
    assert by_concern["privacy"].likelihood == 2  # DP with epsilon 2.94 <= 8
    assert by_concern["diversity"].level == "unknown"


def test_declared_risks_misuse_and_threats_enter_the_register():
    impact = parse_impact(
        MINIMAL + "misuse:\n  - {scenario: s, mitigation: m, likelihood: 4, severity: 4}\n"
        "security:\n  - {threat: model_theft, description: d, mitigation: m,"
        " likelihood: 1, severity: 2}\n"
    )
    evidence = build_evidence(with_fairness=False, with_performance=False)
    evidence = evidence.model_copy(update={"impact": impact})
    security = [r for r in risk_register(evidence) if r.concern == "security"]
    assert [(r.score, r.level, r.owner) for r in security] == [
        (16, "high", "Credit risk team"),
        (2, "low", "Credit risk team"),
    ]


def _with_privacy(evidence, **privacy):
    training = evidence.model.training.model_copy(update={"privacy": PrivacyRecord(**privacy)})
    model = evidence.model.model_copy(update={"training": training})
    return evidence.model_copy(update={"model": model})


def test_dp_guarantee_is_read_from_the_trainers_privacy_record():
    evidence = _with_privacy(build_evidence(), differentially_private=True, epsilon=9.5, delta=1e-5)
    [privacy] = [r for r in risk_register(evidence) if r.concern == "privacy"]
    assert privacy.likelihood == 4 and "epsilon 9.5, above the limit 8" in privacy.basis
    evidence = _with_privacy(evidence, differentially_private=False)
    [privacy] = [r for r in risk_register(evidence) if r.concern == "privacy"]
    assert privacy.likelihood == 3 and "without differential privacy" in privacy.basis


def _pii_result(rows_by_type: dict[str, int], classification: str | None = None) -> PiiResult:
    stats = [
        EntityStat(
            entity_type=t, rows=n, share=n / 100, mean_score=0.9, max_score=0.9, masked_samples=[]
        )
        for t, n in rows_by_type.items()
    ]
    column = ColumnPii(
        column="notes",
        dtype="object",
        n_values=100,
        n_distinct=100,
        scanned=True,
        note=None,
        classification=classification or ("free_text_pii" if stats else "clean"),
        reason="test",
        hit_rows=sum(rows_by_type.values()),
        hit_share=0.1,
        entities=stats,
    )
    return PiiResult(
        source="train.csv",
        kind="table",
        n_rows=100,
        nlp_model="test",
        entities=sorted(rows_by_type),
        score_threshold=0.5,
        n_distinct_analyzed=100,
        columns=[column],
        n_locations=0,
        locations=[],
    )


@pytest.mark.parametrize(
    ("counts", "likelihood"), [({"US_SSN": 3, "PERSON": 10}, 5), ({"PERSON": 10}, 3), ({}, 1)]
)
def test_a_pii_section_raises_or_lowers_the_privacy_risk(counts, likelihood):
    evidence = build_full_evidence().with_result("pii", _pii_result(counts))
    policy = Policy.model_validate({"privacy": {"forbidden_pii": ["US_SSN"]}})
    privacy = [r for r in risk_register(evidence, policy) if r.concern == "privacy"]
    by_title = {r.title: r.likelihood for r in privacy}
    # The scan measures exposure of the training data: a row of its own. The declared
    # privacy-leakage threat is measured by the DP guarantee alone (epsilon 2.94: likelihood 2).
    assert by_title["Personal data in the training data is exposed"] == likelihood
    assert [v for k, v in by_title.items() if k.startswith("Privacy leakage")] == [2]
    assert concern_status(evidence, CONCERNS[1]).measured_by == ["pii", "dp"]


def test_direct_identifiers_are_a_high_risk_as_their_findings_are_critical():
    evidence = build_full_evidence().with_result(
        "pii", _pii_result({"PERSON": 90}, "direct_identifier")
    )
    [exposed] = [r for r in risk_register(evidence) if r.title.startswith("Personal data")]
    assert exposed.likelihood == 5 and exposed.level == "high"
    assert "direct identifiers in the training data: 'notes'" in exposed.basis


def test_a_model_trained_without_dp_has_its_privacy_measured_not_unassessed():
    # The register scores "no guarantee" from the training record: the concern must agree.
    evidence = _with_privacy(build_evidence(), differentially_private=False)
    evidence = evidence.model_copy(update={"results": {}, "impact": None})
    status = concern_status(evidence, CONCERNS[1])
    assert status.status == "measured" and status.measured_by == ["dp"]
    verdicts = judge(evidence)
    concern = next(c for c in verdicts.concerns if c.name == "privacy")
    [risk] = [r for r in verdicts.risks if r.concern == "privacy"]
    assert concern.level == risk.level == "medium"


def _robustness(flip_rate: float, clean: float, robust_at_small_radius: float):
    from raikit.audit.robustness.result import (
        AdversarialPoint,
        AdversarialResult,
        FlipStat,
        RobustnessResult,
        RobustnessSettings,
        TabularCounterfactual,
    )
    from raikit.audit.types import Interval

    def flips(name, rate):
        return FlipStat(
            name=name, n=100, flip_rate=Interval(value=rate), mean_score_change=Interval(value=0)
        )

    def point(epsilon, accuracy):
        return AdversarialPoint(
            attack="pgd_linf",
            norm="linf",
            epsilon=epsilon,
            robust_accuracy=Interval(value=accuracy),
        )

    counterfactual = TabularCounterfactual(
        attribute="sex",
        variant="attribute",
        attribute_is_input=True,
        overall=flips("all rows", flip_rate / 2),
        groups=[flips("Female", flip_rate), flips("Male", 0.0)],
    )
    adversarial = AdversarialResult(
        input_kind="tabular",
        space="encoded",
        epsilon_unit="per coordinate",
        clip=None,
        n_rows=100,
        target="labels",
        steps=10,
        step_size="2.5 eps / steps",
        device="cpu",
        clean_accuracy=clean,
        points=[point(0.0, clean), point(0.1, robust_at_small_radius), point(0.5, 0.0)],
    )
    return RobustnessResult(
        settings=RobustnessSettings.model_construct(),
        counterfactual=[counterfactual],
        adversarial=adversarial,
    )


@pytest.mark.parametrize(
    ("flip_rate", "robust", "bias_likelihood", "security_likelihood"),
    [(0.01, 0.85, 1, 1), (0.03, 0.75, 3, 3), (0.10, 0.50, 4, 4)],
)
def test_robustness_measurements_score_bias_and_security(
    flip_rate, robust, bias_likelihood, security_likelihood
):
    evidence = build_evidence().with_result(
        "robustness", _robustness(flip_rate, clean=0.9, robust_at_small_radius=robust)
    )
    register = risk_register(evidence)
    [flips] = [r for r in register if r.title == "Decisions change with who a person is"]
    assert flips.likelihood == bias_likelihood
    assert f"up to {100 * flip_rate:.1f}% of decisions" in flips.basis
    [security] = [r for r in register if r.concern == "security"]
    # The gentlest non-zero radius (0.1) is the one judged: drop 0.9 - robust vs limit 0.1.
    assert security.likelihood == security_likelihood
    assert f"from 0.900 to {robust:.3f}" in security.basis


def test_a_measurement_moves_only_the_declared_risks_it_measures():
    """A passing attack test says nothing of a score used without human review."""
    evidence = build_full_evidence().with_result(
        "robustness", _robustness(0.0, clean=0.9, robust_at_small_radius=0.9)
    )
    register = {r.title: r for r in risk_register(evidence)}
    misuse = register["Misuse: Score used as the decision itself, without review."]
    assert (misuse.likelihood, misuse.source) == (3, "impact.yaml")  # as declared
    theft = register["Model theft: Model weights copied and used outside the service."]
    assert (theft.likelihood, theft.source) == (1, "impact.yaml")
    measured = register["Small crafted input changes manipulate decisions"]
    assert (measured.likelihood, measured.source) == (1, "measured")

    threat = """
security:
  - threat: adversarial_input
    description: "Crafted inputs flip decisions."
    mitigation: "Input validation."
    likelihood: 4
    severity: 4
"""
    evidence = build_full_evidence(impact_text=MINIMAL + threat).with_result(
        "robustness", _robustness(0.0, clean=0.9, robust_at_small_radius=0.9)
    )
    [attack] = [r for r in risk_register(evidence) if r.title.startswith("Adversarial input")]
    assert attack.likelihood == 1 and "likelihood lowered from 4 to 1" in attack.basis
