"""User data at the boundary: read a table, say which columns are what, validate once.

* :func:`read_table` reads CSV/TSV, Parquet, JSON Lines and JSON (records) files and turns
  every problem into one :class:`~models.errors.DataError` line that names the file.
* :func:`load_table` accepts a path or a built-in dataset name and records the data's sha256
  for the evidence bundle.
* :class:`Schema` says which column is the label, which are sensitive attributes and which
  are features; :func:`validate_frame` checks a frame against it.
* :func:`binarize_labels` maps a label column to 0/1 with documented default rules.

Messages are module-level constants (``MSG_*``); tests assert their exact text.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
from dataclasses import dataclass, field
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pandas as pd

from models.datasets import DatasetSpec, get_dataset, list_datasets
from models.errors import ConfigError, DataError, close_matches_hint
from models.provenance import sha256_file

__all__ = [
    "SUPPORTED_SUFFIXES",
    "LoadedTable",
    "Schema",
    "binarize_labels",
    "frame_sha256",
    "load_table",
    "read_table",
    "validate_frame",
]

#: File suffixes :func:`read_table` understands (case-insensitive), and their format.
SUPPORTED_SUFFIXES: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
}
BUILTIN_PREFIX = "builtin:"

# read_table / load_table
MSG_NO_FILE = "{path}: no such file"
MSG_IS_DIRECTORY = "{path} is a directory, not a data file"
MSG_UNSUPPORTED_SUFFIX = "{path}: unsupported file type '{suffix}'; supported: {supported}"
MSG_EMPTY_FILE = "{path} is empty (0 bytes)"
MSG_NO_ROWS = "{path} has no rows"
MSG_NOT_UTF8 = (
    "{path} is not valid {encoding}: byte 0x{byte:02x} at offset {offset}; re-save it as UTF-8 "
    "or pass its encoding (e.g. encoding='latin-1')"
)
MSG_UNKNOWN_ENCODING = "unknown encoding '{encoding}' for {path}"
MSG_UNPARSEABLE = "{path} could not be read as {fmt}: {detail}"
MSG_NOT_RECORDS = (
    "{path} could not be read as json: expected an array of objects (records), got {got}"
)
MSG_NOT_A_SOURCE = "'{name}' is neither a file nor a built-in dataset (see `rai datasets`){hint}"

# validate_frame
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
MSG_SENSITIVE_MISSING = (
    "sensitive column '{column}' in {source} has {count} missing value(s); fill them with an "
    "explicit group such as 'unknown' or drop those rows"
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


# --------------------------------------------------------------------------------------
# Reading files


def _list_values(values: list[str]) -> str:
    shown = ", ".join(f"'{v}'" for v in values[:_MAX_LISTED])
    if len(values) > _MAX_LISTED:
        shown += f", ... ({len(values) - _MAX_LISTED} more)"
    return shown


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _undecodable_offset(path: Path, encoding: str) -> tuple[int, int] | None:
    """Return (absolute byte offset, byte value) of the first byte ``encoding`` rejects."""
    decoder = codecs.getincrementaldecoder(encoding)()
    consumed = 0
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                pending = len(exc.object) - len(chunk)  # bytes the decoder held back
                offset = consumed - pending + exc.start
                return offset, exc.object[exc.start]
            consumed += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            pending = len(exc.object)
            return consumed - pending + exc.start, exc.object[exc.start]
    return None


def _encoding_error(path: Path, shown: str, encoding: str) -> DataError:
    if encoding == "utf-8-sig":
        # Scan as plain UTF-8 (a byte-order mark is valid UTF-8) so offsets count from byte 0.
        encoding = "UTF-8"
    found = _undecodable_offset(path, encoding)
    offset, byte = found if found is not None else (0, 0)
    return DataError(MSG_NOT_UTF8.format(path=shown, encoding=encoding, byte=byte, offset=offset))


def _read_json_records(path: Path, shown: str, encoding: str) -> pd.DataFrame:
    text = path.read_text(encoding=encoding)
    try:
        records = json.loads(text)
    except json.JSONDecodeError as exc:
        detail = f"line {exc.lineno}, column {exc.colno}: {exc.msg}"
        raise DataError(MSG_UNPARSEABLE.format(path=shown, fmt="json", detail=detail)) from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        got = type(records).__name__ if not isinstance(records, list) else "a list of non-objects"
        raise DataError(MSG_NOT_RECORDS.format(path=shown, got=got))
    return pd.DataFrame.from_records(records)


def _read_json_lines(path: Path, shown: str, encoding: str) -> pd.DataFrame:
    # Parsed with the json module rather than pandas.read_json, which coerces values
    # (strings of digits to numbers, date-like strings to timestamps).
    records = []
    with path.open(encoding=encoding) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line.rstrip("\r\n"))
            except json.JSONDecodeError as exc:
                detail = f"line {number}, column {exc.colno}: {exc.msg}"
                raise DataError(
                    MSG_UNPARSEABLE.format(path=shown, fmt="jsonl", detail=detail)
                ) from None
            if not isinstance(record, dict):
                detail = f"line {number}: expected an object, got {type(record).__name__}"
                raise DataError(MSG_UNPARSEABLE.format(path=shown, fmt="jsonl", detail=detail))
            records.append(record)
    return pd.DataFrame.from_records(records)


def read_table(path: str | os.PathLike[str], *, encoding: str | None = None) -> pd.DataFrame:
    """Read a tabular data file into a DataFrame, without modifying it.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.csv``, ``.tsv``, ``.parquet``, ``.jsonl``/``.ndjson`` (one JSON object a line)
        or ``.json`` (an array of objects) file; the suffix decides the format.
    encoding : str, optional
        Text encoding of CSV/TSV/JSON files; UTF-8 when None (a UTF-8 byte-order mark is
        accepted). Ignored for Parquet.

    Returns
    -------
    pandas.DataFrame
        The table, with a default RangeIndex.

    Raises
    ------
    DataError
        One line naming the file, when it is missing, a directory, empty (0 bytes or no
        rows), of an unsupported type, not decodable with ``encoding`` (with the byte
        offset), or not parseable.

    Examples
    --------
    >>> frame = read_table("data/applicants.csv")  # doctest: +SKIP
    """
    shown = str(path)
    file = Path(path)
    if not file.exists():
        raise DataError(MSG_NO_FILE.format(path=shown))
    if file.is_dir():
        raise DataError(MSG_IS_DIRECTORY.format(path=shown))
    suffix = file.suffix.lower()
    fmt = SUPPORTED_SUFFIXES.get(suffix)
    if fmt is None:
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise DataError(
            MSG_UNSUPPORTED_SUFFIX.format(
                path=shown, suffix=suffix or "(none)", supported=supported
            )
        )
    if file.stat().st_size == 0:
        raise DataError(MSG_EMPTY_FILE.format(path=shown))

    text_encoding = encoding or "utf-8"
    if fmt != "parquet":
        try:
            codecs.lookup(text_encoding)
        except LookupError:
            raise DataError(
                MSG_UNKNOWN_ENCODING.format(encoding=text_encoding, path=shown)
            ) from None
        if text_encoding.replace("_", "-").lower() in ("utf-8", "utf8"):
            text_encoding = "utf-8-sig"  # accept (and drop) a byte-order mark
    try:
        if fmt in ("csv", "tsv"):
            frame = pd.read_csv(file, sep="\t" if fmt == "tsv" else ",", encoding=text_encoding)
        elif fmt == "parquet":
            frame = pd.read_parquet(file)
        elif fmt == "jsonl":
            frame = _read_json_lines(file, shown, text_encoding)
        else:
            frame = _read_json_records(file, shown, text_encoding)
    except UnicodeDecodeError:
        raise _encoding_error(file, shown, text_encoding) from None
    except pd.errors.EmptyDataError:
        raise DataError(MSG_NO_ROWS.format(path=shown)) from None
    except DataError:
        raise
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        # pyarrow's ArrowInvalid is a ValueError and its IO errors are OSErrors.
        detail = _first_line(exc)
        raise DataError(MSG_UNPARSEABLE.format(path=shown, fmt=fmt, detail=detail)) from None
    if len(frame) == 0:
        raise DataError(MSG_NO_ROWS.format(path=shown))
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index(drop=True)
    return frame


# --------------------------------------------------------------------------------------
# Loading by path or name


@dataclass(frozen=True)
class LoadedTable:
    """A table together with where it came from.

    Parameters
    ----------
    frame : pandas.DataFrame
        The data.
    source : str
        The path as given, or ``"builtin:<name>"`` for a built-in dataset.
    sha256 : str
        Hex digest: of the file's bytes (``sha256sum FILE`` agrees), or for a built-in of a
        canonical serialisation of the frame (column names, dtypes and
        ``pandas.util.hash_pandas_object`` row hashes).
    spec : DatasetSpec or None
        The built-in dataset's spec, None for files.
    """

    frame: pd.DataFrame
    source: str
    sha256: str
    spec: DatasetSpec | None = None


def frame_sha256(frame: pd.DataFrame) -> str:
    """Return a sha256 of a frame's content, stable across loads of the same data.

    Parameters
    ----------
    frame : pandas.DataFrame
        Any frame.

    Returns
    -------
    str
        Hex digest over the column names, dtypes and the per-row hashes of
        ``pandas.util.hash_pandas_object(frame, index=True)``. Stable for a given pandas
        version; not comparable with the sha256 of a file.
    """
    digest = hashlib.sha256()
    header = [[str(c), str(t)] for c, t in zip(frame.columns, frame.dtypes, strict=True)]
    digest.update(json.dumps(header).encode())
    row_hashes = pd.util.hash_pandas_object(frame, index=True).to_numpy(dtype="uint64")
    digest.update(row_hashes.astype("<u8").tobytes())
    return digest.hexdigest()


def load_table(name_or_path: str | os.PathLike[str], *, encoding: str | None = None) -> LoadedTable:
    """Load a data file or a built-in dataset, with its provenance hash.

    An existing file wins over a built-in of the same name (a directory does not);
    ``"builtin:<name>"`` always means the built-in. A missing path with a supported suffix
    (``data/train.csv``) is reported as a missing file.

    Parameters
    ----------
    name_or_path : str or os.PathLike
        Path of a file :func:`read_table` supports, or a built-in dataset name (``"adult"``,
        or ``"builtin:adult"``).
    encoding : str, optional
        Passed to :func:`read_table` for files.

    Returns
    -------
    LoadedTable

    Raises
    ------
    DataError
        If the argument is neither an existing path nor a built-in name (with close matches
        of built-in names), the file is missing, or it cannot be read.
    """
    given = os.fspath(name_or_path)
    builtin_names = [spec.name for spec in list_datasets()]
    if isinstance(given, str) and given.startswith(BUILTIN_PREFIX):
        name = given[len(BUILTIN_PREFIX) :]
        spec = get_dataset(name)
        return _load_builtin_table(spec)
    path = Path(given)
    # A file wins over a built-in of the same name; a mere directory does not.
    if path.exists() and not (path.is_dir() and given in builtin_names):
        frame = read_table(given, encoding=encoding)
        sha256 = sha256_file(path)
        return LoadedTable(frame=frame, source=str(given), sha256=sha256, spec=None)
    if given in builtin_names:
        return _load_builtin_table(get_dataset(given))
    if path.suffix.lower() in SUPPORTED_SUFFIXES:
        # Clearly meant as a file ("data/train.csv"): say the file is missing.
        raise DataError(MSG_NO_FILE.format(path=given))
    hint = close_matches_hint(str(given), builtin_names)
    raise DataError(MSG_NOT_A_SOURCE.format(name=given, hint=hint))


def _load_builtin_table(spec: DatasetSpec) -> LoadedTable:
    frame = spec.loader()
    return LoadedTable(
        frame=frame, source=BUILTIN_PREFIX + spec.name, sha256=frame_sha256(frame), spec=spec
    )


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
    classes, each sensitive column has no missing values and at least two groups.

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
        count = int(values.isna().sum())
        if count:
            raise DataError(MSG_SENSITIVE_MISSING.format(column=column, source=source, count=count))
        groups = pd.unique(values)
        if len(groups) < 2:
            raise DataError(
                MSG_SENSITIVE_SINGLE_GROUP.format(
                    column=column, source=source, value=_value_text(groups[0])
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
