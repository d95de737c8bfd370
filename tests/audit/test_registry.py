"""One contract over every registered assessment, and a new one added from outside raikit.

Every assessment in the registry runs once on carData::Arrests; each result must round-trip
through evidence JSON, be gated by a policy on each of its measures, render in HTML and
Markdown, and explain each undefined figure with a finding.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from raikit import reports
from raikit.audit.comparison import ComparisonConfig
from raikit.audit.evidence import Evidence, load_evidence, save_evidence
from raikit.audit.explain import ExplainConfig
from raikit.audit.mitigation import MitigationConfig, SweepRun
from raikit.audit.pii import PiiCheck, ScanConfig
from raikit.audit.policy import Limits, Policy, attach_gate, check
from raikit.audit.predictor import load_predictor
from raikit.audit.privacy import MembershipConfig
from raikit.audit.registry import assessment, assessments
from raikit.audit.representation import Reference, RepresentationConfig
from raikit.audit.robustness import RobustnessConfig
from raikit.audit.runner import AuditConfig, run_audit
from raikit.audit.slices import SliceConfig
from raikit.models.errors import ConfigError
from tests.audit.toy_assessment import TOY, registered_toy

SENSITIVE = ("colour", "sex")


def contract_checks(out_dir: Path, baseline: Path | None = None) -> dict:
    """Small settings for each registered assessment; a new one must be added here.

    ``baseline``: the model the comparison compares with.
    """
    return {
        "performance": None,
        "fairness": None,
        # Made-up shares: the contract needs a reference, not a true one.
        "representation": RepresentationConfig(
            reference=Reference(
                population="an even population",
                source="made up for this test",
                columns={"colour": {"Black": 0.5, "White": 0.5}},
            )
        ),
        "slices": SliceConfig(columns=("employed", "citizen"), max_slices=5),
        "mitigation": SweepRun(
            config=MitigationConfig(
                method="reweighing",
                constraint="demographic_parity",
                sensitive=("colour",),
                epochs=1,
                n_bootstrap=100,
            ),
            out_dir=out_dir,
            methods=("reweighing",),
        ),
        "pii": PiiCheck(scan=ScanConfig(model=None)),
        "membership_inference": MembershipConfig(shadows=0, max_samples=300),
        "explanations": ExplainConfig(n_rows=40, n_bootstrap=100),
        "robustness": RobustnessConfig(
            epsilons=(0.0, 0.1), max_attack_rows=100, n_bootstrap=100, pgd_steps=3
        ),
        "comparison": ComparisonConfig(baseline=str(baseline)),
    }


@pytest.fixture(scope="module")
def contract_evidence(
    arrests_table, arrests_model, arrests_other_model, tmp_path_factory
) -> Evidence:
    # At 0.5 the 4-epoch model releases nearly everyone (degenerate); 0.83 is the base rate.
    config = AuditConfig(label="released", sensitive=SENSITIVE, n_bootstrap=100, threshold=0.83)
    checks = contract_checks(tmp_path_factory.mktemp("sweep"), baseline=arrests_other_model.path)
    return run_audit(arrests_table, config, load_predictor(arrests_model.path), checks)


@pytest.fixture(scope="module")
def rendered(contract_evidence) -> dict[str, str]:
    return {fmt: reports.render(contract_evidence, fmt) for fmt in ("html", "md")}


def test_every_registered_assessment_has_contract_settings(tmp_path):
    assert [a.name for a in assessments()] == list(contract_checks(tmp_path))


def _names():
    return [a.name for a in assessments()]


@pytest.mark.parametrize("name", _names())
def test_result_round_trips_through_evidence_json(contract_evidence, name, tmp_path):
    assert contract_evidence.result(name) is not None, name
    path = tmp_path / "evidence.json"
    save_evidence(contract_evidence, path)
    loaded = load_evidence(path)
    assert loaded.result(name) == contract_evidence.result(name)
    assert type(loaded.result(name)) is assessment(name).result_type
    assert loaded.sections[name].title == assessment(name).title


@pytest.mark.parametrize("name", _names())
def test_each_measure_is_gated_by_a_policy(contract_evidence, name):
    measures = assessment(name).measures(contract_evidence.result(name))
    for measure in measures:
        value = measure.value.value
        if value is None or value < 1e-6:  # a policy bound is never negative
            continue
        # A bound just below the value fails; the same bound as a minimum passes.
        strict = {"metric": measure.metric, "attribute": measure.subject, "max": value - 1e-6}
        lenient = {"metric": measure.metric, "attribute": measure.subject, "min": value - 1e-6}
        failed = check(contract_evidence, Policy.model_validate({"thresholds": [strict]}))
        passed = check(contract_evidence, Policy.model_validate({"thresholds": [lenient]}))
        assert not failed.passed and passed.passed, (name, measure)


def _undefined_figures(value, path=""):
    """Paths of interval-shaped values whose point estimate is undefined."""
    if isinstance(value, dict):
        if set(value) == {"value", "lower", "upper"} and value["value"] is None:
            yield path
        for key, item in value.items():
            yield from _undefined_figures(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _undefined_figures(item, f"{path}[{i}]")


@pytest.mark.parametrize("name", _names())
def test_an_undefined_figure_comes_with_a_finding(contract_evidence, name):
    result = contract_evidence.result(name)
    undefined = list(_undefined_figures(json.loads(result.model_dump_json())))
    findings = result.all_findings() if hasattr(result, "all_findings") else result.findings
    assert not undefined or findings, (name, undefined[:3])


@pytest.mark.parametrize("name", _names())
def test_every_result_renders_in_html_and_markdown(contract_evidence, rendered, name):
    section = contract_evidence.sections[name]
    assert section.html and section.markdown, f"{name} has no report partials of its own"
    for fmt, text in rendered.items():
        not_measured = re.findall(r"Not measured: ([^<\n]*)", text)
        assert not any(section.title in line for line in not_measured), (fmt, name)
        assert not re.search(r"\bNone\b|\bnan\b|\bNaN\b", text), fmt


def test_registering_a_duplicate_name_is_refused():
    with pytest.raises(ConfigError, match="already registered"):
        from raikit.audit.registry import register_assessment

        register_assessment(assessment("fairness"))


def test_an_unknown_check_names_the_known_ones(arrests_table):
    config = AuditConfig(label="released", sensitive=SENSITIVE)
    with pytest.raises(ConfigError, match="unknown check 'fairnes'; did you mean 'fairness'"):
        run_audit(arrests_table, config, None, ["fairnes"])


def test_a_new_assessment_reaches_evidence_gate_and_reports_without_other_edits(
    arrests_table, arrests_model, tmp_path
):
    config = AuditConfig(label="released", sensitive=SENSITIVE, n_bootstrap=100)
    with registered_toy():
        evidence = run_audit(
            arrests_table, config, load_predictor(arrests_model.path), ["performance", TOY]
        )
        share = evidence.result(TOY).positive_share
        # Independent count of the audited rows' positive labels (the held-out test split).
        frame = arrests_table.frame.iloc[arrests_model.split["test"]]
        assert math.isclose(share, (frame["released"] == "Yes").mean())
        path = tmp_path / "evidence.json"
        save_evidence(evidence, path)
        assert json.loads(path.read_text())["results"][TOY]["positive_share"] == share
        policy = Policy.model_validate({"thresholds": [{"metric": "toy_share", "max": 0.5}]})
        gated = attach_gate(load_evidence(path), policy)
        [toy_check] = [c for c in gated.gate.checks if c.gate == "toy_share"]
        assert toy_check.status == "fail" and toy_check.observed == f"{share:.3f}"
    # Rendering needs only the evidence: the toy is no longer registered here.
    loaded = load_evidence(path)
    for fmt in ("html", "md"):
        text = reports.render(loaded, fmt)
        assert "Share of positive labels (toy)" in text
        assert "positive\\_share" in text or "positive_share" in text
        assert f"{share:.6g}" in text


def test_a_stricter_policy_changes_findings_and_risk_levels(contract_evidence, arrests_table):
    """Findings and risks read the policy's limits: tighten them and the verdicts follow."""
    from raikit.audit.impact.verdicts import judge

    flip = contract_evidence.result("robustness").max_counterfactual_flip_rate()
    assert flip > 0
    strict = Policy.model_validate(
        {
            "thresholds": [{"metric": "demographic_parity_difference", "max": 1e-6}],
            "robustness": {"max_counterfactual_flip_rate": flip / 4},
        }
    )
    lenient = Policy.model_validate(
        {
            "thresholds": [{"metric": "demographic_parity_difference", "max": 1.0}],
            "robustness": {"max_counterfactual_flip_rate": 1.0},
        }
    )
    risks = {
        name: {(r.concern, r.title): r.likelihood for r in judge(contract_evidence, p).risks}
        for name, p in (("strict", strict), ("lenient", lenient))
    }
    for key in (
        ("bias", "Unequal decisions across groups"),
        ("bias", "Decisions change with who a person is"),
    ):
        assert risks["strict"][key] > risks["lenient"][key], key

    def flagged(policy):
        config = AuditConfig(label="released", sensitive=SENSITIVE, n_bootstrap=100)
        checks = {"robustness": RobustnessConfig(perturbations=(), attacks=(), n_bootstrap=100)}
        model = load_predictor(contract_evidence.model.path)
        evidence = run_audit(arrests_table, config, model, checks, policy=policy)
        return any(f.code == "counterfactual_flips" for f in evidence.all_findings())

    assert flagged(strict) and not flagged(lenient)


def test_the_membership_limit_moves_its_finding_and_risk(contract_evidence):
    result = contract_evidence.result("membership_inference")
    below, above = Limits(max_membership_auc=result.auc - 0.01), Limits(max_membership_auc=0.99)
    rules = assessment("membership_inference").risks
    assert rules(result, below)[0].likelihood > rules(result, above)[0].likelihood
