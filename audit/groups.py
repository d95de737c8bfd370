"""Sensitive groups: the one way every concern splits rows into groups.

A :class:`Grouping` is fitted once on the data (:func:`fit_groups`) and then applied to any of
its rows, so fairness, robustness, membership inference, explanations and mitigation all see the
same groups with the same labels:

- a column of labels (strings, booleans, numbers with at most 10 distinct values) keeps one
  group per value, written as :func:`raikit.models.schema.label_text` writes it (1.0 as ``1``);
- a numeric column with more than 10 distinct values is binned: age-like ones (the name holds
  the word ``age``; values between 0 and 130) into :data:`AGE_BANDS`, any other into quartiles;
- a missing value (None, NaN) is a group of its own, :data:`MISSING_GROUP`, never dropped;
- a column of labels with more than :data:`MAX_GROUPS` distinct values is refused, not pooled:
  each group is compared with every other, and so many are usually an identifier or free text;
- several columns also form their intersection, one group per observed combination.

Public surface: :func:`fit_groups`, :class:`Grouping`, :class:`SensitiveAttribute`,
:func:`prepare_sensitive_features`, :data:`AGE_BANDS`, :data:`MAX_GROUPS` and
:data:`MISSING_GROUP`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from raikit.models.errors import DataError
from raikit.models.schema import label_text

__all__ = [
    "AGE_BANDS",
    "MAX_GROUPS",
    "MISSING_GROUP",
    "ColumnGrouping",
    "Grouping",
    "SensitiveAttribute",
    "fit_groups",
    "prepare_sensitive_features",
]

AGE_BANDS = ("<25", "25-34", "35-44", "45-54", "55-64", "65+")
#: The group of rows whose sensitive value is missing (parenthesised: no data value looks so).
MISSING_GROUP = "(missing)"
_AGE_CUTS = (25.0, 35.0, 45.0, 55.0, 65.0)
_AGE_NAME = re.compile(r"(?:^|[^a-z])age(?:[^a-z]|$)")
_MAX_DISTINCT_UNBINNED = 10
#: Most groups a column of labels may form. Beyond it the figures per group are too small to
#: conclude from, the report grows with every group and the bootstrap slows with them.
MAX_GROUPS = 50

MSG_SINGLE_GROUP = (
    "sensitive column '{column}' has a single group '{group}'; fairness compares at least two "
    "groups"
)
MSG_TOO_MANY_GROUPS = (
    "sensitive column '{column}' has {count} distinct values, more than the {limit} groups raikit "
    "compares; bin or pool its values into at most {limit} categories first"
)
MSG_MISSING_LABEL_CLASH = (
    "sensitive column '{column}' holds both missing values and the value '{label}', which is "
    "the name of the missing-value group; rename that value"
)


def _format_number(value: float) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else f"{value:g}"


def _is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


@dataclass(frozen=True)
class ColumnGrouping:
    """How one sensitive column's values become groups, fitted once and applied to any rows.

    ``kind`` is ``"values"`` (one group per value), ``"age_bands"`` (left-closed bands cut at
    ``cuts``: 25 is in ``25-34``) or ``"quartiles"`` (right-closed bands cut at ``cuts``, the
    first including its lower edge). Values beyond the fitted range fall in the outer bands.
    """

    column: str
    kind: Literal["values", "age_bands", "quartiles"] = "values"
    cuts: tuple[float, ...] = ()
    bands: tuple[str, ...] = ()
    description: str | None = None

    def encode(self, values: pd.Series) -> tuple[np.ndarray, list[str]]:
        """Group code of every row and the names of the groups present, in natural order.

        Bands keep their order, values sort as values (numbers numerically), and
        :data:`MISSING_GROUP` comes last.
        """
        missing = values.isna().to_numpy()
        if self.kind == "values":
            codes, names = _encode_values(values, missing)
            if missing.any() and MISSING_GROUP in names:
                label = MISSING_GROUP
                raise DataError(MSG_MISSING_LABEL_CLASH.format(column=self.column, label=label))
        else:
            numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
            not_numbers = np.isnan(numbers) & ~missing
            if not_numbers.any():
                raise DataError(
                    f"sensitive column '{self.column}' is binned as numbers but holds "
                    f"'{values[not_numbers].iloc[0]}'"
                )
            side = "right" if self.kind == "age_bands" else "left"
            band = np.searchsorted(np.asarray(self.cuts), numbers, side=side)
            present = np.unique(band[~missing])
            codes = np.searchsorted(present, band)
            names = [self.bands[i] for i in present]
        if missing.any():
            codes = np.where(missing, len(names), codes)
            names = [*names, MISSING_GROUP]
        return codes.astype(np.int64), names

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "kind": self.kind,
            "cuts": list(self.cuts),
            "bands": list(self.bands),
            "description": self.description,
        }


def _encode_values(values: pd.Series, missing: np.ndarray) -> tuple[np.ndarray, list[str]]:
    try:
        codes, uniques = pd.factorize(values, sort=True)
        ordered = True
    except TypeError:  # values of types that do not compare (e.g. numbers and strings)
        codes, uniques = pd.factorize(values)
        ordered = False
    texts = [label_text(u) for u in uniques]
    # Values that write alike (1, 1.0 and "1") are one group, as they are one class.
    names = list(dict.fromkeys(texts)) if ordered else sorted(set(texts))
    position = {name: i for i, name in enumerate(names)}
    remap = np.asarray([position[t] for t in texts] or [0], dtype=np.int64)
    return np.where(missing, 0, remap[np.maximum(codes, 0)]), names


def _fit_column(column: str, values: pd.Series) -> ColumnGrouping:
    present = values.dropna()
    distinct = present.nunique()
    if not _is_numeric(values) or distinct <= _MAX_DISTINCT_UNBINNED:
        if distinct > MAX_GROUPS:
            raise DataError(
                MSG_TOO_MANY_GROUPS.format(column=column, count=distinct, limit=MAX_GROUPS)
            )
        return ColumnGrouping(column)
    numbers = present.to_numpy(dtype=np.float64)
    low, high = numbers.min(), numbers.max()
    if _AGE_NAME.search(column.lower()) and low >= 0 and high <= 130:
        description = f"age in years, binned into bands {', '.join(AGE_BANDS)}"
        return ColumnGrouping(column, "age_bands", _AGE_CUTS, AGE_BANDS, description)
    edges = np.unique(np.quantile(numbers, [0.0, 0.25, 0.5, 0.75, 1.0]))
    names = [
        f"({_format_number(a)}, {_format_number(b)}]"
        for a, b in zip(edges[:-1], edges[1:], strict=True)
    ]
    names[0] = "[" + names[0][1:]
    description = f"{len(np.unique(numbers))} distinct values, binned into quartiles: " + ", ".join(
        names
    )
    cuts = tuple(float(e) for e in edges[1:-1])
    return ColumnGrouping(column, "quartiles", cuts, tuple(names), description)


@dataclass(frozen=True)
class SensitiveAttribute:
    """One way of splitting rows into groups: a column, or the intersection of several.

    ``codes[i]`` is the group of row ``i``, an index into ``groups`` (one ``{column: label}``
    dict per group).
    """

    name: str
    columns: list[str]
    codes: np.ndarray
    groups: list[dict[str, str]]
    binning: str | None

    @property
    def labels(self) -> list[str]:
        """Each group's name: its label, or ``column=label & ...`` for an intersection."""
        if len(self.columns) == 1:
            return [group[self.columns[0]] for group in self.groups]
        return [" & ".join(f"{c}={v}" for c, v in group.items()) for group in self.groups]

    def rows_by_group(self) -> list[tuple[str, np.ndarray]]:
        """``(label, row positions)`` of every group, in the order of ``groups``."""
        order = np.argsort(self.codes, kind="stable")
        bounds = np.searchsorted(self.codes[order], np.arange(len(self.groups) + 1))
        return [(label, order[bounds[i] : bounds[i + 1]]) for i, label in enumerate(self.labels)]

    def row_labels(self) -> np.ndarray:
        """The group label of every row (an object array)."""
        return np.asarray(self.labels, dtype=object)[self.codes]


@dataclass(frozen=True)
class Grouping:
    """The groups of every sensitive column: fitted by :func:`fit_groups`, applied to any rows."""

    columns: tuple[ColumnGrouping, ...]

    @property
    def names(self) -> list[str]:
        """The sensitive columns, in order."""
        return [c.column for c in self.columns]

    @property
    def binning(self) -> dict[str, str]:
        """For each binned column, a one-line description of its bands."""
        return {c.column: c.description for c in self.columns if c.description is not None}

    def attributes(
        self, frame: pd.DataFrame, *, intersections: bool = False, min_groups: int = 1
    ) -> list[SensitiveAttribute]:
        """Each column's groups over the rows of ``frame``, then (if ``intersections`` and
        there are two or more columns) their intersection.

        Parameters
        ----------
        frame : pandas.DataFrame
            Rows holding every sensitive column (other columns are ignored).
        intersections : bool
            Also split the rows by the combination of all columns.
        min_groups : int
            A column with fewer groups than this is an error (fairness needs two).

        Raises
        ------
        DataError
            If a column is absent, or has fewer than ``min_groups`` groups.
        """
        by_name = {str(c): c for c in frame.columns}
        absent = [c for c in self.names if c not in by_name]
        if absent:
            raise DataError(f"sensitive column '{absent[0]}' not found in the data")
        attributes = []
        for column in self.columns:
            codes, names = column.encode(frame[by_name[column.column]])
            if not names and min_groups > 0:
                raise DataError(f"sensitive column '{column.column}' has no rows to form groups")
            if len(names) < min_groups:
                raise DataError(MSG_SINGLE_GROUP.format(column=column.column, group=names[0]))
            groups = [{column.column: name} for name in names]
            name = column.column
            attributes.append(SensitiveAttribute(name, [name], codes, groups, column.description))
        if not intersections or len(attributes) < 2:
            return attributes
        return [*attributes, self._intersection(attributes, len(frame))]

    def joint(self, frame: pd.DataFrame) -> SensitiveAttribute:
        """All sensitive columns together: the one column, or the intersection of all."""
        return self.attributes(frame, intersections=True)[-1]

    def labels(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The group label of every row and column (strings), with ``frame``'s index."""
        labels = {
            attribute.name: pd.Series(attribute.row_labels(), index=frame.index, dtype="str")
            for attribute in self.attributes(frame)
        }
        return pd.DataFrame(labels, index=frame.index, columns=self.names)

    def _intersection(
        self, attributes: list[SensitiveAttribute], n_rows: int
    ) -> SensitiveAttribute:
        # Mixed-radix key of each row's combination, compacted to the observed combinations,
        # whose digits are decoded back into one label per column.
        columns = self.names
        sizes = [len(a.groups) for a in attributes]
        if np.prod([float(s) for s in sizes]) >= 2.0**62:
            raise DataError(f"the sensitive columns {columns} have too many value combinations")
        key = np.zeros(n_rows, dtype=np.int64)
        for attribute, size in zip(attributes, sizes, strict=True):
            key = key * size + attribute.codes
        codes, combos = pd.factorize(key, sort=True)
        combos = np.asarray(combos, dtype=np.int64)
        n_combos = len(combos)
        digits = {}
        for attribute, size in reversed(list(zip(attributes, sizes, strict=True))):
            combos, digits[attribute.name] = np.divmod(combos, size)
        groups = [
            {a.name: a.groups[digits[a.name][i]][a.name] for a in attributes}
            for i in range(n_combos)
        ]
        binning = self.binning
        described = "; ".join(f"{c}: {binning[c]}" for c in columns if c in binning) or None
        return SensitiveAttribute(" & ".join(columns), columns, codes, groups, described)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (stored with a model that needs its groups at prediction time)."""
        return {"columns": [c.to_dict() for c in self.columns]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Grouping:
        """The grouping :meth:`to_dict` wrote."""
        return cls(
            tuple(
                ColumnGrouping(
                    column=c["column"],
                    kind=c["kind"],
                    cuts=tuple(float(x) for x in c["cuts"]),
                    bands=tuple(c["bands"]),
                    description=c["description"],
                )
                for c in data["columns"]
            )
        )


def fit_groups(frame: pd.DataFrame) -> Grouping:
    """Decide how each sensitive column of ``frame`` forms groups (bins and their edges).

    Fit on all the data at hand, then apply the result to any of its rows with
    :meth:`Grouping.attributes` or :meth:`Grouping.labels`: a sample or a split then gets the
    same groups and labels as the whole.

    Parameters
    ----------
    frame : pandas.DataFrame
        One column per sensitive attribute; missing values allowed (their own group).

    Returns
    -------
    Grouping

    Raises
    ------
    DataError
        If a column of labels has more than :data:`MAX_GROUPS` distinct values.

    Examples
    --------
    >>> grouping = fit_groups(pd.DataFrame({"age": [*range(20, 80), None]}))
    >>> grouping.attributes(pd.DataFrame({"age": [19, 25, 70, None]}))[0].labels
    ['<25', '25-34', '65+', '(missing)']
    """
    return Grouping(tuple(_fit_column(str(c), frame[c]) for c in frame.columns))


def prepare_sensitive_features(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """Turn sensitive columns into string group labels, binning continuous ones.

    Shorthand for ``fit_groups(frame)`` applied to ``frame`` itself. A numeric column with more
    than 10 distinct values is binned:

    - age-like (the name contains the word ``age``, e.g. ``age``, ``Age``, ``age_years``;
      values between 0 and 130) into the bands ``<25``, ``25-34``, ``35-44``, ``45-54``,
      ``55-64`` and ``65+`` (left-closed: 25 is in ``25-34``);
    - any other into quartile bands labelled with their edges, ``[lo, q1]``, ``(q1, q2]``,
      ``(q2, q3]``, ``(q3, hi]`` (fewer bands when quartiles tie).

    Other columns become strings as :func:`raikit.models.schema.label_text` writes them
    (whole-valued floats lose their ``.0``). Missing values become :data:`MISSING_GROUP`.

    Parameters
    ----------
    frame : pandas.DataFrame
        One column per sensitive attribute.

    Returns
    -------
    prepared : pandas.DataFrame
        Same index and columns, every value a string.
    binning : dict of str to str
        For each binned column, a one-line description of the binning.

    Examples
    --------
    >>> prepared, binning = prepare_sensitive_features(pd.DataFrame({"age": range(20, 80)}))
    >>> sorted(prepared["age"].unique())
    ['25-34', '35-44', '45-54', '55-64', '65+', '<25']
    """
    grouping = fit_groups(frame)
    return grouping.labels(frame), grouping.binning
