"""No planted piece of personal data reaches a checkpoint, an explanation, a report, a model
card, a de-identified copy or the terminal: training pools rare categories and refuses free
text, explanations mask values, the scan masks what it finds."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from raikit.audit.cli import app
from raikit.audit.explain._disclosure import MIN_VALUE_ROWS, Disclosure
from raikit.models.data import load_table
from raikit.models.errors import DataError
from raikit.models.preprocess import (
    OTHER,
    CategoricalColumn,
    TabularPreprocessor,
    fit_preprocessor,
)
from raikit.models.train import TrainSpec, train

CARD = "4111111111111111"
EMAIL = "canary.person@example.org"
SSN = "123-45-6789"
PHONE = "555-867-5309"
NAME = "Jane Canarysmith"
CANARIES = (CARD, EMAIL, SSN, PHONE, NAME)
# Pieces a partial leak would show (the last four digits are not enough to identify, but the
# masking here keeps none of them).
FRAGMENTS = ("Canarysmith", "canary.person", "example.org", "45-6789", "867-5309", "41111111")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _planted(frame: pd.DataFrame, rows: range) -> pd.DataFrame:
    """``district`` (a category), ``account`` (a numeric-looking code stored as text) and
    ``note`` (free text), with a canary in each of ``rows``, cycling through the five."""
    frame = frame.reset_index(drop=True).copy()
    n = len(frame)
    frame["district"] = [("north", "south", "east", "west")[i % 4] for i in range(n)]
    frame["account"] = [("1001", "1002", "1003")[i % 3] for i in range(n)]
    frame["note"] = [f"visit {i} on day {i % 97}" for i in range(n)]
    for k, i in enumerate(rows):
        canary = CANARIES[k % len(CANARIES)]
        frame.loc[i, "district"] = canary
        frame.loc[i, "account"] = canary
        frame.loc[i, "note"] = f"call {canary} back"
    return frame


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    base = load_table("arrests").frame.sample(n=600, random_state=0)
    folder = tmp_path_factory.mktemp("planted")
    training = _planted(base, range(0, 50, 10))  # each canary in one row
    # Rows to audit and explain: every one holds canaries (each in 8 of 40 rows).
    audited = _planted(base.iloc[:40], range(40)).drop(columns="note")
    training.to_csv(folder / "training.csv", index=False)
    audited.to_csv(folder / "audited.csv", index=False)
    return folder


def _leaks(text: str) -> list[str]:
    # Digits inside a longer number are no leak: 0.4111111111111111 is a rate, not a card.
    return [
        c for c in (*CANARIES, *FRAGMENTS) if re.search(rf"(?<![\d.]){re.escape(c)}(?!\d)", text)
    ]


def _walk(folder: Path) -> dict[str, list[str]]:
    found = {}
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix not in (".csv",):
            leaks = _leaks(path.read_bytes().decode("utf-8", errors="replace"))
            if leaks:
                found[str(path)] = leaks
    return found


def test_rare_categories_pool_into_one_bucket_and_are_never_stored():
    frame = pd.DataFrame({"city": ["a"] * 6 + ["b"] * 5 + ["c"] * 4 + [NAME, EMAIL]})
    (column,) = fit_preprocessor(frame).categorical
    assert column.categories == ("a", "b", OTHER)
    (column,) = fit_preprocessor(frame, min_frequency=1).categorical
    assert NAME in column.categories
    matrix = fit_preprocessor(frame).transform(pd.DataFrame({"city": ["c", NAME, "a"]}))
    assert matrix.tolist() == [[0, 0, 1], [0, 0, 1], [1, 0, 0]]


def test_old_checkpoints_keep_their_stored_categories():
    old = TabularPreprocessor((), (CategoricalColumn("city", ("a", "rare")),))
    loaded = TabularPreprocessor.from_dict(old.to_dict())
    assert loaded.categorical[0].categories == ("a", "rare")
    assert loaded.transform(pd.DataFrame({"city": ["rare", "zzz"]})).tolist() == [[0, 1], [0, 0]]


def test_a_free_text_column_is_refused_with_the_fix(planted, tmp_path):
    table = load_table(str(planted / "training.csv"))
    with pytest.raises(DataError) as error:
        train(table, TrainSpec(label="released", epochs=1), tmp_path / "m", progress=False)
    message = str(error.value)
    assert "column 'note' looks like free text" in message
    assert "--exclude note" in message and "--text note" in message
    assert "\n" not in message and not _leaks(message)


def test_disclosure_rule():
    frame = pd.DataFrame(
        {
            "age": [30] * 12,
            "card": [4111111111111111] * 12,
            "city": ["north"] * 11 + [NAME],
            "mail": [EMAIL] * 12,
        }
    )
    disclosure = Disclosure(frame)
    assert disclosure.cell("age", "30") == ("30", None)
    assert disclosure.cell("card", str(4111111111111111))[0] == "4.111e+15"
    assert disclosure.cell("city", "north") == ("north", None)
    shown, why = disclosure.cell("city", NAME)
    assert shown == "J*** C**********" and str(MIN_VALUE_ROWS) in why
    shown, why = disclosure.cell("mail", EMAIL)  # frequent, but personal data
    assert EMAIL not in shown and why == "looks like an e-mail address"
    assert disclosure.n_masked == 2
    words = Disclosure(pd.DataFrame({"t": [f"good day {i}" for i in range(12)]}), "t")
    assert words.word("good") == ("good", None)
    assert words.word(PHONE)[1] is not None and words.word("zebra")[1] is not None
    typed = Disclosure(pd.DataFrame({"t": ["a zebra"]}), "t", count_rare=False)
    assert typed.word("zebra") == ("zebra", None) and typed.word(PHONE)[1] is not None


def test_no_canary_reaches_any_output(planted, tmp_path):
    runner = CliRunner()
    model = tmp_path / "model"
    printed = []

    def rai(*args):
        result = runner.invoke(app, [str(a) for a in args])
        printed.append(result.output)
        return result

    trained = rai(
        "train",
        "--data",
        planted / "training.csv",
        "--label",
        "released",
        "--exclude",
        "note",
        "--epochs",
        1,
        "--out",
        model,
        "--quiet",
    )
    assert trained.exit_code == 0, trained.output
    audit = tmp_path / "audit"
    reference = tmp_path / "reference.yaml"
    reference.write_text("population: p\nsource: s\ncolumns:\n  colour: {White: 0.7, Black: 0.3}\n")
    audited = rai(
        "audit",
        "--model",
        model,
        "--data",
        planted / "audited.csv",
        "--label",
        "released",
        "--sensitive",
        "colour",
        "--explain",
        "--explain-rows",
        40,
        "--representation",
        reference,
        "--n-bootstrap",
        100,
        "--out",
        audit,
    )
    assert audited.exit_code == 0, audited.output
    for fmt in ("html", "md"):
        rendered = rai(
            "report", audit / "evidence.json", "--format", fmt, "--out", tmp_path / f"r.{fmt}"
        )
        assert rendered.exit_code == 0, rendered.output
    explained = rai(
        "explain",
        "--model",
        model,
        "--data",
        planted / "audited.csv",
        "--label",
        "released",
        *[arg for i in range(5) for arg in ("--row", i)],
        "--top",
        12,
        "--out",
        tmp_path / "explained.json",
    )
    assert explained.exit_code == 0, explained.output

    # The model's own data: every other check (the membership attack needs its training rows),
    # the PII scan of the training data, the model card and a de-identified copy.
    full = tmp_path / "full"
    everything = rai(
        "audit",
        "--model",
        model,
        "--data",
        planted / "training.csv",
        "--label",
        "released",
        "--sensitive",
        "colour",
        "--scan-pii",
        "--robustness",
        "--membership-attack",
        "--shadows",
        2,
        "--n-bootstrap",
        100,
        "--out",
        full,
    )
    assert everything.exit_code == 0, everything.output
    carded = rai("model-card", full / "evidence.json", "--out", tmp_path / "MODEL_CARD.md")
    assert carded.exit_code == 0, carded.output
    deidentified = tmp_path / "deidentified.csv"
    scanned = rai(
        "scan-pii",
        "--data",
        planted / "training.csv",
        "--anonymize",
        deidentified,
        "--out",
        tmp_path / "scan",
    )
    assert scanned.exit_code == 0, scanned.output
    # A student (the audited rows, with the planted values, as unlabelled rows) and int8.
    distilled = rai(
        "distill",
        "--teacher",
        model,
        "--data",
        planted / "training.csv",
        "--unlabelled",
        planted / "audited.csv",
        "--epochs",
        1,
        "--quiet",
        "--out",
        tmp_path / "student",
    )
    assert distilled.exit_code == 0, distilled.output
    compressed = rai("compress", model, "--int8", "--out", tmp_path / "int8")
    assert compressed.exit_code == 0, compressed.output

    assert _walk(tmp_path) == {}
    assert _leaks(deidentified.read_text()) == []
    assert [_leaks(text) for text in printed if _leaks(text)] == []
    # Each planted value is still reported, masked, with its type and column.
    pii = json.loads((full / "evidence.json").read_text())["results"]["pii"]
    found = {(c["column"], e["entity_type"]) for c in pii["columns"] for e in c["entities"]}
    for entity in ("CREDIT_CARD", "EMAIL_ADDRESS", "US_SSN", "PHONE_NUMBER", "PERSON"):
        assert ("note", entity) in found, entity
    samples = [m for c in pii["columns"] for e in c["entities"] for m in e["masked_samples"]]
    for masked in ("************1111", "c***@***.org", "J*** C**********", "***-**-6789"):
        assert masked in samples
    # The values were there to leak, and the outputs say they were masked.
    assert "district = J*** C********** (masked)" in explained.output
    assert "note: " in explained.output and "masked" in explained.output
    evidence = json.loads((audit / "evidence.json").read_text())
    ex = evidence["results"]["explanations"]
    shown = [f for row in ex["local"] for f in row["features"]]
    planted_values = [f for f in shown if f["feature"] in ("district", "account")]
    assert planted_values and all(f["masked"] for f in planted_values)
    # Rare levels of the other columns in these 40 rows are masked too.
    assert ex["n_values_masked"] >= len({(f["feature"], f["value"]) for f in planted_values})
    assert any(f["code"] == "values_masked" for f in ex["findings"])
    assert "Masked values" in (tmp_path / "r.html").read_text()
    assert "Masked values" in (tmp_path / "r.md").read_text()
    config = (model / "config.json").read_text()
    assert '"__other__"' in config and '"north"' in config
