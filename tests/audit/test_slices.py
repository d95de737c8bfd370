"""Slice discovery against planted slices, null data, hand counts and scipy's exact tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import fisher_exact, hypergeom

from raikit.audit.slices import SliceConfig, _search, assess_slices
from raikit.audit.stats import clopper_pearson_interval
from raikit.models.errors import ConfigError, DataError


def planted(n: int = 20_000, seed: int = 0, base: float = 0.1):
    """Columns a, b (10 values each), c, d (4 values); errors 3x as frequent where a=1 & b=2."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "a": rng.integers(0, 10, n),
            "b": rng.integers(0, 10, n),
            "c": rng.choice(["x", "y", "z", "w"], n),
            "d": rng.choice(["p", "q", "r", "s"], n),
        }
    )
    inside = ((frame.a == 1) & (frame.b == 2)).to_numpy()
    errors = rng.random(n) < np.where(inside, 3 * base, base)
    return frame, inside, errors


def test_a_planted_two_condition_slice_of_one_percent_is_found_at_the_top():
    frame, inside, errors = planted()
    assert 0.009 < inside.mean() < 0.011
    y_true = np.zeros(len(frame), dtype=int)
    result = assess_slices(frame, y_true, errors.astype(int))
    top = result.worst()
    assert top.conditions == {"a": "1", "b": "2"}
    # Figures against hand counts and scipy's Fisher exact test of the 2 x 2 table.
    k, n = int(errors[inside].sum()), int(inside.sum())
    k_rest, n_rest = int(errors[~inside].sum()), int((~inside).sum())
    assert top.size == n
    assert top.metric.value == pytest.approx(k / n)
    assert top.rest.value == pytest.approx(k_rest / n_rest)
    assert top.gap.value == pytest.approx(k / n - k_rest / n_rest)
    assert top.gap.lower > 0
    table = [[k, n - k], [k_rest, n_rest - k_rest]]
    assert top.p_value == pytest.approx(fisher_exact(table, alternative="greater")[1], rel=1e-6)
    assert top.q_value <= 0.05
    assert result.findings[0].code == "worse_slices"


def test_no_slice_is_found_in_200_null_data_sets_more_often_than_the_level():
    # Family-wise share of runs with any discovery: under the complete null every discovery is
    # false, so the false discovery rate is the family-wise error rate (<= 0.05 under BH).
    rng = np.random.default_rng(1)
    n, runs = 1_000, 200
    codes = [rng.integers(0, levels, n) for levels in (2, 3, 4, 5)]
    harm = (rng.random((n, runs)) < 0.2).astype(float)  # 200 data sets searched at once
    found = _search.count_slices(codes, harm, depth=3, min_size=30, kind="rate", level=0.05)
    assert found.testable.sum(axis=0).min() > 100
    _, q = _search.discover(found, harm, "rate", 0.05, "bh")
    any_discovery = int((np.nan_to_num(q, nan=1.0) <= 0.05).any(axis=0).sum())
    lower, _ = clopper_pearson_interval(any_discovery, runs, 0.95)
    assert lower <= 0.05, f"{any_discovery} of {runs} null runs had a discovery"


def test_counts_of_every_slice_match_pandas_group_by():
    frame, _, errors = planted(n=3_000, seed=2)
    codes = [pd.factorize(frame[c], sort=True)[0] for c in frame.columns]
    found = _search.count_slices(codes, errors, depth=2, min_size=1, kind="rate", level=1.0)
    expected = {}
    for columns in [["a"], ["b"], ["c"], ["d"], *[[x, y] for x in "abcd" for y in "abcd" if x < y]]:
        coded = pd.DataFrame({c: codes["abcd".index(c)] for c in columns}).assign(e=errors)
        for key, group in coded.groupby(columns):
            key = key if isinstance(key, tuple) else (key,)
            conditions = tuple(zip(["abcd".index(c) for c in columns], key, strict=True))
            expected[conditions] = (len(group), int(group.e.sum()))
    got = {
        tuple((int(c), int(v)) for c, v in zip(cols, vals, strict=True) if c >= 0): (
            int(size),
            int(total),
        )
        for cols, vals, size, total in zip(
            found.columns, found.values, found.size, found.total[:, 0], strict=True
        )
    }
    assert got == expected


def test_the_support_bound_leaves_out_slices_too_small_to_be_significant():
    # 20 harmed rows in 10,000: a slice of n rows reaches at best C(20, n) / C(10000, n).
    n_rows, n_harmed = 10_000, 20
    bounds = _search.min_attainable_p(np.arange(1, 4), n_rows, n_harmed)
    for size, bound in zip(range(1, 4), bounds, strict=True):
        assert bound == pytest.approx(hypergeom.pmf(size, n_rows, n_harmed, size), rel=1e-9)
    low, high = _search._testable_sizes(n_rows, n_harmed, 1, 0.05)
    # One row: 20/10000 = 0.002 <= 0.05, testable. Near all rows: untestable.
    assert low == 1
    assert _search.min_attainable_p(high, n_rows, n_harmed) <= 0.05
    assert _search.min_attainable_p(high + 1, n_rows, n_harmed) > 0.05
    low, _ = _search._testable_sizes(n_rows, n_harmed, 1, 1e-12)
    assert _search.min_attainable_p(low, n_rows, n_harmed) <= 1e-12
    assert _search.min_attainable_p(low - 1, n_rows, n_harmed) > 1e-12


def test_a_slice_repeating_a_more_general_one_is_folded_into_it():
    frame, _, errors = planted()
    frame["a_again"] = frame["a"]  # every condition on it repeats one on a
    result = assess_slices(frame, np.zeros(len(frame), int), errors.astype(int))
    top = result.worst()
    assert top.conditions == {"a": "1", "b": "2"}
    assert top.folded >= 1
    labels = [s.label for s in result.slices]
    assert not any("a=1" in label and "a_again=1" in label for label in labels)
    assert result.n_folded >= top.folded


def test_a_value_that_looks_like_personal_data_is_masked():
    frame, inside, errors = planted()
    frame["b"] = np.where(frame.b == 2, "jane.doe@example.org", frame.b.astype(str))
    top = assess_slices(frame, np.zeros(len(frame), int), errors.astype(int)).worst()
    assert top.conditions["a"] == "1"
    assert "jane" not in top.label and "example" not in top.label
    assert top.size == int(inside.sum())


def test_a_lower_selection_rate_is_worse_and_its_gap_positive():
    frame, inside, _ = planted(seed=3)
    rng = np.random.default_rng(3)
    selected = rng.random(len(frame)) < np.where(inside, 0.2, 0.6)
    config = SliceConfig(metric="selection_rate", depth=2)
    result = assess_slices(frame, selected.astype(int), selected.astype(int), config=config)
    top = result.worst()
    assert top.conditions == {"a": "1", "b": "2"}
    assert top.metric.value == pytest.approx(selected[inside].mean())
    assert top.gap.value == pytest.approx(selected[~inside].mean() - selected[inside].mean())
    assert not result.higher_is_worse


def test_a_regression_error_is_searched_by_its_mean():
    frame, inside, _ = planted(seed=4)
    rng = np.random.default_rng(4)
    y_true = rng.normal(size=len(frame))
    y_pred = y_true + rng.normal(scale=np.where(inside, 3.0, 1.0))
    config = SliceConfig(metric="absolute_error", depth=2)
    top = assess_slices(frame, y_true, y_pred, config=config).worst()
    assert top.conditions == {"a": "1", "b": "2"}
    error = np.abs(y_true - y_pred)
    assert top.metric.value == pytest.approx(error[inside].mean())
    assert top.gap.value == pytest.approx(error[inside].mean() - error[~inside].mean())


def test_benjamini_yekutieli_reports_no_more_than_benjamini_hochberg():
    frame, _, errors = planted(n=5_000, seed=5)
    y_true = np.zeros(len(frame), int)
    bh = assess_slices(frame, y_true, errors.astype(int))
    by = assess_slices(frame, y_true, errors.astype(int), config=SliceConfig(fdr_method="by"))
    assert by.n_discovered <= bh.n_discovered
    assert by.n_tested == bh.n_tested


@pytest.mark.parametrize(
    ("rows", "metric"),
    # 20 rows: none of 30; every row an actual negative: no false negative rate at all.
    [(20, "error_rate"), (400, "false_negative_rate")],
)
def test_too_few_rows_cannot_conclude(rows, metric):
    frame = pd.DataFrame({"g": ["a", "b"] * (rows // 2)})
    y_pred = np.random.default_rng(0).integers(0, 2, rows)
    config = SliceConfig(metric=metric)
    result = assess_slices(frame, np.zeros(rows, int), y_pred, config=config)
    assert result.n_tested == 0 and result.slices == []
    assert result.findings[0].code == "slices_untestable"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"depth": 4}, "depth"),
        ({"fdr_level": 0}, "fdr_level"),
        ({"metric": "recall"}, "metric"),
        ({"fdr_method": "holm"}, "fdr_method"),
    ],
)
def test_bad_settings_are_one_config_error(changes, message):
    with pytest.raises(ConfigError, match=message):
        SliceConfig(**changes)


def test_binary_metrics_refuse_other_labels():
    frame = pd.DataFrame({"g": ["a", "b"] * 10})
    with pytest.raises(DataError, match="0/1"):
        assess_slices(frame, [2] * 20, [0] * 20, config=SliceConfig(metric="false_positive_rate"))


def test_shuffling_the_rows_changes_nothing():
    frame, _, errors = planted()
    y_true = np.zeros(len(frame), int)
    order = np.random.default_rng(6).permutation(len(frame))
    before = assess_slices(frame, y_true, errors.astype(int))
    after = assess_slices(
        frame.iloc[order].reset_index(drop=True), y_true, errors[order].astype(int)
    )
    assert before.slices and before.model_dump() == after.model_dump()
