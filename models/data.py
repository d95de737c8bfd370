"""User data at the boundary: read a table from a file or a built-in name, with its hash.

* :func:`read_table` reads CSV/TSV, Parquet, JSON Lines and JSON (records) files and turns
  every problem into one :class:`~models.errors.DataError` line that names the file.
* :func:`load_table` accepts a path or a built-in dataset name and records the data's sha256
  for the evidence bundle.

Which columns are what, and their validation, live in :mod:`raikit.models.schema`. Messages are
module-level constants (``MSG_*``); tests assert their exact text.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from raikit.models.datasets import DatasetSpec, get_dataset, list_datasets
from raikit.models.errors import DataError, close_matches_hint
from raikit.models.provenance import sha256_file

__all__ = [
    "SUPPORTED_SUFFIXES",
    "LoadedTable",
    "check_unique_columns",
    "frame_sha256",
    "load_table",
    "read_table",
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
MSG_INFINITE = (
    "column '{column}' of {path} holds {count} infinite value(s); replace them with a number, "
    "or leave them empty to be treated as missing"
)
MSG_DUPLICATE_COLUMNS = (
    "{path} has duplicate column name(s) {names}; give every column its own name (a copy of "
    "the label read as a feature would leak it)"
)
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


# --------------------------------------------------------------------------------------
# Reading files


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


def _unique_keys(shown: str) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    """A ``json`` hook refusing an object that repeats a key (``json`` keeps the last one)."""

    def build(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        check_unique_columns([key for key, _ in pairs], shown)
        return dict(pairs)

    return build


def _read_json_records(path: Path, shown: str, encoding: str) -> pd.DataFrame:
    text = path.read_text(encoding=encoding)
    try:
        records = json.loads(text, object_pairs_hook=_unique_keys(shown))
    except json.JSONDecodeError as exc:
        detail = f"line {exc.lineno}, column {exc.colno}: {exc.msg}"
        raise DataError(MSG_UNPARSEABLE.format(path=shown, fmt="json", detail=detail)) from None
    except RecursionError:
        detail = "nested too deeply"
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
                record = json.loads(line.rstrip("\r\n"), object_pairs_hook=_unique_keys(shown))
            except json.JSONDecodeError as exc:
                detail = f"line {number}, column {exc.colno}: {exc.msg}"
                raise DataError(
                    MSG_UNPARSEABLE.format(path=shown, fmt="jsonl", detail=detail)
                ) from None
            except RecursionError:
                detail = f"line {number}: nested too deeply"
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
            sep = "\t" if fmt == "tsv" else ","
            # pandas renames a repeated name ("a" to "a.1"); the header as written is read first.
            header = pd.read_csv(
                file, sep=sep, encoding=text_encoding, header=None, nrows=1, dtype=str
            )
            check_unique_columns(header.iloc[0].dropna(), shown)
            frame = pd.read_csv(file, sep=sep, encoding=text_encoding)
        elif fmt == "parquet":
            import pyarrow.parquet as pq

            check_unique_columns(pq.read_schema(file).names, shown)
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
    check_finite(frame, shown)
    return frame


def check_unique_columns(names: Iterable[Any], source: str) -> None:
    """Refuse a table whose columns repeat a name: one of them would be read in place of another.

    Raises
    ------
    DataError
        Naming every repeated name.
    """
    texts = [str(name) for name in names]
    if len(set(texts)) < len(texts):  # one set per call: JSON files check every record
        repeated = [name for name, count in Counter(texts).items() if count > 1]
        names_text = ", ".join(f"'{name}'" for name in repeated)
        raise DataError(MSG_DUPLICATE_COLUMNS.format(path=source, names=names_text))


def check_finite(frame: pd.DataFrame, source: str) -> None:
    """Refuse infinite numbers: no model, statistic or gate can read them as anything.

    Raises
    ------
    DataError
        Naming the first column holding ``inf`` or ``-inf``, how many rows, and the fix.
    """
    numeric = frame.select_dtypes(include="number")
    infinite = np.isinf(numeric.to_numpy(dtype=float, na_value=np.nan)).sum(axis=0)
    for column, count in zip(numeric.columns, infinite, strict=True):
        if count:
            raise DataError(MSG_INFINITE.format(column=column, count=int(count), path=source))


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
