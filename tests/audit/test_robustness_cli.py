"""`rai robustness`, `rai audit --robustness` and the robustness gates, as a user types them."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from raikit.audit.cli import app
from raikit.audit.evidence import load_evidence
from raikit.audit.policy import check, load_policy

runner = CliRunner()


def rai(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def robustness_run(arrests_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("robustness") / "out"
    result = rai(
        "robustness",
        "--model",
        arrests_model.path,
        "--data",
        "arrests",
        "--out",
        out,
        "--sensitive",
        "colour",
        "--sensitive",
        "sex",
        "--epsilon",
        0,
        "--epsilon",
        0.1,
        "--epsilon",
        1.0,
        "--max-attack-rows",
        150,
        "--n-bootstrap",
        200,
    )
    assert result.exit_code == 0, result.output
    return out


def test_robustness_command_writes_evidence_and_report(robustness_run):
    evidence = json.loads((robustness_run / "evidence.json").read_text())
    section = evidence["results"]["robustness"]
    assert section["settings"]["epsilons"] == [0.0, 0.1, 1.0]
    assert section["settings"]["seed"] == 0
    assert [c["attribute"] for c in section["counterfactual"]][:2] == ["colour", "sex"]
    points = section["adversarial"]["points"]
    assert {p["attack"] for p in points} == {"fgsm", "pgd_linf", "pgd_l2"}
    assert "encoded inputs" in section["adversarial"]["space"]
    at_zero = [p["robust_accuracy"]["value"] for p in points if p["epsilon"] == 0]
    assert at_zero == [section["adversarial"]["clean_accuracy"]] * 3
    html = (robustness_run / "report.html").read_text()
    assert "Robustness and security" in html
    assert html.count('src="data:image/svg+xml;base64,') >= 2  # robust accuracy + flip rates
    result = rai(
        "report",
        robustness_run / "evidence.json",
        "--format",
        "md",
        "--out",
        robustness_run / "report.md",
    )
    assert result.exit_code == 0, result.output
    markdown = (robustness_run / "report.md").read_text()
    assert "| pgd\\_linf | 0.1 |" in markdown


def test_gates_pass_fail_and_read_not_measured(robustness_run, tmp_path, arrests_model):
    evidence = load_evidence(robustness_run / "evidence.json")
    robust = evidence.result("robustness").robust_accuracy("pgd_linf", 0.1)
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(
        "robustness:\n  max_counterfactual_flip_rate: 1.0\n"
        f"  min_robust_accuracy: {robust:.6f}\n  epsilon: 0.1\n"
    )
    result = rai("gate", robustness_run / "evidence.json", "--policy", policy_file)
    assert result.exit_code == 0, result.output
    policy_file.write_text(
        "robustness:\n  min_robust_accuracy: " + f"{min(robust + 0.01, 1.0):.6f}" + "\n"
        "  epsilon: 0.1\n  attack: pgd_linf\n"
    )
    result = rai("gate", robustness_run / "evidence.json", "--policy", policy_file)
    assert result.exit_code == 1 and "min_robust_accuracy" in result.output
    # A radius that was not swept, and evidence with no robustness section: not measured.
    policy_file.write_text("robustness:\n  min_robust_accuracy: 0.5\n  epsilon: 0.3\n")
    gate = check(evidence, load_policy(policy_file))
    assert [(c.observed, c.status) for c in gate.checks] == [("not measured", "fail")]
    bare = evidence.with_result("robustness", None)
    policy_file.write_text("robustness:\n  max_counterfactual_flip_rate: 0.02\n")
    gate = check(bare, load_policy(policy_file))
    assert [(c.gate, c.observed) for c in gate.checks] == [
        ("max_counterfactual_flip_rate", "not measured")
    ]


def test_audit_with_robustness_adds_the_section(arrests_model, tmp_path):
    result = rai(
        "audit",
        "--model",
        arrests_model.path,
        "--data",
        "arrests",
        "--label",
        "released",
        "--sensitive",
        "colour",
        "--n-bootstrap",
        200,
        "--out",
        tmp_path / "audit",
        "--robustness",
    )
    assert result.exit_code == 0, result.output
    evidence = load_evidence(tmp_path / "audit" / "evidence.json")
    assert evidence.result("robustness") is not None
    assert evidence.result("robustness").settings.sensitive == ["colour"]
    assert evidence.result("performance") is not None and evidence.result("fairness") is not None


def _one_error_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--epsilon", "-0.5"), "error: epsilon must be a number >= 0; got -0.5"),
        (("--perturbation", "jitter"), "error: unknown perturbation 'jitter'"),
        (("--lexicon", "LEXICON"), "not valid YAML"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(arrests_model, tmp_path, extra, message):
    lexicon = tmp_path / "lexicon.yaml"
    lexicon.write_text("version: 1\ncategories: [unclosed\n")
    extra = tuple(str(lexicon) if e == "LEXICON" else e for e in extra)
    result = rai(
        "robustness",
        "--model",
        arrests_model.path,
        "--data",
        "arrests",
        "--out",
        tmp_path / "out",
        *extra,
    )
    assert result.exit_code == 2
    assert message in _one_error_line(result)
    assert not (tmp_path / "out").exists()
