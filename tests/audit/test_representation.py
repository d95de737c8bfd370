"""Representation: shares, ratios and fit tests against hand computations and scipy; the
reference file's errors; findings, the risk and the ``representation_ratio`` gate."""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from raikit.audit.cli import app
from raikit.audit.evidence import load_evidence
from raikit.audit.policy import Limits, Policy, check, limits_from
from raikit.audit.representation import (
    Reference,
    RepresentationConfig,
    assess_representation,
    load_reference,
)
from raikit.audit.representation._fit import goodness_of_fit
from raikit.audit.runner import AuditConfig, run_audit
from raikit.models.data import LoadedTable
from raikit.models.errors import ConfigError

EVEN = {"F": 0.5, "M": 0.5}


def _reference(**columns) -> RepresentationConfig:
    reference = Reference(population="a population", source="made up", columns=columns)
    return RepresentationConfig(reference=reference)


def _wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson (1927), written out: centre ± half-width."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


@pytest.fixture(scope="module")
def toy():
    """100 rows: 20 F (5 positive, 6 missing `income`), 80 M (40 positive, 2 missing)."""
    sex = ["F"] * 20 + ["M"] * 80
    label = [1] * 5 + [0] * 15 + [1] * 40 + [0] * 40
    income = [np.nan] * 6 + [1.0] * 14 + [np.nan] * 2 + [1.0] * 78
    return pd.DataFrame({"sex": sex, "y": label, "income": income})


def test_shares_ratios_and_base_rates_are_the_hand_computed_ones(toy):
    result = assess_representation(
        toy, ["sex"], _reference(sex=EVEN), label="y", positive_label="1"
    )
    female, male = result.attributes[0].groups
    assert (female.label, female.count, male.count) == ("F", 20, 80)
    assert female.share.value == pytest.approx(0.2)
    assert (female.share.lower, female.share.upper) == pytest.approx(_wilson(20, 100))
    # The ratio divides the share and its interval by the reference share, 0.5.
    assert female.ratio.value == pytest.approx(0.4)
    assert (female.ratio.lower, female.ratio.upper) == pytest.approx(
        [b / 0.5 for b in _wilson(20, 100)]
    )
    assert male.ratio.value == pytest.approx(1.6)
    assert female.base_rate.value == pytest.approx(5 / 20)
    assert male.base_rate.value == pytest.approx(40 / 80)
    assert (female.base_rate.lower, female.base_rate.upper) == pytest.approx(_wilson(5, 20))
    # 0.4 [0.27, 0.57] lies wholly below 0.8: under-represented, with its figures.
    (finding,) = [f for f in result.findings if f.code == "under_represented"]
    assert "'sex=F'" in finding.message and "ratio 0.40" in finding.message


def test_missing_values_are_counted_by_group(toy):
    result = assess_representation(toy, ["sex"], _reference(sex=EVEN))
    (income,) = result.missing  # `y` has no missing value: not listed
    assert income.column == "income" and income.attribute == "sex"
    female, male = income.groups
    assert (female.missing, female.rows, male.missing, male.rows) == (6, 20, 2, 80)
    assert female.share.value == pytest.approx(0.3)
    assert (female.share.lower, female.share.upper) == pytest.approx(_wilson(6, 20))
    # 30% [14.5%, 51.9%] against 2.5% [0.7%, 8.7%]: the intervals are apart, but the 20 F rows
    # are under min_group_size 30, so no conclusion is drawn from them.
    assert not [f for f in result.findings if f.code == "missing_by_group"]
    small = RepresentationConfig(reference=_reference(sex=EVEN).reference, min_group_size=20)
    result = assess_representation(toy, ["sex"], small)
    (finding,) = [f for f in result.findings if f.code == "missing_by_group"]
    assert "'income' is missing more often for sex=F" in finding.message


def test_chi_square_matches_the_hand_computation_and_scipy():
    observed, shares = np.array([30, 50, 20]), np.array([0.25, 0.5, 0.25])
    fit = goodness_of_fit(observed, shares, np.random.default_rng(0))
    expected = 100 * shares
    statistic = ((observed - expected) ** 2 / expected).sum()  # 1 + 0 + 1
    assert fit.method == "chi_square" and fit.statistic == pytest.approx(2.0) == statistic
    assert fit.degrees_of_freedom == 2
    assert fit.p_value == pytest.approx(stats.chi2.sf(2.0, 2))  # exp(-1) = 0.3679
    assert fit.p_value == pytest.approx(math.exp(-1))


def test_small_expected_counts_use_the_exact_multinomial_test():
    # Two groups: the exact test is scipy's two-sided binomial test (same ordering rule).
    observed, shares = np.array([2, 10]), np.array([0.3, 0.7])  # expected 3.6 < 5
    fit = goodness_of_fit(observed, shares, np.random.default_rng(0))
    assert fit.method == "exact_multinomial" and "3.6" in fit.reason
    assert fit.p_value == pytest.approx(stats.binomtest(2, 12, 0.3).pvalue, abs=0.01)
    # Three groups, enumerated by hand: every outcome no likelier than the one seen.
    observed, shares, n = np.array([5, 0, 1]), np.array([0.5, 0.3, 0.2]), 6
    pmf = stats.multinomial(n, shares).pmf
    seen = pmf(observed)
    outcomes = [c for c in itertools.product(range(n + 1), repeat=3) if sum(c) == n]
    exact = sum(pmf(c) for c in outcomes if pmf(c) <= seen * (1 + 1e-7))
    fit = goodness_of_fit(observed, shares, np.random.default_rng(0))
    assert fit.p_value == pytest.approx(exact, abs=0.01)


def test_absent_group_empty_and_small_cells():
    frame = pd.DataFrame(
        {"sex": ["F"] * 40 + ["M"] * 60, "race": ["a"] * 40 + ["a"] * 35 + ["b"] * 25}
    )
    config = _reference(race={"a": 0.6, "b": 0.3, "c": 0.1})
    result = assess_representation(frame, ["sex", "race"], config)
    race = next(a for a in result.attributes if a.attribute == "race")
    absent = next(g for g in race.groups if g.label == "c")
    assert absent.count == 0 and absent.ratio.value == 0
    assert absent.ratio.upper == pytest.approx(_wilson(0, 100)[1] / 0.1)
    assert race.fit.method == "chi_square"  # expected counts 60, 30, 10
    both = result.attributes[-1]
    assert both.attribute == "sex & race" and both.fit is None
    assert both.empty == ["sex=F & race=b"] and both.n_empty == 1
    assert [g.label for g in both.groups if g.small] == ["sex=M & race=b"]
    codes = {f.code for f in result.findings}
    assert {"under_represented", "empty_cells", "small_cells", "no_reference"} <= codes


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "population: p\nsource: s\ncolumns:\n  sex: {F: 0.5, M: 0.4}\n",
            "ref.yaml line 4: field 'columns.sex' : the shares sum to 0.9, not 1 (within "
            "0.01); give every group of the population its share",
        ),
        (
            "population: p\nsource: s\ncolumns:\n  sex: {F: 1.0, M: 0}\n",
            "ref.yaml line 4: field 'columns.sex.M' : Input should be greater than 0; got 0",
        ),
        (
            "population: p\nsorce: s\ncolumns:\n  sex: {F: 1.0}\n",
            "ref.yaml line 2: field 'sorce' is not a known field; did you mean 'source'?",
        ),
    ],
)
def test_reference_file_errors_are_one_line(tmp_path, text, message):
    path = tmp_path / "ref.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_reference(path)
    assert str(raised.value) == message.replace("ref.yaml", str(path))


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (
            {"sexe": EVEN},
            "the reference gives shares for column 'sexe', which is not a sensitive column; "
            "did you mean 'sex'? (sensitive: sex)",
        ),
        (
            {"sex": {"Femal": 0.5, "M": 0.5}},
            "the reference has no share for group 'Female' of column 'sex' (20 rows): add its "
            "share to the reference; did you mean 'Femal'?",
        ),
    ],
)
def test_reference_must_match_the_data(toy, columns, message):
    frame = toy.assign(sex=toy["sex"].replace({"F": "Female"}))
    with pytest.raises(ConfigError) as raised:
        assess_representation(frame, ["sex"], _reference(**columns))
    assert str(raised.value) == message


def _evidence(toy, policy=None):
    table = LoadedTable(frame=toy.assign(y_pred=toy["y"]), source="toy.csv", sha256="0" * 64)
    config = AuditConfig(label="y", sensitive=("sex",), n_bootstrap=100)
    checks = {"representation": _reference(sex=EVEN), "performance": None}
    return run_audit(table, config, checks=checks, policy=policy)


def test_gate_limit_and_risk_follow_the_policy(toy):
    evidence = _evidence(toy)
    assert Limits().min_representation_ratio == 0.8
    (risk,) = [r for r in evidence.verdicts.risks if r.concern == "diversity"]
    assert risk.likelihood == 5 and "sex=F" in risk.basis  # 0.4 [0.27, 0.57] < 0.8
    gate = Policy.model_validate(
        {"thresholds": [{"metric": "representation_ratio", "min": 0.8, "use": "upper"}]}
    )
    result = check(evidence, gate)
    assert [(c.subject, c.status) for c in result.checks] == [
        ("sex=F", "fail"),
        ("sex=M", "pass"),
    ]
    # A laxer policy is also the limit the findings read: F is no longer under-represented.
    lax = Policy.model_validate({"thresholds": [{"metric": "representation_ratio", "min": 0.25}]})
    assert limits_from(lax).min_representation_ratio == 0.25
    codes = {f.code for f in _evidence(toy, lax).result("representation").findings}
    assert "under_represented" not in codes


def test_cli_measures_representation_and_refuses_a_bad_reference(tmp_path):
    data = tmp_path / "predictions.csv"
    pd.DataFrame(
        {"y_true": [0, 1] * 30, "y_pred": [0, 1, 1, 0] * 15, "g": ["a"] * 40 + ["b"] * 20}
    ).to_csv(data, index=False)
    reference = tmp_path / "ref.yaml"
    reference.write_text("population: p\nsource: s\ncolumns:\n  g: {a: 0.5, b: 0.5}\n")
    runner = CliRunner()
    base = ["audit", "--predictions", str(data), "--sensitive", "g", "--n-bootstrap", "100"]
    result = runner.invoke(app, [*base, "--representation", str(reference), "--out", tmp_path])
    assert result.exit_code == 0, result.output
    measured = load_evidence(tmp_path / "evidence.json").result("representation")
    assert [g.count for g in measured.attributes[0].groups] == [40, 20]
    assert measured.positive_label == "1"
    unsensitive = ["audit", "--predictions", str(data), "--representation", str(reference)]
    result = runner.invoke(app, [*unsensitive, "--out", tmp_path / "none"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: the reference gives shares for column 'g', which is not a sensitive column "
        "(sensitive: none)"
    )
    reference.write_text("population: p\nsource: s\ncolumns:\n  g: {a: 0.5, c: 0.5}\n")
    out = tmp_path / "bad"
    result = runner.invoke(app, [*base, "--representation", str(reference), "--out", out])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: the reference has no share for group 'b' of column 'g' (20 rows): add its "
        "share to the reference"
    )


def test_shuffling_rows_changes_nothing(toy):
    config = _reference(sex=EVEN)
    shuffled = toy.sample(frac=1, random_state=1).reset_index(drop=True)
    first = assess_representation(toy, ["sex"], config, label="y", positive_label="1")
    again = assess_representation(shuffled, ["sex"], config, label="y", positive_label="1")
    assert first == again


def test_an_interval_across_the_limit_cannot_conclude():
    # 9 of 25 rows against a share of 0.5: ratio 0.72 [0.40, 1.11] straddles 0.8.
    frame = pd.DataFrame({"sex": ["F"] * 9 + ["M"] * 16})
    result = assess_representation(frame, ["sex"], _reference(sex=EVEN))
    female = result.attributes[0].groups[0]
    assert female.ratio.value == pytest.approx(0.72)
    assert female.ratio.lower < 0.8 < female.ratio.upper
    codes = [f.code for f in result.findings]
    assert "representation_uncertain" in codes and "under_represented" not in codes


def test_a_column_with_no_value_is_reported_not_compared(toy):
    from raikit import reports

    # The audit refuses such a column at the boundary; the library call reports it.
    result = assess_representation(toy.assign(sex=None), ["sex"], _reference(sex=EVEN))
    (sex,) = result.attributes
    assert (sex.n_known, sex.n_missing, sex.fit) == (0, 100, None)
    assert [(g.label, g.count, g.ratio) for g in sex.groups] == [("F", 0, None), ("M", 0, None)]
    codes = [f.code for f in result.findings]
    assert "missing_sensitive" in codes and "under_represented" not in codes
    evidence = _evidence(toy)
    evidence = evidence.model_copy(
        update={"results": {**evidence.results, "representation": result}}
    )
    for fmt in ("html", "md"):
        text = reports.render(evidence, fmt)
        assert "sex is not compared" in text
        assert not re.search(r"\bNone\b|\bnan\b|\bNaN\b", text), fmt
