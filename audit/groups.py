"""Sensitive attributes as groups: string labels, binning of continuous columns, intersections.

Public surface: :func:`prepare_sensitive_features` and :func:`sensitive_attributes`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from raikit.models.errors import DataError

AGE_BANDS = ("<25", "25-34", "35-44", "45-54", "55-64", "65+")
_AGE_EDGES = (-np.inf, 25, 35, 45, 55, 65, np.inf)
_AGE_NAME = re.compile(r"(?:^|[^a-z])age(?:[^a-z]|$)")
_MAX_DISTINCT_UNBINNED = 10


def _format_number(value: float) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else f"{value:g}"


def _check_missing(frame: pd.DataFrame) -> None:
    for column in frame.columns:
        missing = int(frame[column].isna().sum())
        if missing:
            raise DataError(
                f"sensitive column '{column}' has {missing} missing values; fill them "
                "(e.g. with 'unknown') or drop those rows"
            )


def prepare_sensitive_features(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """Turn sensitive columns into string group labels, binning continuous ones.

    A numeric column with more than 10 distinct values is binned:

    - age-like (the name contains the word ``age``, e.g. ``age``, ``Age``, ``age_years``;
      values between 0 and 130) into the bands ``<25``, ``25-34``, ``35-44``, ``45-54``,
      ``55-64`` and ``65+`` (left-closed: 25 is in ``25-34``);
    - any other into quartile bands labelled with their edges, ``[lo, q1]``, ``(q1, q2]``,
      ``(q2, q3]``, ``(q3, hi]`` (fewer bands when quartiles tie).

    Other columns become strings as they are; whole-valued floats lose their ``.0``.

    Parameters
    ----------
    frame : pandas.DataFrame
        One column per sensitive attribute; no missing values.

    Returns
    -------
    prepared : pandas.DataFrame
        Same index and columns, every value a string.
    binning : dict of str to str
        For each binned column, a one-line description of the binning.

    Raises
    ------
    DataError
        If a column has missing values.

    Examples
    --------
    >>> prepared, binning = prepare_sensitive_features(pd.DataFrame({"age": range(20, 80)}))
    >>> sorted(prepared["age"].unique())
    ['25-34', '35-44', '45-54', '55-64', '65+', '<25']
    """
    _check_missing(frame)
    prepared: dict[str, pd.Series] = {}
    binning: dict[str, str] = {}
    for column in frame.columns:
        values = frame[column]
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        codes, uniques = pd.factorize(values, sort=True)
        if numeric and len(uniques) > _MAX_DISTINCT_UNBINNED:
            labels, binning[str(column)] = _bin(str(column), values.to_numpy(dtype=np.float64))
        else:
            names = [_format_number(u) if numeric else str(u) for u in uniques]
            labels = np.asarray(names, dtype=object)[codes]
        prepared[column] = pd.Series(labels, index=frame.index, dtype="str")
    return pd.DataFrame(prepared, index=frame.index), binning


def _bin(column: str, values: np.ndarray) -> tuple[np.ndarray, str]:
    low, high = values.min(), values.max()
    if _AGE_NAME.search(column.lower()) and low >= 0 and high <= 130:
        bands = pd.cut(values, bins=list(_AGE_EDGES), right=False, labels=list(AGE_BANDS))
        description = f"age in years, binned into bands {', '.join(AGE_BANDS)}"
        return np.asarray(bands.astype(str)), description
    edges = np.unique(np.quantile(values, [0.0, 0.25, 0.5, 0.75, 1.0]))
    names = [
        f"({_format_number(a)}, {_format_number(b)}]"
        for a, b in zip(edges[:-1], edges[1:], strict=True)
    ]
    names[0] = "[" + names[0][1:]
    bands = pd.cut(values, bins=edges, include_lowest=True, labels=names)
    description = f"{len(np.unique(values))} distinct values, binned into quartiles: " + ", ".join(
        names
    )
    return np.asarray(bands.astype(str)), description


@dataclass(frozen=True)
class SensitiveAttribute:
    """One way of splitting rows into groups: a column, or the intersection of all."""

    name: str
    columns: list[str]
    codes: np.ndarray
    groups: list[dict[str, str]]
    binning: str | None


def sensitive_attributes(
    prepared: pd.DataFrame, binning: dict[str, str], intersections: bool
) -> list[SensitiveAttribute]:
    """Each prepared column as groups, then (if ``intersections``) their intersection.

    Raises
    ------
    DataError
        If a column has a single group.
    """
    columns = [str(c) for c in prepared.columns]
    attributes = []
    for column in columns:
        codes, uniques = pd.factorize(prepared[column], sort=True)
        if len(uniques) < 2:
            raise DataError(
                f"sensitive column '{column}' has a single group '{uniques[0]}'; "
                "fairness compares at least two groups"
            )
        groups = [{column: str(u)} for u in uniques]
        attributes.append(SensitiveAttribute(column, [column], codes, groups, binning.get(column)))
    if not intersections or len(columns) < 2:
        return attributes
    # Mixed-radix key of each row's combination, compacted to the observed combinations,
    # whose digits are decoded back into one value per column.
    sizes = [len(a.groups) for a in attributes]
    if np.prod([float(s) for s in sizes]) >= 2.0**62:
        raise DataError(f"the sensitive columns {columns} have too many value combinations")
    key = np.zeros(len(prepared), dtype=np.int64)
    for attribute, size in zip(attributes, sizes, strict=True):
        key = key * size + attribute.codes
    codes, combos = pd.factorize(key, sort=True)
    combos = np.asarray(combos, dtype=np.int64)
    digits = {}
    for attribute, size in reversed(list(zip(attributes, sizes, strict=True))):
        combos, digits[attribute.name] = np.divmod(combos, size)
    groups = [
        {a.name: a.groups[digits[a.name][i]][a.name] for a in attributes}
        for i in range(len(combos))
    ]
    described = "; ".join(f"{c}: {binning[c]}" for c in columns if c in binning) or None
    attributes.append(SensitiveAttribute(" & ".join(columns), columns, codes, groups, described))
    return attributes
