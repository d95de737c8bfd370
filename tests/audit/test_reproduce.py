"""`rai reproduce`: an audit re-run from its recorded inputs, compared figure by figure."""

from __future__ import annotations

import json
import shutil
from importlib import metadata

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from raikit.audit.cli import app
from raikit.audit.evidence import load_evidence
from raikit.audit.impact import attach_impact, impact_template, parse_impact
from raikit.audit.impact.concerns import CONCERNS, concern_status
from raikit.audit.reproduce import Reproduction, compare_figures, compare_packages

runner = CliRunner()


def rai(*args):
    return runner.invoke(app, [str(a) for a in args])


# --- the pure comparison, on hand-made documents --------------------------------------------


def test_compare_figures_sorts_each_figure_by_hand():
    recorded = {
        "n": 100,
        "ok": True,
        "title": "text is not a figure",
        "undefined": None,
        "groups": [
            {"label": "A", "rate": 0.25, "ci": [0.1, 0.4]},
            {"label": "B", "rate": 0.5, "ci": [0.3, 0.7]},
        ],
        "gone": 3.0,
    }
    reproduced = {
        "n": 100,
        "ok": False,  # a boolean is compared exactly
        "title": "other text",
        "undefined": None,
        "groups": [
            {"label": "A", "rate": 0.25 + 1e-9, "ci": [0.1, 0.4]},
            {"label": "B", "rate": 0.52, "ci": [0.3, 0.7]},
        ],
        "new": 7,
    }
    result = compare_figures(recorded, reproduced, tolerance=1e-6)
    # n, ok, 2 x (rate, ci[0], ci[1]), gone, new: 10 figures; "undefined" is null on both sides.
    assert result.n_figures == 10
    assert result.n_exact == 5  # n, the four interval bounds
    assert [(c.path, c.recorded, c.reproduced) for c in result.within_tolerance] == [
        ("groups[A].rate", 0.25, 0.25 + 1e-9)
    ]
    assert [(c.path, c.recorded, c.reproduced) for c in result.drifted] == [
        ("ok", True, False),
        ("groups[B].rate", 0.5, 0.52),
        ("gone", 3.0, None),
        ("new", None, 7),
    ]
    # A looser tolerance turns the 0.02 gap into "within tolerance"; the rest stays drifted.
    loose = compare_figures(recorded, reproduced, tolerance=0.05)
    assert [c.path for c in loose.drifted] == ["ok", "gone", "new"]


def test_list_entries_without_unique_names_are_numbered():
    recorded = {"rows": [{"label": "x", "v": 1}, {"label": "x", "v": 2}]}
    reproduced = {"rows": [{"label": "x", "v": 1}, {"label": "x", "v": 3}]}
    [change] = compare_figures(recorded, reproduced).drifted
    assert (change.path, change.recorded, change.reproduced) == ("rows[1].v", 2, 3)


def test_compare_packages_lists_recorded_packages_whose_version_changed():
    recorded = {"numpy": "1.0", "torch": "2.0", "gone": "0.1"}
    now = {"numpy": "1.0", "torch": "2.1", "added": "9"}
    changes = compare_packages(recorded, now)
    assert [(c.package, c.recorded, c.now) for c in changes] == [
        ("torch", "2.0", "2.1"),
        ("gone", "0.1", None),
    ]


# --- end to end, through the CLI -------------------------------------------------------------


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    """A small model trained and audited through the CLI; paths recorded absolute."""
    root = tmp_path_factory.mktemp("reproduce")
    rng = np.random.default_rng(0)
    n = 400
    group = rng.choice(["a", "b"], size=n)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    label = np.where(x1 + 0.5 * x2 + (group == "a") * 0.3 + rng.normal(0, 0.5, n) > 0, "y", "n")
    data = root / "small.csv"
    pd.DataFrame({"x1": x1, "x2": x2, "group": group, "label": label}).to_csv(data, index=False)
    common = ("--label", "label", "--sensitive", "group")
    model = root / "model"
    result = rai("train", "--data", data, *common, "--epochs", "2", "--out", model, "--quiet")
    assert result.exit_code == 0, result.output
    result = rai(
        "audit", "--model", model, "--data", data, *common, "--n-bootstrap", "100",
        "--out", root / "audit",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return root


def _edited(audited, tmp_path, edit):
    raw = json.loads((audited / "audit" / "evidence.json").read_text())
    edit(raw)
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps(raw))
    return path


def test_an_untouched_audit_reproduces_and_measures_the_science_concern(audited, tmp_path):
    evidence = audited / "audit" / "evidence.json"
    before = evidence.read_bytes()
    result = rai("reproduce", evidence, "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output
    assert "0 within tolerance 1e-06, 0 drifted" in result.output
    assert "reproduced: yes" in result.output
    assert evidence.read_bytes() == before  # the input is never modified
    record = Reproduction.model_validate_json((tmp_path / "r" / "reproduction.json").read_text())
    assert record.reproduced and record.packages == []
    # Every number of the recorded data section and results was compared.
    raw = json.loads(before)
    numbers = []

    def walk(value):
        if isinstance(value, dict):
            list(map(walk, value.values()))
        elif isinstance(value, list):
            list(map(walk, value))
        elif isinstance(value, (bool, int, float)):
            numbers.append(value)

    walk({"data": raw["data"], "results": raw["results"]})
    assert record.figures.n_figures == record.figures.n_exact == len(numbers) > 50
    attached = load_evidence(tmp_path / "r" / "evidence.json")
    [science] = [c for c in attached.verdicts.concerns if c.name == "science"]
    assert science.status == "measured" and science.level == "low"
    [row] = [r for r in attached.verdicts.risks if r.concern == "science"]
    assert (row.likelihood, row.severity, row.score) == (1, 4, 4)
    assert science.measured_by == ["reproducibility"]
    assert (tmp_path / "r" / "report.html").exists()


def test_without_a_reproduction_science_is_not_assessed_never_low(audited):
    evidence = load_evidence(audited / "audit" / "evidence.json")
    [science] = [c for c in evidence.verdicts.concerns if c.name == "science"]
    assert science.status == "not_assessed" and science.level == "unknown"
    [row] = [r for r in evidence.verdicts.risks if r.concern == "science"]
    assert row.level == "unknown" and row.source == "not assessed"
    # An untouched impact template leaves it unassessed too (its answers are TODO).
    with_template = attach_impact(evidence, parse_impact(impact_template()))
    concern = next(c for c in CONCERNS if c.name == "science")
    assert concern_status(with_template, concern).status == "not_assessed"


def test_tampered_data_is_refused_naming_the_data(audited, tmp_path):
    tampered = tmp_path / "small.csv"
    text = (audited / "small.csv").read_text().splitlines()
    text[1] = text[1].replace(",a,", ",b,") if ",a," in text[1] else text[1].replace(",b,", ",a,")
    tampered.write_text("\n".join(text) + "\n")
    result = rai("reproduce", audited / "audit" / "evidence.json", "--data", tampered)
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert f"data '{tampered}' is not the audited data" in result.output


def test_tampered_model_is_refused_naming_the_file(audited, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(audited / "model", model)
    with open(model / "training.json", "a") as handle:
        handle.write("\n")
    result = rai("reproduce", audited / "audit" / "evidence.json", "--model", model)
    assert result.exit_code == 2
    assert "is not the audited model: training.json differ(s)" in result.output


def test_a_planted_drift_is_listed_with_both_values_and_exits_1(audited, tmp_path):
    raw = json.loads((audited / "audit" / "evidence.json").read_text())
    accuracy = raw["results"]["performance"]["metrics"]["accuracy"]["value"]

    def plant(raw):
        raw["results"]["performance"]["metrics"]["accuracy"]["value"] = accuracy + 0.01

    result = rai("reproduce", _edited(audited, tmp_path, plant), "--out", tmp_path / "r")
    assert result.exit_code == 1, result.output
    assert "1 drifted" in result.output and "reproduced: NO" in result.output
    path = "results.performance.metrics.accuracy.value"
    [line] = [ln for ln in result.output.splitlines() if path in ln]
    assert repr(accuracy + 0.01) in line and repr(accuracy) in line
    attached = load_evidence(tmp_path / "r" / "evidence.json")
    [science] = [c for c in attached.verdicts.concerns if c.name == "science"]
    assert science.level == "high" and "1 of" in science.headline
    # A drift makes the risk likely (4); with no impact.yaml the tier is unknown: severity 4.
    [row] = [r for r in attached.verdicts.risks if r.concern == "science"]
    assert (row.likelihood, row.severity, row.score) == (4, 4, 16)
    assert any(f.code == "reproduction_drift" for f in attached.all_findings())


def test_a_tiny_difference_is_within_tolerance_unless_the_tolerance_is_zero(audited, tmp_path):
    def nudge(raw):
        raw["results"]["performance"]["metrics"]["accuracy"]["value"] += 1e-9

    evidence = _edited(audited, tmp_path, nudge)
    result = rai("reproduce", evidence)
    assert result.exit_code == 0 and "1 within tolerance 1e-06, 0 drifted" in result.output
    result = rai("reproduce", evidence, "--tolerance", "0")
    assert result.exit_code == 1 and "1 drifted" in result.output
    result = rai("reproduce", evidence, "--tolerance", "-1")
    assert result.exit_code == 2 and "tolerance must be a finite number >= 0" in result.output


def test_a_different_package_version_is_listed(audited, tmp_path):
    def fake(raw):
        raw["provenance"]["packages"]["numpy"] = "0.0.1"

    result = rai("reproduce", _edited(audited, tmp_path, fake))
    assert result.exit_code == 0, result.output  # figures still match
    assert f"numpy: recorded 0.0.1, now {metadata.version('numpy')}" in result.output


def test_a_check_that_wrote_files_is_not_re_run(audited, tmp_path):
    def sweep(raw):
        raw["provenance"]["config"]["checks"]["mitigation"] = {"out_dir": str(tmp_path / "m")}

    result = rai("reproduce", _edited(audited, tmp_path, sweep), "--out", tmp_path / "r")
    assert result.exit_code == 2
    assert "the 'mitigation' check wrote files" in result.output
    assert not (tmp_path / "m").exists() and not (tmp_path / "r").exists()


def test_outputs_are_not_overwritten_without_force(audited, tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "report.html").write_text("mine")
    result = rai("reproduce", audited / "audit" / "evidence.json", "--out", out)
    assert result.exit_code == 2 and "--force" in result.output
    assert (out / "report.html").read_text() == "mine"
    result = rai("reproduce", audited / "audit" / "evidence.json", "--out", audited / "audit")
    assert result.exit_code == 2 and "evidence being reproduced" in result.output


def test_an_audit_of_predictions_reproduces_without_a_model(tmp_path):
    rng = np.random.default_rng(1)
    n = 200
    predictions = tmp_path / "preds.csv"
    pd.DataFrame(
        {
            "y_true": rng.integers(0, 2, n),
            "y_pred": rng.integers(0, 2, n),
            "group": rng.choice(["a", "b"], n),
        }
    ).to_csv(predictions, index=False)
    result = rai(
        "audit", "--predictions", predictions, "--sensitive", "group", "--n-bootstrap", "100",
        "--out", tmp_path / "audit",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    evidence = tmp_path / "audit" / "evidence.json"
    result = rai("reproduce", evidence)
    assert result.exit_code == 0, result.output
    assert f"inputs: data {predictions} match" in result.output
    result = rai("reproduce", evidence, "--model", tmp_path)
    assert result.exit_code == 2 and "audited no model" in result.output
