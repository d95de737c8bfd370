"""Sensitive groups: the rules of raikit.audit.groups, and every concern using them alike.

Expected groups are written out by hand (explicit conditions, pandas value counts), never with
the module under test.
"""

import json
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raikit.audit.groups import (
    AGE_BANDS,
    MISSING_GROUP,
    Grouping,
    fit_groups,
    prepare_sensitive_features,
)
from raikit.models.data import LoadedTable, load_table
from raikit.models.errors import DataError


def hand_age_band(age: pd.Series) -> pd.Series:
    """The documented bands as explicit conditions; a missing age is the missing group."""
    conditions = [age.isna(), age < 25, age < 35, age < 45, age < 55, age < 65]
    bands = [MISSING_GROUP, "<25", "25-34", "35-44", "45-54", "55-64"]
    return pd.Series(np.select(conditions, bands, default="65+"), index=age.index)


def test_age_is_binned_into_documented_bands():
    frame = pd.DataFrame({"age": [18, 24, 25, 34, 35, 50, 64, 65, 90, 40, 41, 42]})
    prepared, binning = prepare_sensitive_features(frame)
    assert prepared["age"].tolist() == [
        "<25",
        "<25",
        "25-34",
        "25-34",
        "35-44",
        "45-54",
        "55-64",
        "65+",
        "65+",
        "35-44",
        "35-44",
        "35-44",
    ]
    assert ", ".join(AGE_BANDS) in binning["age"]


def test_few_valued_numbers_stay_groups():
    prepared, binning = prepare_sensitive_features(pd.DataFrame({"black": [0, 1, 1, 0]}))
    assert prepared["black"].tolist() == ["0", "1", "1", "0"] and binning == {}


def test_other_continuous_columns_get_quartile_bands():
    prepared, binning = prepare_sensitive_features(pd.DataFrame({"income": range(1, 101)}))
    assert prepared["income"].value_counts().tolist() == [25, 25, 25, 25]
    assert "quartiles" in binning["income"]


def test_intersection_groups_and_single_group_error():
    frame = pd.DataFrame({"a": ["x", "y", "x"], "b": ["u", "u", "v"]})
    attributes = fit_groups(frame).attributes(frame, intersections=True)
    assert [a.name for a in attributes] == ["a", "b", "a & b"]
    assert attributes[2].labels == ["a=x & b=u", "a=x & b=v", "a=y & b=u"]
    assert attributes[2].row_labels().tolist() == ["a=x & b=u", "a=y & b=u", "a=x & b=v"]
    single = pd.DataFrame({"c": ["z", "z"]})
    with pytest.raises(DataError, match="sensitive column 'c' has a single group 'z'"):
        fit_groups(single).attributes(single, min_groups=2)


M = MISSING_GROUP


@pytest.mark.parametrize(
    "values, groups, row_labels",
    [
        (["b", None, "a", np.nan], ["a", "b", M], ["b", M, "a", M]),
        ([1.0, np.nan, 0.0, 1.0], ["0", "1", M], ["1", M, "0", "1"]),
        ([True, None, False, True], ["False", "True", M], ["True", M, "False", "True"]),
        ([2, 10, 2, 10], ["2", "10"], ["2", "10", "2", "10"]),  # numbers sort as numbers
    ],
)
def test_missing_values_are_a_group_of_their_own_listed_last(values, groups, row_labels):
    frame = pd.DataFrame({"g": pd.Series(values, dtype=object if None in values else None)})
    attribute = fit_groups(frame).attributes(frame)[0]
    assert attribute.labels == groups
    assert attribute.row_labels().tolist() == row_labels


def test_binned_column_with_missing_values_and_its_intersection():
    ages = pd.Series([*range(18, 80), None, None], dtype="float64")
    frame = pd.DataFrame({"age": ages, "sex": ["F", "M"] * 32})
    grouping = fit_groups(frame)
    age, sex, both = grouping.attributes(frame, intersections=True)
    assert age.labels == [*AGE_BANDS, MISSING_GROUP]
    counts = dict(zip(age.labels, np.bincount(age.codes), strict=True))
    assert counts == hand_age_band(ages).value_counts().to_dict()
    assert counts[MISSING_GROUP] == 2
    assert "age=(missing) & sex=F" in both.labels and "age=(missing) & sex=M" in both.labels
    assert sum(len(rows) for _, rows in both.rows_by_group()) == len(frame)


def test_a_grouping_fitted_once_gives_a_subset_the_same_bands():
    # 12 distinct values: binned on the whole column; three rows alone would not be.
    frame = pd.DataFrame({"score": np.arange(12.0)})
    grouping = fit_groups(frame)
    whole = grouping.labels(frame)["score"]
    subset = frame.iloc[[0, 5, 11]]
    assert grouping.labels(subset)["score"].tolist() == whole.iloc[[0, 5, 11]].tolist()
    assert grouping.labels(subset)["score"].tolist() == ["[0, 2.75]", "(2.75, 5.5]", "(8.25, 11]"]
    # Beyond the fitted range, values fall in the outer bands.
    beyond = grouping.labels(pd.DataFrame({"score": [-3.0, 40.0]}))["score"].tolist()
    assert beyond == ["[0, 2.75]", "(8.25, 11]"]


def test_grouping_round_trips_through_json():
    frame = pd.DataFrame({"age": np.arange(20.0, 70.0), "income": np.arange(50.0), "g": ["a"] * 50})
    grouping = fit_groups(frame)
    again = Grouping.from_dict(json.loads(json.dumps(grouping.to_dict())))
    assert again == grouping
    assert again.labels(frame).equals(grouping.labels(frame))


def test_a_value_named_like_the_missing_group_is_refused():
    frame = pd.DataFrame({"g": ["a", MISSING_GROUP, None]})
    with pytest.raises(DataError, match="holds both missing values and the value"):
        fit_groups(frame).attributes(frame)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.sampled_from(["x", "y", "z", None]), min_size=1, max_size=40),
    st.randoms(use_true_random=False),
)
def test_shuffling_and_relabelling_rows_keep_the_partition(values, random):
    frame = pd.DataFrame({"g": values})
    order = list(range(len(values)))
    random.shuffle(order)
    renamed = frame.replace({"x": "zulu", "y": "mike", "z": "alpha"})

    def sizes(data: pd.DataFrame) -> list[int]:
        return sorted(len(rows) for _, rows in fit_groups(data).attributes(data)[0].rows_by_group())

    expected = sorted(pd.Series(values, dtype=object).fillna("?").value_counts().tolist())
    assert sizes(frame) == sizes(frame.iloc[order]) == sizes(renamed) == expected
    shuffled = fit_groups(frame).labels(frame.iloc[order])["g"]
    assert shuffled.tolist() == fit_groups(frame).labels(frame)["g"].iloc[order].tolist()


# --------------------------------------------------------------------------------------
# Every concern, on Arrests with gaps: the same age bands, and the missing group counted.


@pytest.fixture(scope="module")
def gapped(tmp_path_factory):
    """Arrests with age missing on every 40th row and colour on every 57th, and an MLP
    trained on it with half the rows held out (so the attack uses every row)."""
    from raikit.models.train import TrainSpec, train

    frame = load_table("arrests").frame.copy()
    frame["age"] = frame["age"].astype("float64")
    frame.loc[frame.index[::40], "age"] = np.nan
    frame.loc[frame.index[3::57], "colour"] = None
    table = LoadedTable(frame, "arrests-gaps.csv", "gaps-sha256")
    spec = TrainSpec(
        label="released",
        sensitive=("colour", "sex", "age"),
        epochs=2,
        validation_fraction=0.25,
        test_fraction=0.25,
        seed=0,
    )
    root = tmp_path_factory.mktemp("gapped")
    checkpoint = train(table, spec, root / "model", progress=False)
    return table, checkpoint, root


def _counts(pairs) -> dict[str, int]:
    return {group: int(n) for group, n in pairs}


def test_every_concern_reports_the_same_age_bands_and_counts_missing_rows(gapped):
    from raikit.audit.explain import ExplainConfig, assess_explanations
    from raikit.audit.predictor import load_predictor
    from raikit.audit.privacy import MembershipConfig
    from raikit.audit.robustness import RobustnessConfig
    from raikit.audit.runner import AuditConfig, run_audit

    table, checkpoint, _ = gapped
    frame = table.frame
    n_rows = len(frame)
    expected = hand_age_band(frame["age"]).value_counts().to_dict()
    assert set(expected) == {*AGE_BANDS, MISSING_GROUP} and expected[MISSING_GROUP] == 131
    colour_missing = int(frame["colour"].isna().sum())

    sensitive = ("colour", "sex", "age")
    predictor = load_predictor(checkpoint.path)
    evidence = run_audit(
        table,
        AuditConfig(label="released", sensitive=sensitive, rows="all", n_bootstrap=100),
        predictor,
        {
            "performance": None,
            "fairness": None,
            "membership_inference": MembershipConfig(shadows=0, max_samples=n_rows),
            "robustness": RobustnessConfig(
                perturbations=("numeric_noise",),
                attacks=("fgsm",),
                epsilons=(0.1,),
                n_bootstrap=100,
                max_perturbation_rows=n_rows,
                max_attack_rows=n_rows,
            ),
        },
    )

    # Fairness: the bands with their sizes, and the missing colours a group of their own.
    by_attribute = {a.attribute: a for a in evidence.result("fairness").attributes}
    assert _counts((g.label, g.count) for g in by_attribute["age"].groups) == expected
    colour = _counts((g.label, g.count) for g in by_attribute["colour"].groups)
    assert colour[MISSING_GROUP] == colour_missing and sum(colour.values()) == n_rows
    assert by_attribute["colour & sex & age"].groups[0].group.keys() == {"colour", "sex", "age"}

    # Membership inference: every row is attacked (half members, half not).
    privacy = [g for g in evidence.result("membership_inference").per_group if g.attribute == "age"]
    assert _counts((g.group, g.n_members + g.n_nonmembers) for g in privacy) == expected
    members = hand_age_band(frame["age"].iloc[checkpoint.split["train"]]).value_counts()
    assert _counts((g.group, g.n_members) for g in privacy) == members.to_dict()

    # Robustness: counterfactuals, bias AUCs, perturbations and attacks, every row.
    robustness = evidence.result("robustness")
    counterfactual = next(
        c for c in robustness.counterfactual if c.attribute == "age" and c.variant == "attribute"
    )
    assert _counts((g.name, g.n) for g in counterfactual.groups) == expected
    assert counterfactual.overall.n == n_rows
    assert set(counterfactual.target_values) == set(AGE_BANDS)  # "unknown" is not a target
    for band, value in counterfactual.target_values.items():
        assert hand_age_band(pd.Series([float(value)])).iloc[0] == band
    assert {f"{s} -> {t}" for s in expected for t in AGE_BANDS if s != t} == {
        t.name for t in counterfactual.transitions
    }
    bias = [b for b in robustness.bias_aucs if b.attribute == "age"]
    assert _counts((b.subgroup, b.n) for b in bias) == expected
    for point in robustness.perturbations:
        flips = [g for g in point.group_flip_rates if g.attribute == "age"]
        assert _counts((g.group, g.n) for g in flips) == expected
    for point in robustness.adversarial.points:
        assert _counts((g.group, g.n) for g in point.groups if g.attribute == "age") == expected

    # Explanations (costly per row): 300 rows and those aged 55+, every one explained.
    rows = frame.iloc[sorted({*range(300), *np.flatnonzero(frame["age"] >= 55)})]
    expected = hand_age_band(rows["age"]).value_counts().to_dict()
    assert set(expected) == {*AGE_BANDS, MISSING_GROUP}
    explanations = assess_explanations(
        predictor,
        rows,
        label="released",
        sensitive=sensitive,
        config=ExplainConfig(n_rows=len(rows), n_bootstrap=100, quality_rows=4),
    )
    shares = [g for g in explanations.by_group if g.attribute == "age"]
    assert _counts((g.group, g.n_rows) for g in shares) == expected
    reliance = next(r for r in explanations.reliance if r.attribute == "age")
    assert _counts((g.group, g.n_rows) for g in reliance.by_group) == expected
    for local in explanations.local:
        assert local.group["age"] in expected


def test_mitigation_fits_over_the_same_bands(gapped):
    from raikit.audit.mitigation import MitigationConfig, mitigate
    from raikit.audit.predictor import load_predictor

    table, checkpoint, root = gapped
    frame = table.frame
    train_rows = frame.iloc[checkpoint.split["train"]]
    bands = hand_age_band(train_rows["age"])
    released = train_rows["released"]

    config = MitigationConfig(
        method="reweighing", constraint="demographic_parity", sensitive=("age",), epochs=1
    )
    out = root / "reweighed"
    mitigate(table, checkpoint.path, config, out)
    record = json.loads((out / "training.json").read_text())
    weights = record["mitigation"]["weights_by_group_and_label"]
    # Kamiran-Calders by hand: P(group) P(label) / P(group, label) over the training rows.
    n = len(train_rows)
    expected = {}
    for band in bands.unique():
        for label in ("No", "Yes"):
            cell = ((bands == band) & (released == label)).sum()
            if cell:
                expected[f"{band} / {label}"] = (
                    (bands == band).sum() * (released == label).sum() / (n * cell)
                )
    assert weights == pytest.approx(expected)
    assert f"{MISSING_GROUP} / Yes" in weights

    config = MitigationConfig(
        method="correlation_remover",
        constraint="demographic_parity",
        sensitive=("age",),
        epochs=1,
    )
    out = root / "decorrelated"
    mitigate(table, checkpoint.path, config, out)
    state = json.loads((out / "mitigation.json").read_text())
    assert state["correlation_remover"]["categories"] == sorted({*AGE_BANDS, MISSING_GROUP})
    # At prediction time a row's group comes from the saved grouping: one row alone is banded.
    one_row = frame.iloc[[1]]
    assert one_row["age"].iloc[0] == 17
    assert load_predictor(out).predict_proba(one_row).shape == (1, 2)

    # Arrests has few people aged 55+: a band with a single class among the training rows
    # cannot get thresholds of its own, and the error names it.
    one_class = sorted(b for b in bands.unique() if released[bands == b].nunique() < 2)
    assert one_class
    group = one_class[0]
    only, size = released[bands == group].iloc[0], int((bands == group).sum())
    message = f"group '{group}' has only '{only}' labels among its {size} training rows"
    config = MitigationConfig(
        method="threshold_optimizer", constraint="demographic_parity", sensitive=("age",)
    )
    with pytest.raises(DataError, match=re.escape(message)):
        mitigate(table, checkpoint.path, config, root / "thresholds")


def test_a_column_of_labels_forms_at_most_max_groups():
    fifty = pd.DataFrame({"region": [f"r{i}" for i in range(50)] * 2})
    assert len(fit_groups(fifty).attributes(fifty)[0].groups) == 50
    fifty_one = pd.DataFrame({"region": [f"r{i}" for i in range(51)] * 2})
    with pytest.raises(DataError) as error:
        fit_groups(fifty_one)
    assert str(error.value) == (
        "sensitive column 'region' has 51 distinct values, more than the 50 groups raikit "
        "compares; bin or pool its values into at most 50 categories first"
    )
    # Numbers with many distinct values are binned, so they never reach the cap.
    many_numbers = pd.DataFrame({"income": np.arange(20_000.0)})
    assert len(fit_groups(many_numbers).attributes(many_numbers)[0].groups) == 4
