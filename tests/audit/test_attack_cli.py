"""`rai attack` and `rai audit --membership-attack` end to end, as a user types them."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from raikit.audit.cli import app
from raikit.audit.evidence import load_evidence
from raikit.models.data import load_table
from raikit.models.train import train
from tests.audit.test_privacy import OVERFIT, planted_table

runner = CliRunner()


def rai(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """The planted overfit table written as CSV, and a model trained on that very file."""
    root = tmp_path_factory.mktemp("attack")
    data = root / "planted.csv"
    planted_table(400).frame.to_csv(data, index=False)
    model = root / "model"
    train(load_table(str(data)), OVERFIT, model, progress=False)
    return root, data, model


@pytest.fixture(scope="module")
def attacked(planted):
    root, data, model = planted
    out = root / "attack"
    result = rai(
        "attack", "--model", model, "--data", data, "--out", out, "--shadows", 2,
        "--sensitive", "group",
    )  # fmt: skip
    return result, out


def test_attack_writes_evidence_and_report(attacked):
    result, out = attacked
    assert result.exit_code == 0, result.output
    assert "verdict: no guarantee" in result.output
    evidence = load_evidence(out / "evidence.json")
    section = evidence.result("membership_inference")
    assert section is not None and section.auc > 0.6
    assert section.epsilon_lower_bound > 0
    assert [g.group for g in section.per_group] == ["a", "b"]
    raw = json.loads((out / "evidence.json").read_text())
    assert raw["results"]["membership_inference"]["auc"] == section.auc
    html = (out / "report.html").read_text()
    start = html.index('<section id="membership-inference">')
    part = html[start : html.index("</section>", start)]
    assert '<img class="chart"' in part and "data:image/svg+xml;base64," in part
    assert "Vulnerability by group" in part and "Empirical ε lower bound" in part
    assert "trained without differential privacy" in part


def test_policy_gate_and_risk_register_read_the_attack_auc(attacked, tmp_path):
    _, out = attacked
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\nname: p\nprivacy:\n  max_membership_auc: 0.6\n")
    result = rai("gate", out / "evidence.json", "--policy", policy)
    assert result.exit_code == 1, result.output
    assert "max_membership_auc" in result.output
    markdown = tmp_path / "report.md"
    assert rai("report", out / "evidence.json", "--format", "md", "--out", markdown).exit_code == 0
    text = markdown.read_text()
    assert "measured: membership-attack AUC" in text and "above the limit 0.6" in text
    assert "| LiRA online |" in text


def test_attack_refuses_other_data(planted, tmp_path):
    _, _, model = planted
    result = rai("attack", "--model", model, "--data", "arrests", "--out", tmp_path / "o")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: a membership attack needs the model's own training data; builtin:arrests does "
        "not match the sha256 in its training record"
    ]
    assert not (tmp_path / "o" / "evidence.json").exists()


def test_attack_refuses_one_shadow(planted, tmp_path):
    _, data, model = planted
    result = rai("attack", "--model", model, "--data", data, "--out", tmp_path, "--shadows", 1)
    assert result.exit_code == 2
    assert "error: --shadows must be 0 (no LiRA) or at least 2; got 1" in result.output


def test_audit_with_membership_attack(planted, tmp_path):
    _, data, model = planted
    out = tmp_path / "audit"
    result = rai(
        "audit", "--model", model, "--data", data, "--label", "y", "--sensitive", "group",
        "--out", out, "--membership-attack", "--shadows", 0, "--n-bootstrap", 100,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    evidence = load_evidence(out / "evidence.json")
    assert evidence.result("performance") is not None
    assert [a.name for a in evidence.result("membership_inference").attacks] == [
        "loss",
        "confidence",
    ]
    assert any(f.code == "membership_leak" for f in evidence.all_findings())


def test_audit_refuses_shadows_without_the_attack(planted, tmp_path):
    _, data, model = planted
    result = rai(
        "audit", "--model", model, "--data", data, "--label", "y", "--sensitive", "group",
        "--out", tmp_path, "--shadows", 2,
    )  # fmt: skip
    assert result.exit_code == 2
    assert "error: --shadows needs --membership-attack" in result.output
