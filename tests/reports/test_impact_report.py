"""The impact and compliance report: sections, traffic lights, formats, goldens and escaping."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from raikit import reports
from raikit.audit.impact.concerns import CONCERNS
from raikit.reports._markdown import md_escape
from tests.reports._html import table, visible_text
from tests.reports.conftest import EXAMPLES, build_evidence, build_full_evidence

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("RAIKIT_UPDATE_GOLDEN") == "1"
HEADINGS = [
    "Executive summary",
    "Risk register",
    "Framework coverage",
    "What was audited",
    *[c.title for c in CONCERNS],
    "Policy gate",
    "Findings",
    "Provenance",
    "Glossary",
]


@pytest.fixture(scope="module")
def full_html(full_evidence):
    return reports.render(full_evidence)


def h2_texts(html: str) -> list[str]:
    texts = re.findall(r"<h2>(.*?)</h2>", html, flags=re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", t)).strip() for t in texts]


def test_report_order_summary_register_matrix_details_provenance_glossary(full_html):
    titles = h2_texts(full_html)
    positions = [next(i for i, t in enumerate(titles) if t.startswith(h)) for h in HEADINGS]
    assert positions == sorted(positions)


def test_traffic_light_row_for_every_concern_never_omitted(html):
    # The bare fixture has no impact assessment: unassessed concerns still get a row.
    lights = table(html, "One row per societal concern")
    assert [row[0] for row in lights["rows"][1:]] == [c.title for c in CONCERNS]
    status = {row[0]: row[1] for row in lights["rows"][1:]}
    assert status["Bias and fairness"] == "Measured"
    assert status["Accountability"] == status["Diversity"] == "Not assessed"
    assert "Not assessed: no measurement and no impact assessment" in visible_text(html)


def test_full_report_lights_and_register(full_html):
    lights = {r[0]: r for r in table(full_html, "One row per societal concern")["rows"][1:]}
    assert lights["Bias and fairness"][1:3] == ["Measured", "High"]
    assert lights["Employment and productivity"][1] == "Assessed"
    # 11 scored or declared risks and the science concern, assessed but not scored.
    register = table(full_html, "12 risks, highest score first")
    first = register["rows"][1]
    assert first[:6] == [
        "bias",
        "Black arrestees are recommended for release less often than white arrestees.",
        "5",
        "5",
        "25",
        "High",
    ]
    assert 'class="light light-red"' in full_html


def test_coverage_matrix_and_tier(full_html):
    text = visible_text(full_html)
    assert "Annex III(6): law enforcement" in text
    matrix = table(full_html, "Coverage matrix")
    header = matrix["rows"][1]
    assert header == [
        "Art. 9",
        "Art. 10",
        "Art. 11",
        "Art. 13",
        "Art. 14",
        "Art. 15",
        "Govern",
        "Map",
        "Measure",
        "Manage",
    ]
    rows = {r[0]: r[1:] for r in matrix["rows"][2:]}
    assert rows["Group fairness (rates and disparities by group) measurement"][1] == "●"
    assert rows["Membership-inference attack measurement"][5] == "○"


def test_gate_section_and_glossary(full_html):
    checks = table(full_html, f"{len(build_full_evidence().gate.checks)} checks")
    assert ["not measured", "max_membership_auc", "model", "AUC <= 0.6", "not measured"] in checks[
        "rows"
    ]
    text = visible_text(full_html)
    for term in (
        "Demographic parity difference",
        "Equalized odds difference",
        "ROC AUC",
        "Expected calibration error (ECE)",
        "Membership-inference AUC",
    ):
        assert term in text


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"set RAIKIT_UPDATE_GOLDEN=1 to refresh {name}"


def test_markdown_golden(full_evidence):
    check_golden("report.md", reports.render(full_evidence, "md"))


def test_model_card_golden(full_evidence):
    check_golden("model_card.md", reports.render(full_evidence, "model-card"))


def test_model_card_front_matter_is_hugging_face_metadata(full_evidence):
    card = reports.render(full_evidence, "model-card")
    assert card.startswith("---\n")
    meta = yaml.safe_load(card.split("---\n", 2)[1])
    [model] = meta["model-index"]
    assert model["name"] == "Release recommendation assistant (demo)"
    metrics = {m["name"]: m["value"] for m in model["results"][0]["metrics"]}
    assert metrics["accuracy"] == 0.846
    for heading in (
        "## Model details",
        "## Intended use",
        "## Training data",
        "## Evaluation results",
        "### Results per group",
        "## Limitations",
        "## Ethical considerations",
    ):
        assert heading in card


HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "[click](javascript:alert(3))",
    "a | b | c",
    "line one\n## injected heading",
    "`code` *bold* _it_ ~~del~~ &amp;",
]


def hostile_impact() -> str:
    text = (EXAMPLES / "impact.yaml").read_text()
    for original, bad in [
        ('"Release recommendation assistant (demo)"', HOSTILE[0]),
        ('"Responsible AI office"', HOSTILE[1]),
        ('"duty officers"', HOSTILE[2]),
        ('"Score used as the decision itself, without review."', HOSTILE[3]),
        ('"Weights stored in the internal registry; no public endpoint."', HOSTILE[4]),
    ]:
        assert original in text
        text = text.replace(original, yaml.safe_dump(bad, default_style='"').strip())
    quoted = yaml.safe_dump(HOSTILE[5], default_style='"').strip()
    return re.sub(r"(?m)^  team: .*$", f"  team: {quoted}", text)


@pytest.fixture(scope="module")
def hostile_evidence():
    # Hostile data too: a group value and the data source name.
    evidence = build_full_evidence(
        hostile_impact(), extra_group="<script>alert(4)</script> | x", source=HOSTILE[2]
    )
    return evidence.model_copy(update={"title": HOSTILE[1]})


def test_hostile_impact_strings_are_escaped_in_html(hostile_evidence):
    html = reports.render(hostile_evidence)
    lowered = html.lower()
    assert "<script" not in lowered and "<img src=x" not in lowered
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    text = visible_text(html)
    for bad in HOSTILE[:4]:
        assert bad in text


def test_hostile_strings_are_inert_in_markdown(hostile_evidence):
    markdown = reports.render(hostile_evidence, "md")
    assert "<script" not in markdown and "<img" not in markdown
    assert not re.search(r"(?<!\\)\]\(javascript:", markdown)
    assert "\n## injected" not in markdown
    # Every table row keeps its column count: no unescaped pipe from the data.
    for block in re.findall(r"(?:^\|.*\n)+", markdown, flags=re.M):
        counts = {len(re.findall(r"(?<!\\)\|", line)) for line in block.splitlines()}
        assert len(counts) == 1, block


def test_hostile_strings_in_the_model_card(hostile_evidence):
    card = reports.render(hostile_evidence, "model-card")
    front, body = card.split("---\n", 2)[1:]
    assert yaml.safe_load(front)["model-index"][0]["name"] == HOSTILE[0]
    assert "<script" not in body and "<img" not in body
    assert not re.search(r"(?<!\\)\]\(javascript:", body)


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("a|b", "a\\|b"),
        ("<b>", "&lt;b&gt;"),
        ("[x](y)", "\\[x\\](y)"),
        ("1\n2", "1 2"),
        ("a_b*c`d", "a\\_b\\*c\\`d"),
    ],
)
def test_md_escape(value, escaped):
    assert md_escape(value) == escaped


def test_pdf_without_weasyprint_is_one_line_naming_the_extra(monkeypatch, evidence):
    import builtins

    from raikit.models.errors import ConfigError

    real_import = builtins.__import__

    def no_weasyprint(name, *args, **kwargs):
        if name == "weasyprint":
            raise ImportError("No module named 'weasyprint'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_weasyprint)
    with pytest.raises(ConfigError, match=r"raikit\[pdf\]") as info:
        reports.render(evidence, "pdf")
    assert "\n" not in str(info.value)


def test_pdf_is_printed_when_weasyprint_is_installed():
    from raikit.models.errors import ConfigError
    from raikit.reports._pdf import require_weasyprint

    try:
        require_weasyprint()
    except ConfigError as exc:
        pytest.skip(str(exc))
    # weasyprint lays out the whole document (~10 s here); charts add little.
    pdf = reports.render(build_evidence(), "pdf")
    assert isinstance(pdf, bytes) and pdf.startswith(b"%PDF-") and len(pdf) > 10_000
    # The seven SVG charts are embedded as vector forms (a report without charts has 2).
    assert pdf.count(b"/Subtype /Form") > 2 + 7


FRONT_MATTER_HOSTILE = [
    "a: b\n---\nevil: injected",
    "x\u2028---\u2029evil: 1\x85...",
    "--- # not a comment",
    "...",
    "'single' \"double\" `back`",
    "key: [1, 2] {a: 1} &anchor *ref",
    "!!python/object/apply:os.system ['echo']",
    "\ttab\r\nand\x00nul \ufeff",
    "x" * 300,
]


@pytest.mark.parametrize("hostile", FRONT_MATTER_HOSTILE)
def test_model_card_front_matter_round_trips_hostile_values(hostile):
    evidence = build_full_evidence(source=hostile)
    fairness = evidence.result("fairness")
    attributes = [a.model_copy(update={"attribute": hostile}) for a in fairness.attributes]
    results = {
        **evidence.results,
        "fairness": fairness.model_copy(update={"attributes": attributes}),
    }
    impact = evidence.impact.model_copy(update={"system_name": hostile})
    evidence = evidence.model_copy(update={"results": results, "impact": impact})
    card = reports.render(evidence, "model-card")
    # The front matter ends at the first line that is "---", however the lines are split.
    lines = card.split("\n")
    end = lines.index("---", 1)
    assert lines[0] == "---" and card.splitlines()[: end + 1] == lines[: end + 1]
    meta = yaml.safe_load("\n".join(lines[1:end]))
    assert list(meta) == ["library_name", "tags", "model-index"]
    [model] = meta["model-index"]
    assert list(model) == ["name", "results"] and model["name"] == hostile
    [result] = model["results"]
    assert result["dataset"] == {"name": hostile, "type": hostile}
    names = {m["name"] for m in result["metrics"]}
    assert {f"demographic_parity_difference ({hostile})", "accuracy"} <= names
