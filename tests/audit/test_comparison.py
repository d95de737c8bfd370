"""The comparison assessment: a model against its baseline, group by group."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from torch.nn.utils import prune
from typer.testing import CliRunner

from raikit.audit.cli import app
from raikit.audit.comparison import compare_decisions
from raikit.audit.groups import fit_groups


def _attributes(frame: pd.DataFrame):
    return fit_groups(frame).attributes(frame, intersections=True, min_groups=0)


def test_figures_equal_a_hand_count_and_the_interval_a_row_bootstrap():
    rng = np.random.default_rng(0)
    n = 600
    frame = pd.DataFrame({"g": rng.choice(["a", "b"], n, p=[0.7, 0.3])})
    y = rng.integers(0, 2, n)
    base = np.where(rng.random(n) < 0.8, y, 1 - y)
    cand = np.where(rng.random(n) < 0.9, base, 1 - base)
    overall, (attribute,), _ = compare_decisions(
        y, base, cand, _attributes(frame), n_classes=2, n_bootstrap=4000, seed=1
    )
    for group in attribute.groups:
        rows = (frame["g"] == group.group["g"]).to_numpy()
        accuracy = {"baseline": (base == y)[rows].mean(), "candidate": (cand == y)[rows].mean()}
        figures = group.metrics
        assert figures["accuracy"].baseline.value == pytest.approx(accuracy["baseline"])
        assert figures["accuracy"].change.value == pytest.approx(
            accuracy["candidate"] - accuracy["baseline"]
        )
        positives = rows & (y == 1)
        assert figures["true_positive_rate"].candidate.value == pytest.approx(
            cand[positives].mean()
        )
        assert group.decision_churn.value == pytest.approx((base != cand)[rows].mean())
        assert group.lost == int(((base == y) & (cand != y) & rows).sum())
        assert group.gained == int(((base != y) & (cand == y) & rows).sum())
    # The paired interval of the overall change, against resampling the rows themselves.
    draws = np.random.default_rng(2).integers(0, n, (4000, n))
    replicates = (cand == y)[draws].mean(1) - (base == y)[draws].mean(1)
    lower, upper = np.quantile(replicates, [0.025, 0.975])
    change = overall.metrics["accuracy"].change
    assert change.lower == pytest.approx(lower, abs=0.004)
    assert change.upper == pytest.approx(upper, abs=0.004)


def test_pruning_away_the_feature_a_small_group_needs_is_flagged_for_that_group_only():
    """Group A's label is the sign of f1; group B's (15% of rows) the sign of f2, a feature
    recorded for B only and on a 20x larger scale. A regularised linear model serves both
    groups, f2 with the smaller weight, so magnitude pruning at 50% removes exactly f2."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    n = 4000
    group = np.where(rng.random(n) < 0.15, "B", "A")
    signal = rng.normal(size=(n, 2))
    features = np.column_stack([signal[:, 0], np.where(group == "B", 20 * signal[:, 1], 0)])
    y = np.where(group == "A", signal[:, 0] > 0, signal[:, 1] > 0).astype(int)
    fitted = LogisticRegression(C=0.1).fit(features, y)  # regularised, as usual
    layer = torch.nn.Linear(2, 1)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(fitted.coef_, dtype=torch.float32))
        layer.bias.copy_(torch.tensor(fitted.intercept_, dtype=torch.float32))
    inputs = torch.tensor(features, dtype=torch.float32)
    with torch.no_grad():
        base = (layer(inputs)[:, 0] > 0).int().numpy()
        prune.l1_unstructured(layer, "weight", amount=0.5)
        assert layer.weight[0, 1] == 0 and layer.weight[0, 0] != 0  # f2 was pruned
        cand = (layer(inputs)[:, 0] > 0).int().numpy()
    frame = pd.DataFrame({"group": group})
    overall, (attribute,), findings = compare_decisions(
        y, base, cand, _attributes(frame), n_classes=2, seed=0
    )
    flagged = [f.message for f in findings if f.code == "group_loses_more"]
    assert len(flagged) == 1 and "'group=B'" in flagged[0]
    by_label = {g.label: g for g in attribute.groups}
    assert by_label["group=B"].metrics["accuracy"].change.upper < -0.2
    assert by_label["group=A"].relative_accuracy_change.lower > 0  # A does better than average
    assert by_label["group=B"].lost > 10 * by_label["group=A"].lost


def test_more_than_two_classes_compare_accuracy_and_churn_only():
    y = np.array([0, 1, 2] * 20)
    base = y.copy()
    cand = np.where(np.arange(60) % 6 == 0, (y + 1) % 3, y)  # every other row of class 0 wrong
    frame = pd.DataFrame({"g": ["x", "y"] * 30})
    overall, (attribute,), _ = compare_decisions(
        y, base, cand, _attributes(frame), n_classes=3, min_group_size=10
    )
    assert overall.metrics.keys() == {"accuracy"}
    assert overall.metrics["accuracy"].change.value == pytest.approx(-10 / 60)
    assert overall.lost == 10 and overall.decision_churn.value == pytest.approx(10 / 60)
    assert attribute.disparities == {}


def test_audit_with_a_baseline_writes_evidence_report_and_gate(
    arrests_model, arrests_other_model, tmp_path
):
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "thresholds:\n  - metric: group_accuracy_drop\n    max: 0.5\n"
        "  - metric: disparity_increase\n    attribute: 'colour: demographic_parity_difference'\n"
        "    max: 0.5\n"
    )
    out = tmp_path / "audit"
    args = ["audit", "--model", str(arrests_other_model.path), "--data", "arrests"]
    args += ["--label", "released", "--sensitive", "colour", "--sensitive", "sex"]
    args += ["--baseline", str(arrests_model.path), "--policy", str(policy), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--n-bootstrap", "200"])
    assert result.exit_code == 0, result.output
    evidence = json.loads((out / "evidence.json").read_text())
    comparison = evidence["results"]["comparison"]
    assert [a["attribute"] for a in comparison["attributes"]] == ["colour", "sex", "colour & sex"]
    assert comparison["n_rows"] == evidence["data"]["n_rows_audited"]
    gates = [c for c in evidence["gate"]["checks"] if c["gate"] == "group_accuracy_drop"]
    compared = [g for a in comparison["attributes"] for g in a["groups"] if g["compared"]]
    assert {c["subject"] for c in gates} == {g["label"] for g in compared}
    assert all(c["status"] == "pass" for c in gates)
    html = (out / "report.html").read_text()
    assert "Against the baseline model" in html and "colour=White" in html
    assert html.count("Bar chart of each group&#39;s accuracy change") == 3  # one per attribute
    markdown = CliRunner().invoke(
        app,
        ["report", str(out / "evidence.json"), "--format", "md", "--out", str(tmp_path / "r.md")],
    )
    assert markdown.exit_code == 0, markdown.output
    assert "Against the baseline model" in (tmp_path / "r.md").read_text()


def test_a_baseline_with_other_classes_or_without_a_model_is_refused(arrests_model, tmp_path):
    runner = CliRunner()
    args = ["audit", "--predictions", "examples/predictions.csv", "--label", "y_true"]
    result = runner.invoke(
        app, [*args, "--baseline", str(arrests_model.path), "--out", str(tmp_path / "a")]
    )
    assert result.exit_code == 2 and "--baseline needs --model" in result.output


def test_rai_compress_then_audit_against_the_original_flags_only_the_small_group(tmp_path):
    """The planted case end to end: ``rai compress --prune`` removes the one feature a 5% group
    depends on; ``rai audit --baseline`` flags that group, and a gate fails for it alone."""
    from tests.models._planted_pruning import planted_model

    model, sparsity = planted_model(tmp_path)
    runner = CliRunner()
    pruned = tmp_path / "pruned"
    done = runner.invoke(
        app, ["compress", str(model), "--prune", str(sparsity), "--out", str(pruned)]
    )
    assert done.exit_code == 0, done.output
    policy = tmp_path / "policy.yaml"
    policy.write_text("thresholds:\n  - {metric: group_accuracy_drop, max: 0.1}\n")
    args = ["audit", "--model", str(pruned), "--baseline", str(model), "--data"]
    args += [str(tmp_path / "planted.csv"), "--label", "label", "--sensitive", "group"]
    args += ["--rows", "all", "--policy", str(policy), "--out", str(tmp_path / "audit")]
    result = runner.invoke(app, [*args, "--n-bootstrap", "200"])
    assert result.exit_code == 1, result.output  # the gate fails
    evidence = json.loads((tmp_path / "audit" / "evidence.json").read_text())
    comparison = evidence["results"]["comparison"]
    flagged = [f["message"] for f in comparison["findings"] if f["code"] == "group_loses_more"]
    assert len(flagged) == 1 and "'group=small'" in flagged[0]
    gate = {c["subject"]: c["status"] for c in evidence["gate"]["checks"]}
    assert gate == {"group=small": "fail", "group=large": "pass"}
