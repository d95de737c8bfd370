"""Tests of schema validation and label binarisation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raikit.models.datasets import get_dataset
from raikit.models.errors import ConfigError, DataError
from raikit.models.schema import Schema, binarize_labels, validate_frame

# --------------------------------------------------------------------------------------
# Schema and validate_frame


def test_schema_feature_columns() -> None:
    frame = pd.DataFrame(columns=["id", "age", "group", "score", "y"])
    assert Schema(label="y").feature_columns(frame) == ("id", "age", "group", "score")
    assert Schema(label="y", sensitive=("group",), exclude=("id", "score")).feature_columns(
        frame
    ) == ("age", "group")
    assert Schema(label="y", features=("score", "age"), exclude=("score",)).feature_columns(
        frame
    ) == ("age",)
    assert Schema(label=None).feature_columns(frame) == ("id", "age", "group", "score", "y")


def test_schema_normalises_and_rejects_contradictions() -> None:
    schema = Schema(label="y", sensitive=["a", "b"], features=["x"], exclude="id")  # type: ignore[arg-type]
    assert schema.sensitive == ("a", "b")
    assert schema.features == ("x",)
    assert schema.exclude == ("id",)
    assert hash(schema) == hash(
        Schema(label="y", sensitive=("a", "b"), features=("x",), exclude=("id",))
    )
    with pytest.raises(ConfigError) as info:
        Schema(label="y", sensitive=("y",))
    assert str(info.value) == "label column 'y' cannot also be a sensitive column"
    with pytest.raises(ConfigError) as info:
        Schema(label="y", features=("x", "y"))
    assert str(info.value) == "label column 'y' cannot also be a feature"


def test_schema_from_spec() -> None:
    schema = Schema.from_spec(get_dataset("compas"))
    assert schema == Schema(
        label="two_year_recid",
        sensitive=("race", "sex", "age"),
        exclude=("decile_score", "score_text"),
    )


GOOD = pd.DataFrame({"group": ["a", "b", "a", "b"], "x": [1.0, 2.0, 3.0, 4.0], "y": [0, 1, 1, 0]})


def _with(**columns: list[object]) -> pd.DataFrame:
    frame = GOOD.copy()
    for name, values in columns.items():
        frame[name] = values
    return frame


VALIDATION_CASES = [
    (GOOD, Schema(label="y", sensitive=("group",)), None),
    (GOOD, Schema(label=None), None),
    (
        GOOD,
        Schema(label="y", sensitive=("gruop",)),
        "column 'gruop' not found in adult.csv; did you mean 'group'?",
    ),
    (GOOD, Schema(label="label"), "column 'label' not found in adult.csv"),
    (GOOD, Schema(label="Y"), "column 'Y' not found in adult.csv; did you mean 'y'?"),
    (
        GOOD,
        Schema(label="y", features=("x", "xx")),
        "column 'xx' not found in adult.csv; did you mean 'x'?",
    ),
    (GOOD, Schema(label="y", exclude=("id",)), "column 'id' not found in adult.csv"),
    (
        _with(y=[0, None, 1, None]),
        Schema(label="y"),
        "label column 'y' in adult.csv has 2 missing value(s), the first in data row 2; "
        "drop or fill those rows",
    ),
    (
        _with(y=["yes", "yes", "yes", "yes"]),
        Schema(label="y"),
        "label column 'y' in adult.csv has a single class ('yes'); at least two are needed",
    ),
    (
        _with(y=[1.0, 1.0, 1.0, 1.0]),
        Schema(label="y"),
        "label column 'y' in adult.csv has a single class ('1'); at least two are needed",
    ),
    # Missing sensitive values are a group of their own, not an error; the label's are.
    (_with(group=["a", np.nan, None, "b"]), Schema(label="y", sensitive=("group",)), None),
    (_with(group=["a", None, "a", "a"]), Schema(label="y", sensitive=("group",)), None),
    (
        _with(group=[None, np.nan, None, None]),
        Schema(label="y", sensitive=("group",)),
        "sensitive column 'group' in adult.csv has a single group (every value missing); at "
        "least two are needed to compare groups",
    ),
    (
        _with(group=["a", "a", "a", "a"]),
        Schema(label="y", sensitive=("group",)),
        "sensitive column 'group' in adult.csv has a single group ('a'); at least two are "
        "needed to compare groups",
    ),
    (GOOD.iloc[:0], Schema(label="y"), "adult.csv has no rows"),
    (pd.DataFrame(index=range(3)), Schema(label=None), "adult.csv has no columns"),
    (
        pd.DataFrame([[1, 2, 0], [3, 4, 1]], columns=["a", "a", "y"]),
        Schema(label="y"),
        "adult.csv has duplicate column names: 'a'",
    ),
]


@pytest.mark.parametrize(("frame", "schema", "message"), VALIDATION_CASES)
def test_validate_frame(frame: pd.DataFrame, schema: Schema, message: str | None) -> None:
    if message is None:
        assert validate_frame(frame, schema, source="adult.csv") is None
    else:
        with pytest.raises(DataError) as info:
            validate_frame(frame, schema, source="adult.csv")
        assert str(info.value) == message


# --------------------------------------------------------------------------------------
# binarize_labels

BINARIZE_CASES = [
    ([0, 1, 1, 0], None, [0, 1, 1, 0], "1"),
    ([1.0, 0.0, 1.0], None, [1, 0, 1], "1"),
    ([1, 1, 0], None, [1, 1, 0], "1"),
    ([True, False, True], None, [1, 0, 1], "True"),
    (["no", "yes", "no"], None, [0, 1, 0], "yes"),
    (["Yes", "No"], None, [1, 0], "Yes"),
    (["NO", "YES"], None, [0, 1], "YES"),
    (["<=50K", ">50K", "<=50K"], None, [0, 1, 0], ">50K"),
    (["bad", "good", "good"], None, [0, 1, 1], "good"),
    (["neg", "pos"], None, [0, 1], "pos"),
    ([1, 2, 2], None, [0, 1, 1], "2"),
    ([2, 10, 2], None, [0, 1, 0], "10"),  # numbers in numeric order, not "2" > "10"
    ([-1, 1], None, [0, 1], "1"),
    (["0", "1"], None, [0, 1], "1"),
    (["0", "0\x00", "0"], None, [0, 1, 0], "0\x00"),  # numpy would strip the trailing NUL
    (["yes", "no"], "no", [0, 1], "no"),
    ([0, 1, 1], "0", [1, 0, 0], "0"),
    ([0.0, 1.0], "1", [0, 1], "1"),
    ([True, False], "False", [0, 1], "False"),
    (["a", "b", "c", "b"], "b", [0, 1, 0, 1], "b"),  # one-vs-rest
    (pd.Categorical(["lo", "hi", "lo"]), None, [1, 0, 1], "lo"),  # "lo" > "hi"
]


@pytest.mark.parametrize(("values", "positive", "expected", "expected_positive"), BINARIZE_CASES)
def test_binarize_labels(
    values: list[object], positive: str | None, expected: list[int], expected_positive: str
) -> None:
    labels, used = binarize_labels(pd.Series(values), positive)
    assert labels.tolist() == expected
    assert labels.dtype == np.int64
    assert used == expected_positive


BINARIZE_ERRORS = [
    (
        ["a", "b", "c"],
        None,
        "label has 3 classes ('a', 'b', 'c'); pass --positive-label to say which one is positive",
    ),
    (
        list(range(12)),
        None,
        "label has 12 classes ('0', '1', '10', '11', '2', '3', '4', '5', '6', '7', ... (2 more)); "
        "pass --positive-label to say which one is positive",
    ),
    (
        ["yes", "no"],
        "Yes",
        "positive label 'Yes' is not a value of the label; values: 'no', 'yes'",
    ),
    ([0, 1], "2", "positive label '2' is not a value of the label; values: '0', '1'"),
    (
        ["a", "a"],
        None,
        "label has a single class ('a'); pass --positive-label to say which is positive",
    ),
    ([0, None, 1], None, "label has 1 missing value(s); drop or fill them first"),
    ([], None, "label has no values"),
]


@pytest.mark.parametrize(("values", "positive", "message"), BINARIZE_ERRORS)
def test_binarize_labels_errors(values: list[object], positive: str | None, message: str) -> None:
    with pytest.raises(DataError) as info:
        binarize_labels(pd.Series(values, dtype=object), positive)
    assert str(info.value) == message


@settings(max_examples=60, deadline=None)
@given(
    classes=st.lists(st.text(min_size=1, max_size=6), min_size=2, max_size=2, unique=True),
    picks=st.lists(st.integers(0, 1), min_size=2, max_size=40),
    data=st.data(),
)
def test_binarize_default_ignores_row_order(
    classes: list[str], picks: list[int], data: st.DataObject
) -> None:
    picks = [0, 1, *picks]  # both classes present
    values = [classes[i] for i in picks]
    shuffled = data.draw(st.permutations(values))
    labels, positive = binarize_labels(pd.Series(values))
    labels_shuffled, positive_shuffled = binarize_labels(pd.Series(shuffled))
    assert positive == positive_shuffled
    assert positive in classes
    assert labels.tolist() == [int(v == positive) for v in values]
    assert labels_shuffled.sum() == labels.sum()
    if {c.lower() for c in classes} != {"no", "yes"}:
        assert positive == max(classes)
