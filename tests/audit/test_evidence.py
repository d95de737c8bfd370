import json
import math

import pytest

from raikit.audit.evidence import SCHEMA_VERSION, load_evidence, save_evidence
from raikit.audit.predictor import load_predictor
from raikit.audit.runner import AuditConfig, run_audit
from raikit.audit.types import Interval
from raikit.models.errors import DataError
from raikit.reports import render


@pytest.fixture(scope="module")
def evidence(arrests_table, arrests_model):
    config = AuditConfig(label="released", sensitive=("sex",), n_bootstrap=200)
    return run_audit(arrests_table, config, load_predictor(arrests_model.path))


def test_round_trip_is_lossless(evidence, tmp_path):
    path = tmp_path / "evidence.json"
    save_evidence(evidence, path)
    assert load_evidence(path) == evidence
    raw = json.loads(path.read_text())
    assert raw["schema_version"] == SCHEMA_VERSION
    assert "NaN" not in path.read_text()


def test_schema_1_0_files_are_read_and_judged(evidence, tmp_path):
    """A 1.0 file kept each result in a top-level field and had no sections or verdicts."""
    raw = json.loads(evidence.model_dump_json())
    old = {k: v for k, v in raw.items() if k not in ("results", "sections", "verdicts")}
    old.update(raw["results"], schema_version="1.0")
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    loaded = load_evidence(path)
    assert loaded.schema_version == SCHEMA_VERSION == "2.1"
    assert loaded.results == evidence.results
    assert loaded.sections == evidence.sections
    assert loaded.verdicts == evidence.verdicts
    assert "Group fairness" in render(loaded, "md")


def test_nan_becomes_null_never_nan_in_json():
    assert Interval(value=math.nan, lower=0.1, upper=math.nan).model_dump() == {
        "value": None,
        "lower": 0.1,
        "upper": None,
    }


def test_all_findings_gathers_every_section(evidence):
    codes = [f.code for f in evidence.all_findings()]
    assert codes[0] == "no_dp"
    assert len(codes) == len(evidence.findings) + len(
        evidence.result("performance").findings
    ) + len(evidence.result("fairness").findings)


def test_schema_2_0_files_are_read_as_the_current_schema(evidence, tmp_path):
    """2.1 only added ``reproduction``: a 2.0 file (which has none) reads unchanged."""
    raw = json.loads(evidence.model_dump_json())
    del raw["reproduction"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps({**raw, "schema_version": "2.0"}))
    loaded = load_evidence(path)
    assert loaded.schema_version == "2.1" and loaded.reproduction is None
    assert loaded == evidence


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "does not hold a JSON object"),
        (
            '{"schema_version": "0.1"}',
            "has schema_version '0.1'; this raikit reads '1.0', '2.0', '2.1'",
        ),
        ('{"schema_version": "1.0", "title": "t"}', "is invalid at 'data': Field required"),
    ],
)
def test_bad_evidence_files(tmp_path, content, message):
    path = tmp_path / "e.json"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        load_evidence(path)


def test_missing_evidence_file(tmp_path):
    with pytest.raises(DataError, match="evidence file '.*nope.json' not found"):
        load_evidence(tmp_path / "nope.json")
