import json

import numpy as np
import pandas as pd
import pytest

from raikit.models.errors import DataError
from raikit.models.preprocess import MISSING, OTHER, TabularPreprocessor, fit_preprocessor


@pytest.fixture
def train_frame():
    return pd.DataFrame(
        {
            "age": [20.0, 30.0, np.nan, 50.0],
            "city": ["Oslo", "Rome", "Oslo", None],
        }
    )


def test_fit_uses_training_statistics(train_frame):
    pre = fit_preprocessor(train_frame, min_frequency=1)
    (age,) = pre.numeric
    assert age.median == 30.0
    filled = np.array([20.0, 30.0, 30.0, 50.0])
    assert age.mean == pytest.approx(filled.mean()) and age.std == pytest.approx(filled.std())
    # most frequent first, ties by value ("R" sorts before "_")
    assert pre.categorical[0].categories == ("Oslo", "Rome", MISSING)


def test_transform_by_hand(train_frame):
    pre = fit_preprocessor(train_frame, min_frequency=1)
    out = pre.transform(pd.DataFrame({"age": [np.nan, 40.0], "city": ["Rome", "Paris"]}))
    mean, std = pre.numeric[0].mean, pre.numeric[0].std
    assert out[:, 0] == pytest.approx([(30 - mean) / std, (40 - mean) / std])
    assert out[0, 1:].tolist() == [0, 1, 0]  # Rome
    assert out[1, 1:].tolist() == [0, 0, 0]  # unseen city: no column
    assert pre.output_names == ["age", "city=Oslo", "city=Rome", f"city={MISSING}"]


def test_rare_categories_pool_into_other():
    frame = pd.DataFrame({"c": list("aaabbc")})
    pre = fit_preprocessor(frame, max_categories=2, min_frequency=1)
    assert pre.categorical[0].categories == ("a", OTHER)
    out = pre.transform(pd.DataFrame({"c": ["b", "z", "a"]}))
    assert out.tolist() == [[0, 1], [0, 1], [1, 0]]


def test_json_round_trip(train_frame):
    pre = fit_preprocessor(train_frame, min_frequency=1)
    again = TabularPreprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    assert again == pre
    np.testing.assert_array_equal(again.transform(train_frame), pre.transform(train_frame))


def test_missing_column_and_non_numeric_value(train_frame):
    pre = fit_preprocessor(train_frame, min_frequency=1)
    with pytest.raises(DataError, match="the model needs column\\(s\\) 'city'"):
        pre.transform(train_frame[["age"]])
    with pytest.raises(DataError, match="column 'age' must be numeric .* holds 'old' in 1 row"):
        pre.transform(pd.DataFrame({"age": ["old", 3], "city": ["Oslo", "Oslo"]}))
