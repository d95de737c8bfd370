"""`rai scan-pii` and `rai audit --scan-pii` end to end: planted canaries never leak."""

from __future__ import annotations

import hashlib
import logging

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from raikit.audit.cli import app
from raikit.audit.evidence import load_evidence

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
    # The report says which corpus its accuracy figures come from, and that it is not this data.
    assert "held-out corpus (benchmarks/pii_corpora.py" in report
    assert "not on this data" in report


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


# Values the scan misses on their own (checked below): a name spaCy does not tag, one it tags
# as an organisation, and local phone formats no recognizer reads.
MISSED_NAMES = ["Ulani Makoa", "Iolana Kahale"]
MISSED_PHONES = ["555-0199", "555 0142", "5550188"]
FOUND_NAMES = ["Alice Walker", "Bob Stone", "Maria Garcia", "Oluwaseun Adeyemi"]
FOUND_PHONES = ["212-555-0199", "(415) 555-0142", "+1 646 555 0187", "646.555.0117"]


@pytest.fixture(scope="module")
def contacts_csv(tmp_path_factory):
    n = 40
    names = (FOUND_NAMES * n)[: n - len(MISSED_NAMES)] + MISSED_NAMES
    phones = (FOUND_PHONES * n)[: n - len(MISSED_PHONES)] + MISSED_PHONES
    notes = ["Asked about the premium renewal and the invoice date"] * n
    notes[3] = "Called back about the premium renewal; reach Zebediah Quuxworth at zq@example.org"
    frame = pd.DataFrame({"name": names, "phone": phones, "note": notes, "plan": ["gold"] * n})
    path = tmp_path_factory.mktemp("contacts") / "contacts.csv"
    frame.to_csv(path, index=False)
    return path


def test_anonymize_replaces_every_value_of_identifier_columns(
    contacts_csv, tmp_path, spacy_analyzer
):
    before = hashlib.sha256(contacts_csv.read_bytes()).hexdigest()
    anon, out = tmp_path / "deid.csv", tmp_path / "scan"
    args = ["scan-pii", "--data", str(contacts_csv), "--out", str(out), "--anonymize", str(anon)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert hashlib.sha256(contacts_csv.read_bytes()).hexdigest() == before

    pii = load_evidence(out / "evidence.json").result("pii")
    columns = {c.column: c for c in pii.columns}
    # The scan itself misses the planted values; the columns are still direct identifiers.
    assert columns["name"].classification == "direct_identifier"
    assert columns["phone"].classification == "direct_identifier"
    assert [e.entity_type for e in columns["name"].entities][0] == "PERSON"
    assert columns["name"].entities[0].rows == 40 - len(MISSED_NAMES)
    assert columns["phone"].hit_rows == 40 - len(MISSED_PHONES)
    assert columns["note"].classification == "free_text_pii"

    written = anon.read_text()
    planted = [*MISSED_NAMES, *FOUND_NAMES, *MISSED_PHONES, *FOUND_PHONES]
    for value in [*planted, "Zebediah Quuxworth", "zq@example.org"]:
        assert value not in written, value
    copy = pd.read_csv(anon, dtype=str)
    assert (copy["name"] == "<PERSON>").all()
    # Phones are masked (at most the last four digits kept), never shown whole.
    assert not set(copy["phone"]) & set(MISSED_PHONES + FOUND_PHONES)
    assert copy["phone"].str.contains(r"\*").all()
    # Free text keeps its words around the replaced spans; other columns are untouched.
    assert (copy["note"].str.contains("premium renewal")).all()
    assert copy.loc[3, "note"].startswith("Called back about the premium renewal; reach <PERSON>")
    assert (copy["plan"] == "gold").all()
    assert "every value replaced in direct-identifier column(s)" in result.output
    assert "name (PERSON: replace)" in result.output
    assert "phone (PHONE_NUMBER: mask)" in result.output
