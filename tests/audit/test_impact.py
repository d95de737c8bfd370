"""impact.yaml: schema, errors that name field and line, template, and `rai impact init`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

from raikit.audit.cli import app
from raikit.audit.impact import (
    ImpactAssessment,
    attach_impact,
    impact_template,
    load_impact,
    parse_impact,
    placeholder_fields,
)
from raikit.models.errors import ConfigError
from tests.reports.conftest import EXAMPLES, build_evidence

MINIMAL = """\
system_name: Loan screening
intended_use:
  description: Ranks loan applications for review
  users: [loan officers]
deployment:
  domain: finance
accountability:
  owner: Credit risk team
  contact: risk@example.org
  review_date: 2027-01-31
"""


def test_minimal_assessment_loads_and_leaves_the_rest_unassessed():
    impact = parse_impact(MINIMAL)
    assert impact.deployment.domain == "finance"
    assert impact.accountability.review_date == dt.date(2027, 1, 31)
    assert impact.human_oversight is None and impact.misuse == []
    assert impact.has("accountability.owner")
    assert not impact.has("human_oversight")
    assert not impact.has("affected_groups")


def test_example_impact_file_is_valid_and_complete():
    impact = load_impact(EXAMPLES / "impact.yaml")
    assert placeholder_fields(impact) == []
    for field in type(impact).model_fields:
        assert impact.has(field), field


# (mutation of MINIMAL, expected line, expected field, expected words)
BAD = [
    (("domain: finance", "domain: heathcare"), 6, "deployment.domain", "'heathcare'"),
    (("  owner: Credit risk team\n", ""), 7, "accountability.owner", "required"),
    (
        ("review_date: 2027-01-31", "review_date: next year"),
        10,
        "accountability.review_date",
        "date",
    ),
    (("  users: [loan officers]", "  users: []"), 4, "intended_use.users", "at least 1"),
    (
        ("system_name: Loan screening", "system_nme: Loan screening"),
        1,
        "system_nme",
        "not a known field",
    ),
    (
        ("deployment:\n  domain: finance", "deployment:\n  domain: finance\n  automated: yes"),
        7,
        "deployment.automated",
        "not a known field",
    ),
]


@pytest.mark.parametrize(("change", "line", "field", "words"), BAD)
def test_errors_name_the_field_and_the_line(change, line, field, words):
    text = MINIMAL.replace(*change)
    assert text != MINIMAL
    with pytest.raises(ConfigError) as info:
        parse_impact(text)
    message = str(info.value)
    assert message.startswith(f"impact.yaml line {line}: field '{field}'"), message
    assert words in message


def test_error_in_a_list_item_names_its_index_and_line():
    text = (
        MINIMAL
        + "misuse:\n  - scenario: s\n    mitigation: m\n    likelihood: 9\n    severity: 2\n"
    )
    with pytest.raises(
        ConfigError, match=r"line 14: field 'misuse\.0\.likelihood'.*less than or equal to 5"
    ):
        parse_impact(text)


def test_unknown_risk_concern_lists_the_known_ones():
    text = (
        MINIMAL
        + "risks:\n  - {concern: bais, description: d, likelihood: 2, severity: 2, mitigation: m}\n"
    )
    with pytest.raises(
        ConfigError, match=r"line 12: field 'risks\.0\.concern'.*one of bias, privacy"
    ):
        parse_impact(text)


@pytest.mark.parametrize(
    ("text", "words"),
    [("system_name: [unclosed", "line 1: not valid YAML"), ("- a list", "expected a mapping")],
)
def test_broken_yaml_is_one_line(text, words):
    with pytest.raises(ConfigError, match=words):
        parse_impact(text)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="impact assessment file '.*nope.yaml' not found"):
        load_impact(tmp_path / "nope.yaml")


def test_template_loads_and_its_placeholders_are_findings():
    impact = parse_impact(impact_template())
    todo = placeholder_fields(impact)
    assert "system_name" in todo and "accountability.owner" in todo
    assert not impact.has("accountability.owner")
    evidence = attach_impact(build_evidence(), impact)
    finding = evidence.findings[-1]
    assert finding.code == "impact_placeholder" and "accountability.owner" in finding.message


def test_an_untouched_template_assesses_nothing_and_classifies_nothing():
    from raikit.audit.impact.concerns import CONCERNS, concern_status
    from raikit.audit.policy import Policy, check

    evidence = attach_impact(build_evidence(), parse_impact(impact_template()))
    assert evidence.verdicts.framework.tier.tier == "unknown"  # domain "other" is no answer
    # Only the fields a template fills without a TODO may count as assessed.
    assessed = {f for c in CONCERNS for f in concern_status(evidence, c).assessed_by}
    assert assessed <= {"automation", "environment", "productivity_claims"}
    assert "human_oversight" not in assessed and "data_provenance" not in assessed
    required = ["human_oversight", "data_provenance", "intended_use", "accountability"]
    gate = check(evidence, Policy.model_validate({"impact": {"required": required}}))
    assert [c.status for c in gate.checks] == ["fail"] * len(required)


def test_template_answers_are_quoted_so_any_text_stays_one_value():
    hostile = 'x: "y"\n# <script>alert(1)</script>: {a: b}'
    impact = parse_impact(impact_template({"system_name": hostile, "domain": "justice"}))
    assert impact.system_name == hostile
    assert impact.deployment.domain == "justice"


runner = CliRunner()


def test_impact_init_writes_the_template_without_a_terminal(tmp_path):
    out = tmp_path / "impact.yaml"
    result = runner.invoke(app, ["impact", "init", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert isinstance(load_impact(out), ImpactAssessment)
    assert "# Societal-impact assessment" in out.read_text()
    again = runner.invoke(app, ["impact", "init", "--out", str(out)])
    assert again.exit_code == 2 and "--force" in again.output


def test_impact_init_asks_the_questions(tmp_path):
    out = tmp_path / "impact.yaml"
    answers = "\n".join(
        ["Triage bot", "Routes patient messages", "nurses", "Clinical AI board"]
        + ["ai@example.org", "health", "healthcare", ""]
    )
    result = runner.invoke(
        app, ["impact", "init", "--out", str(out), "--interactive"], input=answers
    )
    assert result.exit_code == 0, result.output
    impact = load_impact(out)
    assert impact.system_name == "Triage bot"
    assert impact.intended_use.users == ["nurses"]
    assert impact.deployment.domain == "healthcare"  # "health" is refused, then asked again
    assert impact.accountability.contact == "ai@example.org"


def test_audit_rejects_a_bad_impact_file_before_auditing(tmp_path):
    bad = tmp_path / "impact.yaml"
    bad.write_text(MINIMAL.replace("finance", "fiance"))
    result = runner.invoke(
        app,
        [
            "audit",
            "--predictions",
            "missing.csv",
            "--sensitive",
            "g",
            "--impact",
            str(bad),
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 2
    assert "line 6: field 'deployment.domain'" in result.output
    assert not (tmp_path / "out").exists()


def test_examples_are_shipped_as_files():
    for name in ("impact.yaml", "policy.yaml", "github-actions.yml"):
        assert (EXAMPLES / name).is_file()
    assert (
        "rai gate" in (EXAMPLES / "policy.yaml").read_text()
        or "--policy" in Path(EXAMPLES / "github-actions.yml").read_text()
    )
