"""`rai report --format`, `rai model-card` and the PDF error path, through the CLI."""

from __future__ import annotations

import builtins

import pytest
import yaml
from typer.testing import CliRunner

from raikit.audit.cli import app
from raikit.audit.evidence import save_evidence
from tests.reports.conftest import build_evidence, build_full_evidence

runner = CliRunner()


@pytest.fixture(scope="module")
def evidence_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("report-cli") / "evidence.json"
    save_evidence(build_full_evidence(), path)
    return path


def test_report_markdown(tmp_path, evidence_file):
    out = tmp_path / "report.md"
    result = runner.invoke(app, ["report", str(evidence_file), "--format", "md", "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# Income classifier audit: impact and compliance report")
    assert "## Risk register" in text and "## Glossary" in text


def test_report_default_name_follows_the_format(tmp_path, evidence_file, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["report", str(evidence_file), "--format", "md"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "report.md").is_file()


def test_unknown_format_is_exit_2(tmp_path, evidence_file):
    result = runner.invoke(app, ["report", str(evidence_file), "--format", "docx"])
    assert result.exit_code == 2
    assert result.output == "error: --format must be one of html, md, pdf; got 'docx'\n"


def test_pdf_without_the_extra_is_one_line_exit_2(tmp_path, evidence_file, monkeypatch):
    real_import = builtins.__import__

    def no_weasyprint(name, *args, **kwargs):
        if name == "weasyprint":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_weasyprint)
    out = tmp_path / "report.pdf"
    result = runner.invoke(
        app, ["report", str(evidence_file), "--format", "pdf", "--out", str(out)]
    )
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "pip install 'raikit[pdf]'" in result.output
    assert not out.exists()


def test_model_card(tmp_path, evidence_file):
    out = tmp_path / "card" / "README.md"
    result = runner.invoke(app, ["model-card", str(evidence_file), "--out", str(out)])
    assert result.exit_code == 0, result.output
    card = out.read_text(encoding="utf-8")
    meta = yaml.safe_load(card.split("---\n", 2)[1])
    assert meta["library_name"] == "raikit"
    assert "## Evaluation results" in card
    again = runner.invoke(app, ["model-card", str(evidence_file), "--out", str(out)])
    assert again.exit_code == 2 and "--force" in again.output


def test_model_card_without_impact_says_not_assessed(tmp_path):
    path = tmp_path / "evidence.json"
    save_evidence(build_evidence(), path)
    out = tmp_path / "README.md"
    assert runner.invoke(app, ["model-card", str(path), "--out", str(out)]).exit_code == 0
    card = out.read_text(encoding="utf-8")
    assert "Not assessed: no impact assessment was given." in card
    assert "- Accountability was not assessed." in card
