"""The `rai` command line end to end, exactly as a user types it."""

import hashlib
import json
import re
import time

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from raikit.audit.cli import app
from raikit.audit.predictor import load_predictor
from raikit.models.data import load_table

runner = CliRunner()


def rai(*args):
    return runner.invoke(app, [str(a) for a in args])


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_help_lists_every_command():
    result = rai("--help")
    assert result.exit_code == 0
    for command in ("train", "audit", "report", "datasets", "demo"):
        assert re.search(rf"\b{command}\b", result.output)


def test_datasets_lists_builtins():
    result = rai("datasets")
    assert result.exit_code == 0
    for name in (
        "adult",
        "compas",
        "german-credit",
        "arrests",
        "gss-wages",
        "attrition",
        "hmda",
        "resume",
        "digits",
    ):
        assert re.search(rf"^{re.escape(name)}\s", result.output, re.MULTILINE)
    assert "5,226" in result.output


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    """`rai train` then `rai audit` on carData::Arrests, through the CLI."""
    root = tmp_path_factory.mktemp("cli")
    result = rai(
        "train",
        "--data",
        "arrests",
        "--label",
        "released",
        "--sensitive",
        "colour",
        "--sensitive",
        "sex",
        "--epochs",
        "3",
        "--out",
        root / "model",
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    result = rai(
        "audit",
        "--model",
        root / "model",
        "--data",
        "arrests",
        "--label",
        "released",
        "--sensitive",
        "colour",
        "--sensitive",
        "sex",
        "--out",
        root / "audit",
    )
    assert result.exit_code == 0, result.output
    return root


def test_audit_writes_evidence_and_report(audited):
    evidence = json.loads((audited / "audit" / "evidence.json").read_text())
    assert evidence["schema_version"] == "2.1"
    assert evidence["data"]["rows"].startswith("test split")
    attributes = [a["attribute"] for a in evidence["results"]["fairness"]["attributes"]]
    assert attributes == ["colour", "sex", "colour & sex"]
    html = (audited / "audit" / "report.html").read_text()
    assert html.lstrip().lower().startswith("<!doctype html>")


def test_report_numbers_match_an_independent_groupby(audited):
    """Selection rate per colour group recomputed with pandas appears in the report."""
    from raikit.models.data import load_table

    table = load_table("arrests")
    model = load_predictor(audited / "model")
    test = table.frame.iloc[model.checkpoint.split["test"]]
    predicted_yes = model.predict_proba(test)[:, 1] >= 0.5
    by_colour = (
        pd.Series(predicted_yes, index=test.index).groupby(test["colour"]).agg(["mean", "size"])
    )
    evidence = json.loads((audited / "audit" / "evidence.json").read_text())
    colour = evidence["results"]["fairness"]["attributes"][0]
    html = (audited / "audit" / "report.html").read_text()
    for group in colour["groups"]:
        expected = by_colour.loc[group["label"]]
        assert group["count"] == expected["size"]
        assert group["metrics"]["selection_rate"]["value"] == pytest.approx(expected["mean"])
        assert f"{expected['mean']:.3f}" in html
    rates = by_colour["mean"]
    dpd = colour["disparities"]["demographic_parity_difference"]["value"]
    assert dpd == pytest.approx(rates.max() - rates.min())


def test_report_rerenders_from_evidence_alone(audited, tmp_path):
    out = tmp_path / "again.html"
    result = rai("report", audited / "audit" / "evidence.json", "--out", out)
    assert result.exit_code == 0, result.output
    original = (audited / "audit" / "report.html").read_text()
    assert out.read_text() == original
    before = sha(out)
    result = rai("report", audited / "audit" / "evidence.json", "--out", out)
    assert result.exit_code == 2 and "pass --force" in result.output
    assert sha(out) == before


def test_audit_of_predictions_only(tmp_path):
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame({"gender": rng.choice(["f", "m"], n), "y_true": rng.integers(0, 2, n)})
    frame["y_score"] = np.clip(
        0.3 * frame["y_true"] + 0.2 * (frame["gender"] == "m") + rng.random(n) * 0.5, 0, 1
    )
    frame["y_pred"] = (frame["y_score"] >= 0.5).astype(int)
    path = tmp_path / "preds.csv"
    frame.to_csv(path, index=False)
    result = rai("audit", "--predictions", path, "--sensitive", "gender", "--out", tmp_path / "a")
    assert result.exit_code == 0, result.output
    evidence = json.loads((tmp_path / "a" / "evidence.json").read_text())
    assert evidence["model"]["kind"] == "predictions-file"
    groups = {g["label"]: g for g in evidence["results"]["fairness"]["attributes"][0]["groups"]}
    for value in ("f", "m"):
        rows = frame[frame["gender"] == value]
        tpr = rows.loc[rows.y_true == 1, "y_pred"].mean()
        assert groups[value]["metrics"]["true_positive_rate"]["value"] == pytest.approx(tpr)
    assert evidence["results"]["performance"]["metrics"]["roc_auc"]["value"] is not None


@pytest.fixture
def inputs(tmp_path):
    """Small files for bad-input cases."""
    good = pd.DataFrame(
        {"group": ["a", "b"] * 20, "label": [0, 1, 1, 0] * 10, "x": np.arange(40.0)}
    )
    paths = {}

    def write(name, frame=None, raw=None):
        path = tmp_path / name
        if raw is not None:
            path.write_bytes(raw)
        else:
            frame.to_csv(path, index=False)
        paths[name] = path
        return path

    write("good.csv", good)
    write("one_class.csv", good.assign(label=1))
    write("one_group.csv", good.assign(group="a"))
    write("nan_label.csv", good.assign(label=good["label"].where(good.index != 3)))
    write("empty.csv", raw=b"")
    write("inf.csv", good.assign(x=good["x"].where(good.index != 4, float("inf"))))
    write("latin1.csv", raw="group,label,x\ncafé,1,2\n".encode("latin-1"))
    write("dup.csv", raw=b"group,label,x,label\na,0,1,0\nb,1,2,1\n")
    return paths


BAD_TRAIN_CASES = [
    ("missing.csv", "label", "missing.csv: no such file"),
    ("good.csv", "lable", "column 'lable' not found in .*good.csv; did you mean 'label'\\?"),
    ("one_class.csv", "label", "single class"),
    ("one_group.csv", "label", "single group"),
    ("nan_label.csv", "label", "missing value"),
    ("empty.csv", "label", "empty"),
    ("inf.csv", "label", "column 'x' of .*inf.csv holds 1 infinite value"),
    ("latin1.csv", "label", "UTF-8"),
    ("dup.csv", "label", "dup.csv has duplicate column name\\(s\\) 'label'; give every column"),
]


@pytest.mark.parametrize(
    "command",
    [
        ("scan-pii", "--no-ner"),
        ("audit", "--predictions"),
    ],
)
def test_infinite_values_are_one_line_and_exit_2_in_every_reader(inputs, tmp_path, command):
    name, flag = command
    data_flag = "--data" if name == "scan-pii" else flag
    args = [name, data_flag, inputs["inf.csv"], "--out", tmp_path / "out"]
    if name == "scan-pii":
        args.append(flag)
    else:
        args += ["--sensitive", "group"]
    result = rai(*args)
    assert result.exit_code == 2, result.output
    [line] = result.output.strip().splitlines()[-1:]
    assert "holds 1 infinite value" in line and "Traceback" not in result.output


@pytest.mark.parametrize(("name", "label", "message"), BAD_TRAIN_CASES)
def test_bad_input_is_one_line_and_exit_2(inputs, tmp_path, name, label, message):
    path = inputs.get(name, tmp_path / name)
    before = {p: sha(p) for p in inputs.values()}
    result = rai(
        "train",
        "--data",
        path,
        "--label",
        label,
        "--sensitive",
        "group",
        "--out",
        tmp_path / "model",
        "--quiet",
    )
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert re.search(message, lines[0]), lines[0]
    assert "Traceback" not in result.output
    assert {p: sha(p) for p in inputs.values()} == before
    assert not (tmp_path / "model").exists()


def test_wrong_model_dir_and_unknown_sensitive(inputs, tmp_path, arrests_model):
    not_a_model = tmp_path / "nothing"
    not_a_model.mkdir()
    result = rai(
        "audit",
        "--model",
        not_a_model,
        "--data",
        inputs["good.csv"],
        "--label",
        "label",
        "--sensitive",
        "group",
        "--out",
        tmp_path / "a",
    )
    assert result.exit_code == 2
    assert "is not a model raikit can load" in result.output
    result = rai(
        "audit",
        "--model",
        arrests_model.path,
        "--data",
        "arrests",
        "--label",
        "released",
        "--sensitive",
        "color",
        "--out",
        tmp_path / "a",
    )
    assert result.exit_code == 2
    assert "column 'color' not found in builtin:arrests; did you mean 'colour'?" in result.output


def test_audit_refuses_to_overwrite_a_report(arrests_model, tmp_path):
    out = tmp_path / "a"
    out.mkdir()
    (out / "report.html").write_text("an earlier report")
    args = (
        "audit",
        "--model",
        arrests_model.path,
        "--data",
        "arrests",
        "--label",
        "released",
        "--sensitive",
        "sex",
        "--out",
        out,
    )
    result = rai(*args)
    assert result.exit_code == 2 and "already exist" in result.output
    assert (out / "report.html").read_text() == "an earlier report"
    assert rai(*args, "--force").exit_code == 0
    assert "<!DOCTYPE html>" in (out / "report.html").read_text()


def test_predictions_with_missing_prediction_column(tmp_path):
    path = tmp_path / "p.csv"
    pd.DataFrame({"y_true": [0, 1] * 5, "g": ["a", "b"] * 5}).to_csv(path, index=False)
    result = rai("audit", "--predictions", path, "--sensitive", "g", "--out", tmp_path / "a")
    assert result.exit_code == 2
    assert "column 'y_pred' not found" in result.output


def test_a_sensitive_column_of_20000_values_is_refused_at_once(tmp_path):
    rng = np.random.default_rng(0)
    n = 20_000
    frame = pd.DataFrame(
        {
            "person": [f"id-{i:05d}" for i in range(n)],
            "y_true": rng.integers(0, 2, n),
            "y_pred": rng.integers(0, 2, n),
        }
    )
    path = tmp_path / "preds.csv"
    frame.to_csv(path, index=False)
    started = time.perf_counter()
    result = rai("audit", "--predictions", path, "--sensitive", "person", "--out", tmp_path / "a")
    elapsed = time.perf_counter() - started
    assert result.exit_code == 2, result.output
    [line] = result.output.strip().splitlines()
    assert line == (
        "error: sensitive column 'person' has 20000 distinct values, more than the 50 groups "
        "raikit compares; bin or pool its values into at most 50 categories first"
    )
    assert elapsed < 10 and not (tmp_path / "a").exists()


def test_audit_keeps_an_existing_junit_file_without_force(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("thresholds: []\n")
    junit = tmp_path / "gate.xml"
    junit.write_text("an earlier result")
    result = rai(
        "audit", "--predictions", "missing.csv", "--sensitive", "g", "--policy", policy,
        "--junit", junit, "--out", tmp_path / "a",
    )  # fmt: skip
    assert result.exit_code == 2
    assert result.output == f"error: {junit} already exist(s); pass --force to overwrite\n"
    assert junit.read_text() == "an earlier result" and not (tmp_path / "a").exists()


@pytest.fixture()
def predictions_file(tmp_path):
    path = tmp_path / "preds.csv"
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 2, 200)
    y_pred = np.where(rng.random(200) < 0.8, y_true, 1 - y_true)
    frame = pd.DataFrame({"y_true": y_true, "y_pred": y_pred, "g": ["a", "b"] * 100})
    frame.to_csv(path, index=False)
    return path


def audit_predictions(predictions_file, out, *extra):
    return rai(
        "audit",
        "--predictions",
        predictions_file,
        "--sensitive",
        "g",
        "--n-bootstrap",
        "100",
        "--out",
        out,
        *extra,
    )


def test_a_second_audit_into_the_same_out_is_refused(predictions_file, tmp_path):
    out = tmp_path / "a"
    assert audit_predictions(predictions_file, out).exit_code == 0
    first = {name: sha(out / name) for name in ("evidence.json", "report.html")}
    result = audit_predictions(predictions_file, out, "--seed", "1")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {out / 'evidence.json'}, {out / 'report.html'} already exist(s); "
        "pass --force to overwrite"
    ]
    assert {name: sha(out / name) for name in first} == first


def test_audit_with_a_full_disk_writes_neither_file(predictions_file, tmp_path, monkeypatch):
    import errno
    import os

    from raikit.models import files

    out, calls = tmp_path / "a", []
    real_fsync = os.fsync

    def full_disk_on_the_report(fd):
        calls.append(fd)
        if len(calls) == 2:  # evidence.json is written, report.html finds the disk full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(files.os, "fsync", full_disk_on_the_report)
    result = audit_predictions(predictions_file, out)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: cannot write '{out / 'report.html'}': No space left on device"
    ]
    assert list(out.iterdir()) == []


def test_one_run_audit_from_training_to_report_and_gate(tmp_path):
    """`rai train --dp --audit-canaries` records the bound; `rai audit` carries it into the
    evidence, the report's privacy summary and the policy gate."""
    data = tmp_path / "digits.csv"
    frame = load_table("digits").frame.sample(300, random_state=0)
    frame.to_csv(data, index=False)
    train = rai(
        *("train", "--data", data, "--label", "digit", "--out", tmp_path / "m"),
        *("--dp", "--noise-multiplier", 1.5, "--accountant", "rdp", "--batch-size", 32),
        *("--epochs", 1, "--audit-canaries", 10, "--no-tensorboard", "--quiet"),
    )
    assert train.exit_code == 0, train.output
    record = json.loads((tmp_path / "m" / "training.json").read_text())
    audit = record["privacy"]["one_run_audit"]
    assert audit["canaries"] == 10 and audit["claimed_epsilon"] == record["privacy"]["epsilon"]
    assert f"one-run audit: epsilon >= {audit['epsilon_lower_bound']:.3f}" in train.output
    # 10 canaries, all 10 guesses right: P = q^10 + (delta term) <= 0.05 / 4 needs
    # q >= 0.645, epsilon about 0.6 at most, below the ~1.1 claimed.
    assert audit["largest_detectable_epsilon"] < 0.7 and audit["verdict"] == "inconclusive"
    policy = tmp_path / "policy.yaml"
    policy.write_text("privacy:\n  require_one_run_audit_consistent: true\n")
    audited = rai(
        *("audit", "--model", tmp_path / "m", "--data", data, "--label", "digit"),
        *("--n-bootstrap", 100),
        *("--policy", policy, "--out", tmp_path / "a"),
    )
    assert audited.exit_code == 1, audited.output  # an untested claim does not pass the gate
    evidence = json.loads((tmp_path / "a" / "evidence.json").read_text())
    codes = {f["code"] for f in evidence["findings"]}
    assert "one_run_audit_inconclusive" in codes
    html = (tmp_path / "a" / "report.html").read_text()
    assert "One-run lower bound" in html and f"{audit['epsilon_lower_bound']:.2f}" in html
