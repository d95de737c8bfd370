"""Tabular preprocessing fitted on the training split and saved with the model as JSON.

Numeric columns: missing values imputed with the training median, then standardised with the
training mean and standard deviation. Other columns: one-hot over the training categories seen
in at least ``min_frequency`` training rows (at most ``max_categories - 1`` of them, the most
frequent); the rest are pooled into one infrequent bucket, ``"__other__"``, as scikit-learn's
``OneHotEncoder(min_frequency=...)`` does, so a value held by a handful of rows (a name, an
e-mail address, a card number typed into a category column) is never written into the
checkpoint. A missing value is its own category ``"__missing__"``; a value unseen in training
maps to the bucket (or to no column when there is none). A column whose values are mostly
distinct (free text or an identifier) is refused with a :class:`DataError` naming the fix:
one-hot over it would learn nothing and store the data. Checkpoints fitted before the bucket
existed keep their stored categories as they are.
Stored as plain JSON, never pickled, so a checkpoint cannot run code when loaded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from raikit.models.errors import DataError

MISSING = "__missing__"
OTHER = "__other__"
MIN_FREQUENCY = 5
"""Training rows a category needs to get its own one-hot column (others go to ``__other__``)."""
FREE_TEXT_DISTINCT_SHARE = 0.5
"""A non-numeric column with more distinct values than this share of its rows is free text."""
FREE_TEXT_MIN_ROWS = 20
"""Fewer non-missing training values than this are too few to call a column free text."""


@dataclass(frozen=True)
class NumericColumn:
    name: str
    median: float
    mean: float
    std: float


@dataclass(frozen=True)
class CategoricalColumn:
    name: str
    categories: tuple[str, ...]


@dataclass(frozen=True)
class TabularPreprocessor:
    """Maps raw table rows to the float matrix the model was trained on."""

    numeric: tuple[NumericColumn, ...]
    categorical: tuple[CategoricalColumn, ...]

    @property
    def columns(self) -> list[str]:
        """Raw input columns, in the order they were fitted."""
        return [c.name for c in self.numeric] + [c.name for c in self.categorical]

    @property
    def output_names(self) -> list[str]:
        """Name of every output feature (``column`` or ``column=category``)."""
        names = [c.name for c in self.numeric]
        for column in self.categorical:
            names.extend(f"{column.name}={value}" for value in column.categories)
        return names

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Return a float32 matrix of ``len(frame)`` rows; missing columns raise ``DataError``."""
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise DataError(
                f"the model needs column(s) {', '.join(repr(c) for c in missing)}, "
                "which the data does not have"
            )
        blocks = []
        for column in self.numeric:
            values = _as_numeric(frame[column.name])
            values = np.where(np.isnan(values), column.median, values)
            blocks.append(((values - column.mean) / column.std)[:, None])
        for column in self.categorical:
            values = _as_category(frame[column.name], column.categories)
            blocks.append(values.to_numpy()[:, None] == np.asarray(column.categories)[None, :])
        if not blocks:
            return np.zeros((len(frame), 0), dtype=np.float32)
        return np.hstack(blocks).astype(np.float32)

    def to_dict(self) -> dict:
        """JSON-serialisable form, read back by :meth:`from_dict`."""
        return {
            "numeric": [asdict(c) for c in self.numeric],
            "categorical": [
                {"name": c.name, "categories": list(c.categories)} for c in self.categorical
            ],
        }

    @classmethod
    def from_dict(cls, data: dict) -> TabularPreprocessor:
        return cls(
            numeric=tuple(NumericColumn(**c) for c in data["numeric"]),
            categorical=tuple(
                CategoricalColumn(c["name"], tuple(c["categories"])) for c in data["categorical"]
            ),
        )


def fit_preprocessor(
    frame: pd.DataFrame,
    *,
    max_categories: int = 50,
    min_frequency: int = MIN_FREQUENCY,
    accept_free_text: bool = False,
) -> TabularPreprocessor:
    """Fit a :class:`TabularPreprocessor` on the training rows of ``frame`` (feature columns only).

    Parameters
    ----------
    frame : DataFrame
        Training rows, feature columns only.
    max_categories : int
        Most one-hot columns per categorical column, ``"__other__"`` included.
    min_frequency : int
        Training rows a category needs to be kept; rarer ones are pooled into ``"__other__"``
        and never stored.
    accept_free_text : bool
        Keep a mostly-distinct column (its rare values pooled as any other's) instead of
        refusing it: for a retraining of a recipe that already accepted the column on more
        rows, such as a membership attack's shadow models on half of the data.

    Raises
    ------
    DataError
        If a non-numeric column looks like free text or an identifier: more than half of its
        (at least :data:`FREE_TEXT_MIN_ROWS`) values distinct.
    """
    numeric, categorical = [], []
    for name in frame.columns:
        series = frame[name]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            values = series.to_numpy(dtype=float, na_value=np.nan)
            finite = values[~np.isnan(values)]
            if finite.size == 0:
                raise DataError(f"feature column '{name}' has no values in the training split")
            median = float(np.median(finite))
            filled = np.where(np.isnan(values), median, values)
            std = float(filled.std())
            numeric.append(NumericColumn(name, median, float(filled.mean()), std or 1.0))
        else:
            categorical.append(
                _fit_categories(series, max_categories, min_frequency, accept_free_text)
            )
    return TabularPreprocessor(tuple(numeric), tuple(categorical))


def _fit_categories(
    series: pd.Series, max_categories: int, min_frequency: int, accept_free_text: bool
) -> CategoricalColumn:
    name = series.name
    present = series.dropna()
    n_distinct = int(present.astype("string").nunique())
    free_text = n_distinct > FREE_TEXT_DISTINCT_SHARE * len(present)
    if not accept_free_text and len(present) >= FREE_TEXT_MIN_ROWS and free_text:
        raise DataError(
            f"column '{name}' looks like free text or an identifier ({n_distinct:,} distinct "
            f"values in {len(present):,} training rows) and would be stored in the model; "
            f"leave it out with --exclude {name}, or train a text model on it with --text {name}"
        )
    counts = series.astype("string").fillna(MISSING).value_counts(sort=True)
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    # The missing marker is no data, so it keeps its column however rare.
    kept = [str(v) for v, count in ordered if count >= min_frequency or v == MISSING]
    if len(kept) < len(ordered) or len(kept) > max_categories:
        kept = kept[: max_categories - 1] + [OTHER]
    return CategoricalColumn(str(name), tuple(kept))


def _as_numeric(series: pd.Series) -> np.ndarray:
    values = pd.to_numeric(series, errors="coerce")
    bad = values.isna() & series.notna()
    if bad.any():
        example = series[bad].iloc[0]
        raise DataError(
            f"column '{series.name}' must be numeric (as in training) but holds {example!r} "
            f"in {int(bad.sum())} row(s)"
        )
    return values.to_numpy(dtype=float, na_value=np.nan)


def _as_category(series: pd.Series, categories: tuple[str, ...]) -> pd.Series:
    values = series.astype("string").fillna(MISSING)
    if OTHER in categories:
        known = set(categories)
        values = values.where(values.isin(known), OTHER)
    return values
