"""The HTML report: structure, figures, escaping, self-containment and determinism."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from raikit import reports
from raikit.models.errors import ConfigError, DataError
from raikit.reports._render import _environment
from tests.reports._html import read, table, visible_text

TEMPLATES = Path(reports.__file__).parent / "templates"
SECTIONS = (
    "audited",
    "summary",
    "performance",
    "fairness",
    "mitigation",
    "findings",
    "provenance",
)


def test_one_complete_document(html):
    assert html.startswith("<!DOCTYPE html>")
    assert html.count("<html") == 1 and html.rstrip().endswith("</html>")
    ids = {attrs.get("id") for _, attrs in read(html).tags}
    for section in SECTIONS:
        assert section in ids
    # The fixture measures performance and fairness: their sections report figures.
    for measured in ("performance", "fairness"):
        section = html.split(f'<section id="{measured}">', 1)[1].split("</section>", 1)[0]
        assert "not assessed" not in section


def test_self_contained_no_scripts_no_fetches(html):
    lowered = html.lower()
    assert "<script" not in lowered
    assert "<link" not in lowered
    assert "@import" not in lowered
    assert "http://" not in lowered and "https://" not in lowered
    for tag, attrs in read(html).tags:
        for name in ("src", "href", "srcset", "action", "poster"):
            value = attrs.get(name)
            if value is not None:
                assert value.startswith(("data:image/svg+xml;base64,", "#")), (tag, name)


def test_charts_are_svg_images_with_alt_text(html):
    images = [attrs for tag, attrs in read(html).tags if tag == "img"]
    # Two charts per attribute (3 attributes), the reliability curve, the mitigation trade-off.
    assert len(images) == 8
    for attrs in images:
        assert attrs["alt"] and len(attrs["alt"]) > 40
        svg = base64.b64decode(attrs["src"].split(",", 1)[1]).decode("utf-8")
        assert svg.lstrip().startswith("<?xml") and "<svg" in svg
        assert "<script" not in svg.lower()
    alts = " ".join(a["alt"] for a in images)
    assert "Female (n=980): selection rate 0.082 [0.066, 0.100]" in alts
    assert "Amer-Indian-Eskimo (n=12, small group)" in alts
    assert "Expected calibration error 0.021" in alts


def test_what_was_audited(html):
    text = visible_text(html)
    assert "Income classifier audit" in text
    assert "Data source adult_test.csv" in text
    assert "Rows audited 3,000 of 16,281 (random sample of the test split, seed 7)" in text
    assert "Positive label >50K" in text
    assert "raikit-checkpoint · tabular-mlp (2 x 64, ReLU)" in text


def test_group_table_has_the_fixture_figures(html):
    sex = table(html, "Per-group metrics for sex:")
    header, female, male = sex["rows"]
    assert header[:4] == ["Group", "n", "Actual positives", "Selection rate"]
    assert header[4:] == ["TPR", "FPR", "FNR", "Precision", "Accuracy"]
    # Female: 80 of 980 selected, 62 of 110 positives caught, 18 of 870 negatives flagged.
    assert female == [
        "Female",
        "980",
        "110",
        "0.082 [0.066, 0.100]",
        "0.564 [0.470, 0.653]",
        "0.021 [0.013, 0.032]",
        "0.436 [0.347, 0.530]",
        "0.775 [0.672, 0.853]",
        "0.933 [0.915, 0.947]",
    ]
    assert male[:4] == ["Male", "2,020", "630", "0.256 [0.238, 0.276]"]


def test_small_group_marked_and_undefined_metric_reads_na(html):
    race = table(html, "Per-group metrics for race:")
    rows = {row[0]: (row, cls) for row, cls in zip(race["rows"], race["row_classes"], strict=True)}
    small_row, small_class = rows["Amer-Indian-Eskimo small"]
    assert small_class == "small-row"
    assert rows["White"][1] == ""
    # No actual positives: TPR and FNR undefined; nothing predicted positive: precision too.
    assert small_row[1:] == [
        "12",
        "0",
        "0.000 [0.000, 0.242]",
        "n/a",
        "0.000 [0.000, 0.242]",
        "n/a",
        "n/a",
        "1.000 [0.758, 1.000]",
    ]
    text = visible_text(html)
    assert "Left out of this comparison as too small to conclude anything" in text
    assert "no conclusion should be drawn from them" in text
    assert "undefined for race=Amer-Indian-Eskimo" in text


def test_disparities_and_performance_tables(html):
    disparities = table(html, "Disparities across the groups of sex")
    dp_row = disparities["rows"][1]
    assert dp_row[:3] == ["Demographic parity difference", "0.175", "[0.145, 0.205]"]
    metrics = table(html, "Performance metrics")
    assert ["ROC AUC", "0.901", "[0.890, 0.912]"] in metrics["rows"]
    confusion = table(html, "Rows: actual class")
    assert confusion["rows"][1:] == [
        ["<=50K", "2,100", "160", "2,260"],
        [">50K", "302", "438", "740"],
    ]
    bins = table(html, "Reliability bins")
    assert bins["rows"][-1] == ["0.90–1.00", "0", "n/a", "n/a"]
    assert "Expected calibration error (ECE): 0.021" in visible_text(html)


def test_summary_and_findings_and_provenance(html):
    text = visible_text(html)
    assert (
        "For sex, the rate of positive decisions (predicted '>50K') is highest for Male: "
        "0.256 [0.238, 0.276] (n=2,020) and lowest for Female: 0.082 [0.066, 0.100] (n=980)."
    ) in text
    assert "Clear difference" in text and "Too small to conclude" in text
    findings = table(html, "6 findings")
    assert [r[0] for r in findings["rows"][1:]] == ["warning"] * 3 + ["info"] * 3
    hashes = table(html, "Files the evidence was computed from")
    assert ["model: model.safetensors", "a" * 64] in hashes["rows"]
    training = table(html, "Training record summary")
    assert ["privacy.epsilon", "2.94"] in training["rows"]
    assert ["privacy.history", "(1.1, 0.0079, 1524)"] in training["rows"]
    assert "2025-11-24T18:30:00+00:00" in text


@pytest.mark.parametrize(
    ("missing", "concern", "title"),
    [
        ("performance", "service_quality", "Performance and calibration"),
        ("fairness", "bias", "Group fairness (rates and disparities by group)"),
        ("mitigation", "bias", "Bias mitigation"),
    ],
)
def test_missing_section_says_not_measured(make_evidence, missing, concern, title):
    evidence = make_evidence(**{f"with_{missing}": False})
    html = reports.render(evidence)
    ids = {attrs.get("id") for _, attrs in read(html).tags}
    assert set(SECTIONS) - {missing, "summary" if missing == "fairness" else ""} <= ids
    assert missing not in ids
    section = html.split(f'<section id="concern-{concern}"', 1)[1].split("<h3>Impact", 1)[0]
    not_measured = section.split('<p class="not-assessed">Not measured: ', 1)[1].split("</p>")[0]
    assert title in not_measured.rstrip(".").split("; ")


def test_no_calibration_and_no_training_record(evidence):
    performance = evidence.result("performance").model_copy(update={"calibration": None})
    model = evidence.model.model_copy(update={"training": None})
    html = reports.render(
        evidence.with_result("performance", performance).model_copy(update={"model": model})
    )
    text = visible_text(html)
    assert "Calibration: not assessed" in text
    assert "No training record" in text
    assert len([t for t, _ in read(html).tags if t == "img"]) == 7


HOSTILE_GROUP = "<script>alert(1)</script>"
HOSTILE_SOURCE = '"><img src=x onerror=alert(1)>'


def test_hostile_strings_are_escaped(make_evidence):
    evidence = make_evidence(source=HOSTILE_SOURCE, extra_group=HOSTILE_GROUP)
    evidence = evidence.model_copy(update={"title": "</title><script>alert(2)</script>"})
    html = reports.render(evidence)
    lowered = html.lower()
    assert "<script" not in lowered
    assert "<img src=x" not in lowered
    assert '"><img' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    # The group is in the table and in the chart descriptions, as text only.
    reader = read(html)
    assert HOSTILE_GROUP in visible_text(html)
    assert any(HOSTILE_GROUP in (attrs.get("alt") or "") for _, attrs in reader.tags)
    assert HOSTILE_SOURCE in visible_text(html)
    for _tag, attrs in reader.tags:
        assert not any(name.startswith("on") for name in attrs)


def test_autoescape_is_on_for_html_j2_templates():
    environment = _environment()
    template = environment.get_template("_findings.html.j2")
    assert template.environment.autoescape is True
    rendered = environment.from_string("{{ x }}").render(x="<b>")
    assert rendered == "&lt;b&gt;"


def test_templates_never_mark_data_safe():
    for path in TEMPLATES.glob("*.j2"):
        source = path.read_text(encoding="utf-8")
        assert "|safe" not in source.replace(" ", ""), path.name
        assert "autoescape false" not in source, path.name


def test_deterministic_in_process(evidence, html):
    assert reports.render(evidence) == html


def test_deterministic_across_processes(evidence, html, tmp_path):
    source = tmp_path / "evidence.json"
    source.write_text(evidence.model_dump_json(), encoding="utf-8")
    output = tmp_path / "report.html"
    code = (
        "import json, sys, reports; from pathlib import Path; "
        "html = reports.render(json.loads(Path(sys.argv[1]).read_text())); "
        "Path(sys.argv[2]).write_text(html, encoding='utf-8')"
    )
    subprocess.run([sys.executable, "-c", code, str(source), str(output)], check=True)
    assert output.read_text(encoding="utf-8") == html


def test_dict_input_renders_like_the_model(evidence, html):
    raw = json.loads(evidence.model_dump_json())
    assert reports.render(raw) == html


def test_invalid_dict_raises_data_error(evidence):
    raw = json.loads(evidence.model_dump_json())
    del raw["data"]["source"]
    with pytest.raises(DataError, match=r"evidence is invalid at 'data\.source'"):
        reports.render(raw)
    with pytest.raises(DataError, match="got list instead"):
        reports.render([1, 2])


@pytest.mark.parametrize("fmt", ["docx", "HTML", "markdown", ""])
def test_unknown_format_names_supported_ones(evidence, fmt):
    with pytest.raises(ConfigError, match=r"is not supported; use one of: 'html'"):
        reports.render(evidence, fmt)


def test_write_preview(html, tmp_path_factory):
    # For eyeballing: the fixture report where a browser can open it (path printed with -s).
    path = tmp_path_factory.mktemp("preview") / "raikit_report_preview.html"
    path.write_text(html, encoding="utf-8")
    print(f"report preview: {path}")
    assert path.stat().st_size > 10_000
