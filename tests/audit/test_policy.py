"""The policy gate: checks, JUnit XML, and exit codes 0/1/2 through the CLI."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from raikit.audit.cli import app
from raikit.audit.evidence import load_evidence, save_evidence
from raikit.audit.policy import Policy, check, junit_xml, load_policy
from raikit.models.errors import PolicyError
from tests.reports.conftest import EXAMPLES, build_evidence, build_full_evidence

runner = CliRunner()

# Independent figures: selection rates from the fixture's confusion counts.
FEMALE_RATE = (62 + 18) / 980
MALE_RATE = (376 + 142) / 2020
SEX_DPD = MALE_RATE - FEMALE_RATE  # 0.1748...


def policy(**fields) -> Policy:
    return Policy.model_validate(fields)


def test_threshold_on_one_attribute_fails_above_and_passes_below():
    evidence = build_evidence()
    failing = check(
        evidence,
        policy(
            thresholds=[{"metric": "demographic_parity_difference", "attribute": "sex", "max": 0.1}]
        ),
    )
    assert not failing.passed
    [only] = failing.checks
    assert only.status == "fail" and only.subject == "sex"
    assert only.observed == f"{SEX_DPD:.3f}"
    passing = check(
        evidence,
        policy(
            thresholds=[{"metric": "demographic_parity_difference", "attribute": "sex", "max": 0.2}]
        ),
    )
    assert passing.passed and passing.checks[0].status == "pass"


def test_upper_bound_is_stricter_than_the_point_estimate():
    evidence = build_evidence()
    gate = {"metric": "demographic_parity_difference", "attribute": "sex", "max": 0.19}
    assert check(evidence, policy(thresholds=[gate])).passed
    assert not check(evidence, policy(thresholds=[{**gate, "use": "upper"}])).passed


def test_threshold_without_attribute_checks_every_attribute_and_performance_minimum():
    evidence = build_evidence()
    result = check(
        evidence,
        policy(
            thresholds=[
                {"metric": "equalized_odds_difference", "max": 0.1},
                {"metric": "accuracy", "min": 0.9},
            ]
        ),
    )
    by_subject = {(c.gate, c.subject): c.status for c in result.checks}
    assert by_subject == {
        ("equalized_odds_difference", "sex"): "pass",  # 0.081
        ("equalized_odds_difference", "race"): "fail",  # 0.131
        ("equalized_odds_difference", "sex × race"): "fail",  # 0.144
        ("accuracy", "overall"): "fail",  # 0.846
    }


@pytest.mark.parametrize(
    ("on_missing", "status", "passed"), [("fail", "fail", False), ("warn", "missing", True)]
)
def test_missing_measurements_fail_or_warn(on_missing, status, passed):
    evidence = build_evidence(with_fairness=False)
    result = check(
        evidence,
        policy(
            on_missing=on_missing,
            thresholds=[{"metric": "demographic_parity_difference", "max": 0.1}],
            privacy={"max_membership_auc": 0.6, "forbidden_pii": ["US_SSN"]},
        ),
    )
    assert [c.status for c in result.checks] == [status] * 3
    assert result.passed is passed


def test_a_misspelt_attribute_is_an_error_not_a_missing_measurement():
    evidence = build_evidence()  # attributes sex, race and sex & race
    gate = {"metric": "demographic_parity_difference", "attribute": "sexx", "max": 0.1}
    with pytest.raises(PolicyError, match="attribute 'sexx' is not in this evidence; did you mean"):
        check(evidence, policy(on_missing="warn", thresholds=[gate]))


def test_privacy_and_impact_gates():
    evidence = build_evidence()  # trained with DP, epsilon 2.94; no impact assessment
    result = check(
        evidence,
        policy(
            privacy={"max_epsilon": 1, "require_dp": True},
            impact={"required": ["accountability.owner"]},
        ),
    )
    statuses = {c.gate: c.status for c in result.checks}
    assert statuses == {"require_dp": "pass", "max_epsilon": "fail", "impact_required": "fail"}
    full = build_full_evidence()
    assert all(c.status == "pass" for c in full.gate.checks if c.gate == "impact_required")


def test_junit_xml_parses_with_one_case_per_check():
    result = build_full_evidence().gate  # the example policy, on this evidence's attributes
    root = ET.fromstring(junit_xml(result).encode("utf-8"))
    assert root.tag == "testsuites"
    [suite] = root
    cases = suite.findall("testcase")
    assert len(cases) == len(result.checks) == int(suite.get("tests"))
    failures = [c for c in cases if c.find("failure") is not None]
    skipped = [c for c in cases if c.find("skipped") is not None]
    assert len(failures) == int(suite.get("failures")) == result.counts()["fail"]
    assert len(skipped) == int(suite.get("skipped")) == result.counts()["missing"]
    assert {c.get("classname") for c in cases} >= {"raikit.gate.equalized_odds_difference"}


def test_junit_xml_holds_control_characters_as_replacement_characters():
    result = build_full_evidence().gate
    hostile = "sex\x00\x1b[31m\x0b</testcase>]]>&'\"\ud800\ufffe\nend\t"
    # What XML 1.0 can hold: tab and newline kept, every other control character, the lone
    # surrogate and U+FFFE each replaced by U+FFFD; markup characters are escaped, not lost.
    expected = "sex\ufffd\ufffd[31m\ufffd</testcase>]]>&'\"\ufffd\ufffd\nend\t"
    checks = [
        c.model_copy(
            update={"subject": hostile, "message": hostile, "observed": hostile, "status": "fail"}
        )
        for c in result.checks
    ]
    result = result.model_copy(update={"checks": checks, "policy_name": hostile, "passed": False})
    root = ET.fromstring(junit_xml(result).encode("utf-8"))
    [suite] = root
    assert suite.get("name") == f"raikit policy gate: {expected}"
    cases = suite.findall("testcase")
    assert len(cases) == len(checks) and all(c.get("name") == expected for c in cases)
    failures = [c.find("failure") for c in cases]
    assert all(f.get("message") == expected for f in failures)
    assert all(f.text.endswith(f"; observed {expected}") for f in failures)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            "thresholds:\n  - metric: accuracy\n",
            "line 2: field 'thresholds.0' .*give 'max' or 'min'",
        ),
        ("on_missing: ignore\n", "line 1: field 'on_missing'.*'ignore'"),
        ("privacy:\n  max_epsilon: -1\n", "line 2: field 'privacy.max_epsilon'"),
        ("version: 2\n", "line 1: field 'version'"),
        # A gate that could never fail (or never pass) is refused when the file is read.
        ("thresholds:\n  - metric: accuracy\n    min: .nan\n", "'thresholds.0.min'.*finite"),
        ("thresholds:\n  - metric: accuracy\n    max: .inf\n", "'thresholds.0.max'.*finite"),
        (
            "thresholds:\n  - metric: accuracy\n    max: -0.1\n",
            "'thresholds.0.max'.*greater than or equal to 0",
        ),
        ("privacy:\n  max_epsilon: .inf\n", "'privacy.max_epsilon'.*finite"),
        (
            "thresholds:\n  - metric: demografic_parity_difference\n    max: 0.1\n",
            "unknown metric 'demografic_parity_difference'; did you mean "
            "'demographic_parity_difference'",
        ),
        (
            "privacy:\n  forbidden_pii: [US_SNN]\n",
            r"field 'privacy.forbidden_pii'.*unknown entity type\(s\) \['US_SNN'\]",
        ),
    ],
)
def test_bad_policy_names_field_and_line(tmp_path, text, words):
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=words):
        load_policy(path)


@pytest.fixture(scope="module")
def evidence_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("gate") / "evidence.json"
    save_evidence(build_full_evidence(), path)
    return path


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(("max_dpd", "code", "verdict"), [(0.3, 0, "PASSED"), (0.1, 1, "FAILED")])
def test_rai_gate_exit_codes_pass_and_fail(tmp_path, evidence_file, max_dpd, code, verdict):
    policy_path = write(
        tmp_path,
        "policy.yaml",
        "thresholds:\n  - metric: demographic_parity_difference\n"
        f"    attribute: sex\n    max: {max_dpd}\n",
    )
    junit = tmp_path / "ci" / "gate.xml"
    result = runner.invoke(
        app, ["gate", str(evidence_file), "--policy", str(policy_path), "--junit", str(junit)]
    )
    assert result.exit_code == code, result.output
    assert verdict in result.output
    assert "demographic_parity_difference" in result.output and f"{SEX_DPD:.3f}" in result.output
    suite = ET.parse(junit).getroot()[0]
    assert int(suite.get("failures")) == code


def test_rai_gate_keeps_an_existing_junit_file_without_force(tmp_path, evidence_file):
    policy_path = write(tmp_path, "policy.yaml", "thresholds: []\n")
    junit = write(tmp_path, "gate.xml", "mine")
    args = ["gate", str(evidence_file), "--policy", str(policy_path), "--junit", str(junit)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.output == f"error: {junit} already exist(s); pass --force to overwrite\n"
    assert junit.read_text() == "mine"
    result = runner.invoke(app, [*args, "--force"])
    assert result.exit_code == 0, result.output
    assert ET.parse(junit).getroot().tag == "testsuites"


@pytest.mark.parametrize(
    ("policy_text", "evidence_text", "words"),
    [
        ("on_missing: maybe\n", None, "line 1: field 'on_missing'"),
        ("thresholds: []\n", "{not json", "is not valid JSON"),
        (None, None, "policy file '.*' not found"),
    ],
)
def test_rai_gate_bad_input_exits_2(tmp_path, evidence_file, policy_text, evidence_text, words):
    policy_path = tmp_path / "policy.yaml"
    if policy_text is not None:
        policy_path.write_text(policy_text)
    evidence_path = evidence_file
    if evidence_text is not None:
        evidence_path = write(tmp_path, "evidence.json", evidence_text)
    result = runner.invoke(app, ["gate", str(evidence_path), "--policy", str(policy_path)])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and result.output.startswith("error: ")
    assert re.search(words, result.output)


@pytest.fixture(scope="module")
def predictions_csv(tmp_path_factory):
    """A predictions file where group b is selected far more often than group a."""
    rng = np.random.default_rng(3)
    n = 400
    group = np.where(np.arange(n) % 2 == 0, "a", "b")
    y_true = rng.integers(0, 2, n)
    y_pred = np.where(group == "b", rng.random(n) < 0.7, rng.random(n) < 0.3).astype(int)
    path = tmp_path_factory.mktemp("preds") / "preds.csv"
    pd.DataFrame({"y_true": y_true, "y_pred": y_pred, "g": group}).to_csv(path, index=False)
    return path


@pytest.mark.parametrize(("max_dpd", "code"), [(0.9, 0), (0.1, 1)])
def test_rai_audit_with_impact_and_policy(tmp_path, predictions_csv, max_dpd, code):
    policy_path = write(
        tmp_path,
        "policy.yaml",
        "thresholds:\n  - metric: demographic_parity_difference\n"
        f"    max: {max_dpd}\nimpact:\n  required: [human_oversight]\n",
    )
    out = tmp_path / "audit"
    result = runner.invoke(
        app,
        [
            "audit",
            "--predictions",
            str(predictions_csv),
            "--sensitive",
            "g",
            "--impact",
            str(EXAMPLES / "impact.yaml"),
            "--policy",
            str(policy_path),
            "--junit",
            str(out / "gate.xml"),
            "--n-bootstrap",
            "200",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == code, result.output
    evidence = load_evidence(out / "evidence.json")
    assert evidence.impact.deployment.domain == "law_enforcement"
    assert evidence.gate.passed is (code == 0)
    assert (out / "report.html").is_file() and (out / "gate.xml").is_file()
    html = (out / "report.html").read_text()
    assert "Release recommendation assistant (demo)" in html
    assert ("Passed" if code == 0 else "Failed") in html


def test_forbidden_pii_gate_reads_a_pii_section():
    from tests.audit.test_risk import _pii_result

    evidence = build_evidence().with_result("pii", _pii_result({"US_SSN": 2}))
    result = check(evidence, policy(privacy={"forbidden_pii": ["US_SSN", "CREDIT_CARD"]}))
    [only] = result.checks
    assert only.status == "fail" and only.observed == "US_SSN"
