import pandas as pd
import pytest

from raikit.audit.groups import AGE_BANDS, prepare_sensitive_features, sensitive_attributes
from raikit.models.errors import DataError


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
    prepared, binning = prepare_sensitive_features(
        pd.DataFrame({"a": ["x", "y", "x"], "b": ["u", "u", "v"]})
    )
    attributes = sensitive_attributes(prepared, binning, intersections=True)
    assert [a.name for a in attributes] == ["a", "b", "a & b"]
    assert sorted(map(str, attributes[2].groups)) == sorted(
        map(str, [{"a": "x", "b": "u"}, {"a": "x", "b": "v"}, {"a": "y", "b": "u"}])
    )
    with pytest.raises(DataError, match="sensitive column 'c' has a single group 'z'"):
        sensitive_attributes(pd.DataFrame({"c": ["z", "z"]}), {}, intersections=False)
