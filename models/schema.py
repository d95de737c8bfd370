"""Which columns are what, validated once at the boundary, and how labels become classes.

* :class:`Schema` says which column is the label, which are sensitive attributes and which
  are features; :func:`validate_frame` checks a frame against it.
* :func:`label_text` writes a class name; :func:`binarize_labels` maps a label column to 0/1
  with documented default rules.

Messages are module-level constants (``MSG_*``); tests assert their exact text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from raikit.models.errors import ConfigError, DataError, close_matches_hint

if TYPE_CHECKING:
    from raikit.models.datasets import DatasetSpec

__all__ = ["Schema", "binarize_labels", "label_text", "validate_frame"]

MSG_EMPTY_TABLE = "{source} has no rows"
MSG_NO_COLUMNS = "{source} has no columns"
MSG_DUPLICATE_COLUMNS = "{source} has duplicate column names: {names}"
MSG_UNKNOWN_COLUMN = "column '{column}' not found in {source}{hint}"
MSG_LABEL_MISSING = (
    "label column '{column}' in {source} has {count} missing value(s), the first in data row "
    "{row}; drop or fill those rows"
)
MSG_LABEL_SINGLE_CLASS = (
    "label column '{column}' in {source} has a single class ({value}); at least two are needed"
)
MSG_SENSITIVE_SINGLE_GROUP = (
    "sensitive column '{column}' in {source} has a single group ({value}); at least two are "
    "needed to compare groups"
)

# binarize_labels
MSG_NO_LABELS = "label has no values"
MSG_LABEL_HAS_MISSING = "label has {count} missing value(s); drop or fill them first"
MSG_TOO_MANY_CLASSES = (
    "label has {count} classes ({values}); pass --positive-label to say which one is positive"
)
MSG_ONE_CLASS = "label has a single class ({value}); pass --positive-label to say which is positive"
MSG_POSITIVE_NOT_FOUND = "positive label '{positive}' is not a value of the label; values: {values}"

# Schema
MSG_LABEL_IS_SENSITIVE = "label column '{column}' cannot also be a sensitive column"
MSG_LABEL_IS_FEATURE = "label column '{column}' cannot also be a feature"

_MAX_LISTED = 10


def _list_values(values: list[str]) -> str:
    shown = ", ".join(f"'{v}'" for v in values[:_MAX_LISTED])
    if len(values) > _MAX_LISTED:
        shown += f", ... ({len(values) - _MAX_LISTED} more)"
    return shown


# --------------------------------------------------------------------------------------
# Schema and validation


def _as_tuple(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Schema:
    """Which columns of a table are the label, the sensitive attributes and the features.

    Parameters
    ----------
    label : str or None
        The label column; None when the table has no label (e.g. scoring only).
    sensitive : tuple of str, default ()
        Sensitive-attribute columns, compared across groups.
    features : tuple of str or None, default None
        Model input columns; None means every column except the label and ``exclude``.
        Sensitive columns are features unless excluded.
    exclude : tuple of str, default ()
        Columns never used as features (identifiers, the scores of a system under audit).

    Raises
    ------
    ConfigError
        If the label is also listed as sensitive or as a feature.
    """

    label: str | None
    sensitive: tuple[str, ...] = ()
    features: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        # Accept lists from callers (CLI options) but store tuples, so the schema stays hashable.
        object.__setattr__(self, "sensitive", _as_tuple(self.sensitive))
        object.__setattr__(self, "exclude", _as_tuple(self.exclude))
        if self.features is not None:
            object.__setattr__(self, "features", _as_tuple(self.features))
        if self.label is not None:
            if self.label in self.sensitive:
                raise ConfigError(MSG_LABEL_IS_SENSITIVE.format(column=self.label))
            if self.features is not None and self.label in self.features:
                raise ConfigError(MSG_LABEL_IS_FEATURE.format(column=self.label))

    @classmethod
    def from_spec(cls, spec: DatasetSpec) -> Schema:
        """Return the schema of a built-in dataset.

        Parameters
        ----------
        spec : DatasetSpec
            A built-in dataset's spec.

        Returns
        -------
        Schema
            Label and sensitive columns from the spec; its ``exclude_from_features`` excluded.
        """
        return cls(label=spec.label, sensitive=spec.sensitive, exclude=spec.exclude_from_features)

    def columns(self) -> tuple[str, ...]:
        """Return every column the schema names, each once, in a stable order."""
        named = [self.label] if self.label is not None else []
        named += [*self.sensitive, *(self.features or ()), *self.exclude]
        return tuple(dict.fromkeys(named))

    def feature_columns(self, frame: pd.DataFrame) -> tuple[str, ...]:
        """Return the feature columns of ``frame`` under this schema.

        Parameters
        ----------
        frame : pandas.DataFrame
            The table.

        Returns
        -------
        tuple of str
            ``features`` when given (minus ``exclude``), else every column of ``frame``
            except the label and ``exclude``, in the frame's order.
        """
        dropped = set(self.exclude)
        if self.label is not None:
            dropped.add(self.label)
        candidates = self.features if self.features is not None else tuple(frame.columns)
        return tuple(c for c in candidates if c not in dropped)


def _value_text(value: object) -> str:
    return f"'{label_text(value)}'"


def validate_frame(frame: pd.DataFrame, schema: Schema, *, source: str) -> None:
    """Check a table against a schema; raise one error line for the first problem found.

    Checks, in this order: the table has rows and columns, no duplicate column names,
    every column the schema names exists, the label has no missing values and at least two
    classes, each sensitive column has at least two groups (missing values count as a group
    of their own).

    Parameters
    ----------
    frame : pandas.DataFrame
        The table.
    schema : Schema
        What the columns are.
    source : str
        How to name the table in messages (a file name such as ``adult.csv``).

    Raises
    ------
    DataError
        With one of the ``MSG_*`` messages of this module, e.g.
        ``column 'gruop' not found in adult.csv; did you mean 'group'?``.
    """
    if frame.shape[1] == 0:
        raise DataError(MSG_NO_COLUMNS.format(source=source))
    if len(frame) == 0:
        raise DataError(MSG_EMPTY_TABLE.format(source=source))
    columns = [str(c) for c in frame.columns]
    duplicated = list(dict.fromkeys(c for c in columns if columns.count(c) > 1))
    if duplicated:
        names = ", ".join(f"'{c}'" for c in duplicated)
        raise DataError(MSG_DUPLICATE_COLUMNS.format(source=source, names=names))
    for column in schema.columns():
        if column not in frame.columns:
            hint = close_matches_hint(column, columns)
            raise DataError(MSG_UNKNOWN_COLUMN.format(column=column, source=source, hint=hint))

    if schema.label is not None:
        label = frame[schema.label]
        missing = label.isna().to_numpy()
        if missing.any():
            first_row = int(np.flatnonzero(missing)[0]) + 1
            raise DataError(
                MSG_LABEL_MISSING.format(
                    column=schema.label, source=source, count=int(missing.sum()), row=first_row
                )
            )
        classes = pd.unique(label)
        if len(classes) < 2:
            raise DataError(
                MSG_LABEL_SINGLE_CLASS.format(
                    column=schema.label, source=source, value=_value_text(classes[0])
                )
            )

    for column in schema.sensitive:
        values = frame[column]
        groups = pd.unique(values.dropna())
        if len(groups) + bool(values.isna().any()) < 2:
            raise DataError(
                MSG_SENSITIVE_SINGLE_GROUP.format(
                    column=column,
                    source=source,
                    value=_value_text(groups[0]) if len(groups) else "every value missing",
                )
            )


# --------------------------------------------------------------------------------------
# Labels


def label_text(value: object) -> str:
    """Write a label value as a user types it: 1 and 1.0 as "1", True as "True".

    Class names everywhere (checkpoints, evidence, matching a label column against a model's
    classes) are written with this function, so 1, 1.0 and "1" name the same class.
    """
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _is_number(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, (bool, np.bool_))


def _default_positive(classes: list[object]) -> object:
    """Pick the positive class of a binary label (see :func:`binarize_labels`)."""
    if all(isinstance(v, (bool, np.bool_)) for v in classes):
        return True
    if all(_is_number(v) for v in classes) and set(classes) == {0, 1}:
        return 1
    if {label_text(v).lower() for v in classes} == {"no", "yes"}:
        return next(v for v in classes if label_text(v).lower() == "yes")
    if all(_is_number(v) for v in classes):
        return max(classes)  # type: ignore[type-var]
    return max(classes, key=label_text)


def binarize_labels(series: pd.Series, positive_label: str | None = None) -> tuple[np.ndarray, str]:
    """Map a label column to 0/1.

    Parameters
    ----------
    series : pandas.Series
        The label values; no missing values.
    positive_label : str or None, default None
        The value that becomes 1, written as text (``"1"`` matches the integer 1 and the
        float 1.0, ``"True"`` the boolean True); every other value becomes 0, so a
        multiclass label is binarised one-vs-rest. When None, the label must have two
        classes and the positive one is chosen by these rules, in order:

        1. booleans: ``True``;
        2. numbers 0 and 1: ``1``;
        3. ``no``/``yes`` in any case: ``yes``;
        4. otherwise the larger class: numeric order for numbers, lexicographic order of
           the text for anything else (so ``">50K"`` over ``"<=50K"``, ``"good"`` over
           ``"bad"``, ``"pos"`` over ``"neg"``). Pass ``positive_label`` when that is wrong.

    Returns
    -------
    labels : numpy.ndarray of int64
        1 where the value is the positive label, else 0.
    positive : str
        The positive label used, as text.

    Raises
    ------
    DataError
        If the label has missing values; when ``positive_label`` is None, if it has more
        than two classes (naming them) or a single one; if ``positive_label`` is not among
        the values (listing them).

    Examples
    --------
    >>> binarize_labels(pd.Series(["<=50K", ">50K", "<=50K"]))
    (array([0, 1, 0]), '>50K')
    """
    missing = int(series.isna().sum())
    if missing:
        raise DataError(MSG_LABEL_HAS_MISSING.format(count=missing))
    values = series.to_numpy(dtype=object)
    if len(values) == 0:
        raise DataError(MSG_NO_LABELS)
    codes, uniques = pd.factorize(values)
    classes = list(uniques)
    unique_texts = [label_text(v) for v in classes]
    class_texts = sorted(set(unique_texts))

    if positive_label is not None:
        positive = str(positive_label)
        if positive not in class_texts:
            raise DataError(
                MSG_POSITIVE_NOT_FOUND.format(positive=positive, values=_list_values(class_texts))
            )
    else:
        if len(classes) > 2:
            raise DataError(
                MSG_TOO_MANY_CLASSES.format(
                    count=len(class_texts), values=_list_values(class_texts)
                )
            )
        if len(classes) < 2:
            raise DataError(MSG_ONE_CLASS.format(value=_value_text(classes[0])))
        positive = label_text(_default_positive(classes))
    # Compare per class in Python: numpy would strip trailing NULs from a str scalar.
    is_positive = np.array([text == positive for text in unique_texts], dtype=np.int64)
    return is_positive[codes], positive
