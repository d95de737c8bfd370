"""Explanations of text and image models, the report views, and `rai explain` / `rai audit
--explain` end to end."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from raikit.audit.cli import app
from raikit.audit.explain import ExplainConfig, assess_explanations, explain_rows
from raikit.audit.predictor import load_predictor
from raikit.audit.runner import AuditConfig, run_audit
from raikit.audit.torch_model import torch_model
from raikit.models.data import LoadedTable, load_table
from raikit.models.text import words
from raikit.models.train import TrainSpec, train
from raikit.reports import render
from tests.reports._html import table

FAST = ExplainConfig(n_rows=48, n_bootstrap=100, quality_rows=6, n_perturb_samples=3)
runner = CliRunner()


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _tiny(name: str, rows: int) -> LoadedTable:
    table = load_table(name)
    frame = table.frame.sample(n=rows, random_state=0).reset_index(drop=True)
    return LoadedTable(frame, table.source, table.sha256, table.spec)


@pytest.fixture(scope="module")
def rnn(tmp_path_factory):
    table = _tiny("identity-text", 120)
    spec = TrainSpec(label="sentiment", arch="rnn", epochs=2, batch_size=16, max_length=10)
    path = tmp_path_factory.mktemp("rnn") / "model"
    train(table, spec, path, progress=False)
    return table, path


@pytest.fixture(scope="module")
def cnn(tmp_path_factory):
    table = _tiny("digits", 120)
    spec = TrainSpec(label="digit", arch="cnn", epochs=1, batch_size=16)
    path = tmp_path_factory.mktemp("cnn") / "model"
    train(table, spec, path, progress=False)
    return table, path


def test_text_attributions_are_per_word_and_complete(rnn):
    table, path = rnn
    predictor = load_predictor(path)
    frame = table.frame.iloc[:4]
    result = explain_rows(predictor, frame, config=FAST, count_rare=False)
    assert result.method == "layer-integrated-gradients"
    assert result.baselines.startswith("padding token (id 0)")
    logits_gap = []
    for row, text in zip(result.rows, frame["text"], strict=True):
        assert [t.text for t in row.tokens] == words(text)[:10]
        logits_gap.append(sum(t.score for t in row.tokens))
        assert abs(row.convergence_delta) < 1e-3
    # Completeness against the model itself: f(ids) - f(all padding) for the predicted class.
    model = torch_model(predictor)
    (ids,) = model.encode(frame)
    with torch.no_grad():
        logits = model.module(ids)
        empty = model.module(torch.zeros_like(ids))
    target = logits.argmax(dim=1)
    gap = (logits - empty).gather(1, target[:, None])[:, 0].numpy()
    np.testing.assert_allclose(logits_gap, gap, atol=1e-3)
    # The quality measures hook the embedding layer; every hook is gone afterwards.
    assess_explanations(predictor, table.frame, config=FAST)
    for layer in model.module.modules():
        assert not layer._forward_hooks and not layer._forward_pre_hooks
        assert not layer._backward_hooks


def _audit(table, path, sensitive, explain=FAST):
    config = AuditConfig(label=table.spec.label, sensitive=sensitive, n_bootstrap=100, rows="all")
    return run_audit(table, config, load_predictor(path), {"explanations": explain})


def test_text_report_highlights_words_and_escapes_them(rnn):
    table, path = rnn
    evidence = _audit(table, path, ("identity",))
    ex = evidence.result("explanations")
    assert ex.input_kind == "text" and ex.reliance[0].model_reads_attribute
    assert {g.group for g in ex.reliance[0].by_group} <= set(table.frame["identity"])
    local = ex.local[0]
    hostile = local.model_copy(
        update={"tokens": [*local.tokens, local.tokens[0].model_copy(update={"text": "<b>x"})]}
    )
    evidence = evidence.with_result(
        "explanations", ex.model_copy(update={"local": [hostile, *ex.local[1:]]})
    )
    html = render(evidence, "html")
    assert 'id="explanations"' in html
    assert "&lt;b&gt;x" in html and "<b>x" not in html
    assert html.count('class="token"') >= len(hostile.tokens)
    assert "How far these explanations can be trusted" in html
    markdown = render(evidence, "md")
    assert "**Explanations** (layer-integrated-gradients" in markdown
    assert "&lt;b&gt;x" in markdown


def test_image_attributions_and_saliency_maps_render_inline(cnn):
    table, path = cnn
    evidence = _audit(table, path, ())
    ex = evidence.result("explanations")
    assert ex.input_kind == "image" and ex.image_shape[-2:] == [8, 8]
    assert np.asarray(ex.mean_attribution_map).shape == (8, 8)
    local = ex.local[0]
    for name in ("image", "attribution_map", "saliency_map"):
        assert np.asarray(getattr(local, name)).shape == (8, 8)
    assert np.min(local.saliency_map) >= 0  # |gradient|
    assert ex.quality.deletion is not None and ex.quality.convergence_delta_relative < 0.05
    html = render(evidence, "html")
    section = html[html.index('id="explanations"') :]
    # Input, IG and saliency per local explanation, plus the mean map: all inline data URIs.
    assert section.count('src="data:image/svg+xml;base64,') >= 3 * len(ex.local) + 1
    assert "http" not in re.sub(r"http://www\.w3\.org[^\"' ]*", "", section.split("</section>")[0])


def test_a_transformer_is_explained_per_word_with_its_sub_words_merged(tmp_path):
    table = _tiny("identity-text", 24)
    spec = TrainSpec(
        label="sentiment",
        arch="transformer",
        epochs=1,
        batch_size=8,
        max_length=8,
        train_layers=1,
    )
    train(table, spec, tmp_path / "model", progress=False)
    predictor = load_predictor(tmp_path / "model")
    from raikit.models.inputs import load_tokenizer

    tokenizer = load_tokenizer(tmp_path / "model" / "tokenizer")
    assert len(tokenizer.tokenize("unbelievably")) > 1  # several sub-words to merge
    frame = pd.DataFrame({"text": ["unbelievably kind", "a rude colleague"]})
    config = ExplainConfig(n_steps=8, max_steps=8)
    # The caller's own sentences: only words that look like personal data would be masked.
    result = explain_rows(predictor, frame, config=config, count_rare=False)
    assert [t.text for t in result.rows[0].tokens] == ["unbelievably", "kind"]
    assert [t.text for t in result.rows[1].tokens] == ["a", "rude", "colleague"]
    assert "special tokens kept" in result.baselines
    assert all(row.convergence_delta is not None for row in result.rows)


def rai(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_rai_explain_prints_and_writes_rows(arrests_model, tmp_path):
    out = tmp_path / "why.json"
    result = rai(
        "explain",
        "--model",
        arrests_model.path,
        "--data",
        "arrests",
        "--row",
        0,
        "--row",
        9,
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    assert "row 0: predicted" in result.output and "checks = " in result.output
    written = json.loads(out.read_text())
    assert [r["row"] for r in written["rows"]] == [0, 9]
    assert written["method"] == "integrated-gradients" and written["n_steps"] == 16
    again = rai(
        "explain", "--model", arrests_model.path, "--data", "arrests", "--row", 0, "--out", out
    )
    assert again.exit_code == 2 and "--force" in again.output


def test_rai_explain_a_sentence(rnn):
    _, path = rnn
    result = rai("explain", "--model", path, "--text", "the muslim neighbour was kind")
    assert result.exit_code == 0, result.output
    assert re.search(r"muslim\[[+-]\d\.\d{3}\]", result.output)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give either --row"),
        (["--data", "arrests", "--row", 99999], "out of range"),
        (["--text", "hello"], "--text needs a text model"),
        (["--data", "arrests", "--row", 1, "--method", "lime"], "method must be one of"),
    ],
)
def test_rai_explain_bad_input_exits_2_with_one_line(arrests_model, args, message):
    result = rai("explain", "--model", arrests_model.path, *args)
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0]


def test_rai_audit_explain_adds_the_section(arrests_model, tmp_path):
    result = rai(
        "audit",
        "--model",
        arrests_model.path,
        "--data",
        "arrests",
        "--label",
        "released",
        "--sensitive",
        "colour",
        "--explain",
        "--explain-rows",
        60,
        "--n-bootstrap",
        100,
        "--out",
        tmp_path,
    )
    assert result.exit_code == 0, result.output
    evidence = json.loads((tmp_path / "evidence.json").read_text())
    ex = evidence["results"]["explanations"]
    assert ex["n_rows_sampled"] == 60 and ex["seed"] == 0
    assert ex["reliance"][0]["attribute"] == "colour"
    html = (tmp_path / "report.html").read_text()
    by_group = table(html, "Share of attribution by group of colour")
    expected = {
        g["group"]: f"{100 * g['sensitive_share']:.1f}%" for g in ex["reliance"][0]["by_group"]
    }
    assert {row[0]: row[2] for row in by_group["rows"][1:]} == expected
    from raikit.audit.evidence import load_evidence
    from raikit.audit.impact.risk import risk_register

    risks = {r.title: r for r in risk_register(load_evidence(tmp_path / "evidence.json"))}
    share = ex["reliance"][0]["sensitive_share"]["value"]
    leaning = risks["Decisions lean on a protected attribute or a proxy"]
    assert leaning.likelihood == (4 if share >= 0.25 else 3 if share >= 0.1 else 1)
    assert f"{100 * share:.0f}% of the attribution falls on 'colour'" in leaning.basis
    trust = risks["Explanations of decisions mislead the people relying on them"]
    assert trust.concern == "transparency" and trust.likelihood == 1
    importance = table(html, "Mean |attribution| per column")
    assert [row[0] for row in importance["rows"][1:]] == [f["feature"] for f in ex["features"]]
    refused = rai(
        "audit",
        "--predictions",
        "x.csv",
        "--sensitive",
        "colour",
        "--explain",
        "--out",
        tmp_path / "p",
    )
    assert refused.exit_code == 2 and "--explain needs --model" in refused.output


def test_assess_on_a_table_without_sensitive_columns_skips_reliance(arrests_model):
    predictor = load_predictor(arrests_model.path)
    frame = load_table("arrests").frame
    result = assess_explanations(predictor, frame, config=FAST)
    assert result.reliance == [] and result.by_group == []
    assert {item.kind for item in result.local} == {"borderline"}  # no label: no errors known


def test_an_image_model_is_audited_without_a_sensitive_column(cnn):
    from raikit.audit.runner import AuditConfig, run_audit

    table, path = cnn
    predictor = load_predictor(path)
    checks = {"performance": None, "fairness": None, "explanations": ExplainConfig(n_rows=2)}
    config = AuditConfig(label="digit", rows="all", n_bootstrap=100)
    evidence = run_audit(table, config, predictor, checks)
    assert set(evidence.results) == {"performance", "explanations"}
    predicted = np.asarray(predictor.classes)[predictor.predict_proba(table.frame).argmax(1)]
    accuracy = (predicted == table.frame["digit"].astype(str)).mean()
    assert evidence.result("performance").metrics["accuracy"].value == pytest.approx(accuracy)
    assert "no_sensitive_column" in {f.code for f in evidence.findings}
