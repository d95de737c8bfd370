"""`rai scan-pii` and `rai audit --scan-pii` end to end: planted canaries never leak."""

from __future__ import annotations

import hashlib
import logging

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from raikit.audit.cli import app

CANARIES = {
    "ssn": "219-09-9999",
    "email": "canary.zq@example.org",
    "card": "4111 1111 1111 1111",
    "name": "Zebediah Quuxworth",
}


@pytest.fixture(scope="module")
def canary_csv(tmp_path_factory):
    rng = np.random.default_rng(0)
    n = 60
    frame = pd.DataFrame(
        {
            "y_true": rng.choice(["yes", "no"], n),
            "y_pred": rng.choice(["yes", "no"], n),
            "group": rng.choice(["a", "b"], n),
            "customer": ["Alice Walker", "Bob Stone"] * (n // 2),
            "note": ["fine"] * n,
        }
    )
    frame.loc[7, "customer"] = CANARIES["name"]
    frame.loc[8, "note"] = (
        f"SSN {CANARIES['ssn']}, mail {CANARIES['email']}, card {CANARIES['card']}"
    )
    frame.loc[9, "note"] = "<script>alert('x')</script><b>bold</b>"
    path = tmp_path_factory.mktemp("canary") / "people.csv"
    frame.to_csv(path, index=False)
    return path


def _assert_no_canary(*texts):
    for text in texts:
        for canary in CANARIES.values():
            assert canary not in text


def _run(args, caplog):
    caplog.set_level(logging.DEBUG)
    result = CliRunner().invoke(app, args)
    logs = "\n".join(r.getMessage() for r in caplog.records)
    return result, logs


def test_scan_pii_leaks_nothing(canary_csv, tmp_path, spacy_analyzer, caplog):
    out = tmp_path / "scan"
    result, logs = _run(["scan-pii", "--data", str(canary_csv), "--out", str(out)], caplog)
    assert result.exit_code == 0, result.output
    evidence = (out / "evidence.json").read_text()
    report = (out / "report.html").read_text()
    _assert_no_canary(evidence, report, result.output, logs)
    assert "direct identifier" in result.output
    assert "<script>alert" not in report
    assert "S**" in evidence  # masked samples are there instead


def test_audit_scan_pii_leaks_nothing(canary_csv, tmp_path, spacy_analyzer, caplog):
    out = tmp_path / "audit"
    args = ["audit", "--predictions", str(canary_csv), "--sensitive", "group", "--out", str(out)]
    result, logs = _run([*args, "--scan-pii", "--n-bootstrap", "100"], caplog)
    assert result.exit_code == 0, result.output
    evidence = (out / "evidence.json").read_text()
    report = (out / "report.html").read_text()
    _assert_no_canary(evidence, report, result.output, logs)
    assert '"pii": {' in evidence and 'id="pii"' in report


def test_anonymize_writes_copy_and_never_touches_input(canary_csv, tmp_path, spacy_analyzer):
    before = hashlib.sha256(canary_csv.read_bytes()).hexdigest()
    anon = tmp_path / "anon.csv"
    args = ["scan-pii", "--data", str(canary_csv), "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(app, [*args, "--anonymize", str(anon)])
    assert result.exit_code == 0, result.output
    assert hashlib.sha256(canary_csv.read_bytes()).hexdigest() == before
    _assert_no_canary(anon.read_text())
    assert len(pd.read_csv(anon)) == 60
    again = CliRunner().invoke(app, [*args, "--anonymize", str(anon)])
    assert again.exit_code == 2 and "--force" in again.output
    same = CliRunner().invoke(app, [*args, "--force", "--anonymize", str(canary_csv)])
    assert same.exit_code == 2 and "never modified" in same.output
    assert hashlib.sha256(canary_csv.read_bytes()).hexdigest() == before


def test_corpus_with_bad_bytes(tmp_path, spacy_analyzer):
    corpus = tmp_path / "docs.txt"
    corpus.write_bytes(b"Mail " + CANARIES["email"].encode() + b"\n\xff\xfe junk\n\n<i>x</i>\n")
    out = tmp_path / "c"
    result = CliRunner().invoke(app, ["scan-pii", "--corpus", str(corpus), "--out", str(out)])
    assert result.exit_code == 0, result.output
    _assert_no_canary((out / "evidence.json").read_text(), result.output)


def test_bad_options_are_one_line_errors(canary_csv, tmp_path):
    base = ["scan-pii", "--out", str(tmp_path / "x")]
    result = CliRunner().invoke(app, base)
    assert result.exit_code == 2 and "--data" in result.output
    result = CliRunner().invoke(app, [*base, "--data", str(canary_csv), "--entity", "SHOE_SIZE"])
    assert result.exit_code == 2 and "unknown entity type" in result.output
