import json

from typer.testing import CliRunner

from raikit.audit.cli import app


def test_demo_writes_model_evidence_and_report(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"report: {out / 'report.html'}" in result.output
    evidence = json.loads((out / "evidence.json").read_text())
    assert [a["attribute"] for a in evidence["results"]["fairness"]["attributes"]] == [
        "colour",
        "sex",
        "colour & sex",
    ]
    assert evidence["data"]["source"] == "builtin:arrests"
    # Every check a tabular model allows ran, and the report shows each section.
    assert evidence["results"]["explanations"]["reliance"]
    assert evidence["results"]["robustness"]["counterfactual"]
    assert evidence["results"]["membership_inference"]["n_shadows"] == 4
    report = (out / "report.html").read_text()
    for heading in ("Explanations", "Robustness", "Membership"):
        assert heading in report
    assert (out / "model" / "model.safetensors").is_file()
    again = CliRunner().invoke(app, ["demo", "--out", str(out)])
    assert again.exit_code == 2 and "pass --force" in again.output
