import json
from pathlib import Path

from typer.testing import CliRunner

from raikit.audit.cli import app
from raikit.models.data import load_table


def test_demo_writes_model_evidence_and_report(tmp_path):
    out = tmp_path / "demo"
    examples = Path(__file__).parents[2] / "examples"
    options = ["--impact", str(examples / "impact.yaml"), "--policy", str(examples / "policy.yaml")]
    result = CliRunner().invoke(app, ["demo", "--out", str(out), *options])
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
    assert evidence["results"]["slices"]["columns"] == [
        "colour",
        "sex",
        "age",
        "employed",
        "citizen",
    ]
    assert evidence["results"]["explanations"]["reliance"]
    assert evidence["results"]["robustness"]["counterfactual"]
    assert evidence["results"]["membership_inference"]["n_shadows"] == 4
    report = (out / "report.html").read_text()
    for heading in ("Subgroups", "Explanations", "Robustness", "Membership"):
        assert heading in report
    assert (out / "model" / "model.safetensors").is_file()
    # As `make demo` runs it: the report shows the EU AI Act tier and the gate, and the audit
    # decides at the training base rate, where the model is not degenerate.
    split = json.loads((out / "model" / "split.json").read_text())
    train_rows = load_table("arrests").frame.iloc[split["train"]]
    assert evidence["provenance"]["config"]["threshold"] == round(
        (train_rows["released"] == "Yes").mean(), 2
    )
    assert evidence["model"]["degenerate"] is None
    assert evidence["verdicts"]["framework"]["tier"]["tier"] == "high"
    assert evidence["gate"]["checks"]
    assert "policy gate" in result.output
    # Training says the model is degenerate at 0.5, which is why the demo decides at 0.83.
    assert result.output.count("warning: the model is degenerate on the test rows") == 1
    again = CliRunner().invoke(app, ["demo", "--out", str(out)])
    assert again.exit_code == 2 and "pass --force" in again.output
