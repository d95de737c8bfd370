"""`rai mitigate` end to end, as a user types it; bad input gives one line and exit 2."""

import json

import pytest
from typer.testing import CliRunner

from raikit.audit.cli import app
from tests.audit._planted import planted_frame

runner = CliRunner()


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def rai(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("mitigate-cli")
    data = root / "planted.csv"
    planted_frame(600).to_csv(data, index=False)
    result = rai(
        "train", "--data", data, "--label", "hired", "--sensitive", "group",
        "--epochs", "6", "--out", root / "base", "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return root, data


def test_sweep_writes_models_evidence_and_a_report_section(files):
    root, data = files
    out = root / "sweep"
    result = rai(
        "mitigate", "--model", root / "base", "--data", data, "--sensitive", "group",
        "--sweep", "--method", "threshold_optimizer", "--method", "reweighing",
        "--out", out, "--epochs", "3",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    # A long sweep shows which model it is fitting, one step per model.
    assert "mitigation sweep" in result.output and "2/2" in result.output
    assert "reweighing" in result.output
    evidence = json.loads((out / "evidence.json").read_text())
    points = evidence["results"]["mitigation"]["points"]
    assert [p["method"] for p in points] == ["baseline", "threshold_optimizer", "reweighing"]
    assert evidence["results"]["mitigation"]["target_disparity"] == "demographic_parity_difference"
    assert any(p["pareto"] for p in points)
    assert points[1]["needs_sensitive_at_prediction"] is True
    html = (out / "report.html").read_text()
    assert 'id="mitigation"' in html and "Pareto front" in html
    assert "Needs the sensitive attribute at prediction time" in html
    assert html.count('<img class="chart"') >= 1
    # Each saved model is auditable by `rai audit`.
    audited = rai(
        "audit", "--model", out / "models" / "threshold_optimizer", "--data", data,
        "--label", "hired", "--sensitive", "group", "--out", root / "audit", "--n-bootstrap", "100",
    )  # fmt: skip
    assert audited.exit_code == 0, audited.output
    audit_evidence = json.loads((root / "audit" / "evidence.json").read_text())
    assert audit_evidence["model"]["kind"] == "raikit-mitigated"
    assert audit_evidence["data"]["rows"].startswith("test split")
    assert audit_evidence["model"]["training"]["mitigation"]["method"] == "threshold_optimizer"
    codes = [f["code"] for f in audit_evidence["findings"]]
    assert "sensitive_at_prediction" in codes


def test_single_method_prints_before_and_after(files):
    root, data = files
    result = rai(
        "mitigate", "--model", root / "base", "--data", data, "--sensitive", "group",
        "--method", "threshold_optimizer", "--constraint", "equalized_odds", "--out", root / "to",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "equalized_odds_difference" in result.output and "baseline" in result.output
    assert (root / "to" / "mitigation.json").is_file()


def one_line_error(result, message):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert message in lines[0]


def test_bad_inputs_give_one_line_and_exit_2(files, tmp_path):
    root, data = files
    base = ["mitigate", "--model", root / "base", "--sensitive", "group"]
    one_line_error(
        rai(*base, "--data", data, "--method", "fair_magic", "--out", tmp_path / "a"),
        "unknown mitigation method 'fair_magic'",
    )
    unlabelled = tmp_path / "unlabelled.csv"
    planted_frame(100).drop(columns="hired").to_csv(unlabelled, index=False)
    one_line_error(
        rai(
            *base,
            "--data",
            unlabelled,
            "--method",
            "threshold_optimizer",
            "--constraint",
            "equalized_odds",
            "--out",
            tmp_path / "b",
        ),  # fmt: skip
        "constraint 'equalized_odds' needs true labels",
    )
    one_line_error(
        rai(
            *base,
            "--data",
            data,
            "--method",
            "reweighing",
            "--constraint",
            "equalized_odds",
            "--out",
            tmp_path / "c",
        ),  # fmt: skip
        "targets demographic_parity only",
    )
    one_line_error(rai(*base, "--data", data, "--out", tmp_path / "d"), "give exactly one --method")


def test_sensitive_column_missing_when_auditing_a_mitigated_model(files, tmp_path):
    root, data = files
    if not (root / "to").exists():
        test_single_method_prints_before_and_after(files)
    no_group = tmp_path / "no_group.csv"
    planted_frame(100).drop(columns="group").assign(region=["x", "y"] * 50).to_csv(
        no_group, index=False
    )
    result = rai(
        "audit", "--model", root / "to", "--data", no_group, "--label", "hired",
        "--sensitive", "region", "--out", tmp_path / "audit", "--n-bootstrap", "100",
    )  # fmt: skip
    one_line_error(result, "sensitive column 'group' is missing")
