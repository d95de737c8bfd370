"""`rai slices`, `rai audit --slices`, the Subgroups report section, risk and gate, as a user
types them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from raikit.audit.cli import app
from raikit.audit.evidence import load_evidence
from raikit.reports import render

runner = CliRunner()
RISK = "Subgroups treated worse than the rest"


def rai(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def planted_predictions(tmp_path_factory):
    """4,000 predictions; errors 4x as frequent where region=north & plan=basic (2.5%)."""
    rng = np.random.default_rng(7)
    n = 4_000
    frame = pd.DataFrame(
        {
            "region": rng.choice(["north", "south", "east", "west"], n),
            "plan": rng.choice(["basic", "plus", "pro", "max"], n, p=[0.1, 0.3, 0.3, 0.3]),
            "age": rng.integers(18, 90, n),
            "y_true": rng.integers(0, 2, n),
        }
    )
    inside = ((frame.region == "north") & (frame.plan == "basic")).to_numpy()
    wrong = rng.random(n) < np.where(inside, 0.4, 0.1)
    frame["y_pred"] = np.where(wrong, 1 - frame.y_true, frame.y_true)
    path = tmp_path_factory.mktemp("slices") / "predictions.csv"
    frame.to_csv(path, index=False)
    return path, frame, inside


@pytest.fixture(scope="module")
def slices_run(planted_predictions, tmp_path_factory):
    path, _, _ = planted_predictions
    out = tmp_path_factory.mktemp("slices-run") / "out"
    result = rai(
        "slices", "--predictions", path, "--sensitive", "region", "--column", "plan",
        "--column", "age", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out, result.output


def test_rai_slices_finds_the_planted_slice_and_prints_it_first(slices_run, planted_predictions):
    out, output = slices_run
    _, frame, inside = planted_predictions
    evidence = load_evidence(out / "evidence.json")
    worst = evidence.result("slices").worst()
    assert worst.conditions == {"region": "north", "plan": "basic"}
    assert worst.size == int(inside.sum())
    wrong = (frame.y_pred != frame.y_true).to_numpy()
    assert worst.metric.value == pytest.approx(wrong[inside].mean())
    first = next(line for line in output.splitlines() if line.startswith("  "))
    assert first.startswith(f"  region=north & plan=basic ({int(inside.sum())} rows)")


def test_the_subgroups_section_shows_the_table_and_chart(slices_run, planted_predictions):
    out, _ = slices_run
    rows = int(planted_predictions[2].sum())
    html = (out / "report.html").read_text()
    section = html[html.index('<section id="subgroups">') :]
    section = section[: section.index("</section>")]
    assert "<h3>Subgroups</h3>" in section
    assert "region=north &amp; plan=basic" in section
    assert 'src="data:image/svg+xml;base64,' in section
    markdown = render(load_evidence(out / "evidence.json"), "md")
    assert "**Subgroups**" in markdown
    assert f"| region=north &amp; plan=basic | {rows} |" in markdown


def test_the_planted_slice_raises_the_bias_risk(slices_run):
    out, _ = slices_run
    evidence = load_evidence(out / "evidence.json")
    risk = next(r for r in evidence.verdicts.risks if r.title == RISK)
    worst = evidence.result("slices").worst()
    # Gap ~0.3 with its interval above the default limit 0.1: likelihood 5.
    assert worst.gap.lower > 0.1
    assert risk.likelihood == 5 and risk.concern == "bias"
    assert "region=north & plan=basic" in risk.basis


@pytest.mark.parametrize(("limit", "code"), [(0.05, 1), (0.9, 0)])
def test_the_slice_gap_gate(slices_run, tmp_path, limit, code):
    out, _ = slices_run
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"version: 1\nthresholds:\n  - metric: slice_gap\n    max: {limit}\n")
    result = rai("gate", out / "evidence.json", "--policy", policy)
    assert result.exit_code == code, result.output


def test_rai_audit_slices_adds_the_section(arrests_model, tmp_path):
    out = tmp_path / "audit"
    result = rai(
        "audit", "--model", arrests_model.path, "--data", "arrests", "--label", "released",
        "--sensitive", "colour", "--slices", "--slice-column", "employed",
        "--n-bootstrap", 100, "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads((out / "evidence.json").read_text())
    assert data["results"]["slices"]["columns"] == ["colour", "employed"]
    assert data["sections"]["slices"]["concern"] == "bias"
    assert any(r["title"] == RISK for r in data["verdicts"]["risks"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--column", "plann"], "column 'plann' not found"),
        (["--column", "y_true"], "is the label or a prediction"),
        (["--column", "y_pred"], "is the label or a prediction"),
        (["--column", "plan", "--depth", "4"], "depth"),
        (["--column", "plan", "--fdr-method", "holm"], "fdr_method"),
        ([], "--sensitive or --column"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(planted_predictions, tmp_path, args, message):
    path, _, _ = planted_predictions
    result = rai("slices", "--predictions", path, *args, "--out", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
