"""Tests of reading user files and their provenance hashes."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from raikit.models.data import LoadedTable, frame_sha256, load_table, read_table
from raikit.models.datasets import get_dataset
from raikit.models.errors import DataError

EXPECTED = pd.DataFrame(
    {"name": ["Ada", "Bo", "Cy"], "age": [36, 41, 29], "group": ["a", "b", "a"], "y": [1, 0, 1]}
)
ROWS = EXPECTED.to_dict(orient="records")
JSONL = "".join(
    f'{{"name": "{r["name"]}", "age": {r["age"]}, "group": "{r["group"]}", "y": {r["y"]}}}\n'
    for r in ROWS
)
SUPPORTED = ".csv, .json, .jsonl, .ndjson, .parquet, .tsv"


def _assert_same_table(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == list(EXPECTED.columns)
    assert frame["name"].tolist() == EXPECTED["name"].tolist()
    assert frame["group"].tolist() == EXPECTED["group"].tolist()
    assert frame["age"].tolist() == [36, 41, 29]
    assert frame["y"].tolist() == [1, 0, 1]
    assert pd.api.types.is_integer_dtype(frame["age"])
    assert isinstance(frame.index, pd.RangeIndex)


def _write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


TEXT_FILES = {
    "data.csv": "name,age,group,y\nAda,36,a,1\nBo,41,b,0\nCy,29,a,1\n",
    "DATA.CSV": "name,age,group,y\nAda,36,a,1\nBo,41,b,0\nCy,29,a,1\n",
    "bom.csv": "\ufeffname,age,group,y\nAda,36,a,1\nBo,41,b,0\nCy,29,a,1\n",
    "data.tsv": "name\tage\tgroup\ty\nAda\t36\ta\t1\nBo\t41\tb\t0\nCy\t29\ta\t1\n",
    "data.jsonl": JSONL,
    "data.ndjson": JSONL.replace("\n", "\r\n") + "\n",  # CRLF and a trailing blank line
    "data.json": (
        '[{"name": "Ada", "age": 36, "group": "a", "y": 1},\n'
        ' {"name": "Bo", "age": 41, "group": "b", "y": 0},\n'
        ' {"name": "Cy", "age": 29, "group": "a", "y": 1}]'
    ),
}


@pytest.mark.parametrize("filename", list(TEXT_FILES))
def test_read_table_text_formats(filename: str, tmp_path: Path) -> None:
    path = _write(tmp_path / filename, TEXT_FILES[filename])
    before = path.read_bytes()
    mtime = path.stat().st_mtime_ns
    _assert_same_table(read_table(path))
    _assert_same_table(read_table(str(path)))
    assert path.read_bytes() == before
    assert path.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in tmp_path.iterdir()) == [filename]  # nothing written beside it


def test_read_table_parquet(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    EXPECTED.to_parquet(path, index=False)
    before = path.read_bytes()
    frame = read_table(path)
    _assert_same_table(frame)
    assert path.read_bytes() == before


def test_read_table_keeps_json_strings_as_strings(tmp_path: Path) -> None:
    # pandas.read_json would turn "007" into 7 and date-like strings into timestamps.
    path = _write(
        tmp_path / "z.jsonl", '{"zip": "007", "d": "2020-01-01"}\n{"zip": "010", "d": "x"}\n'
    )
    frame = read_table(path)
    assert frame["zip"].tolist() == ["007", "010"]
    assert frame["d"].tolist() == ["2020-01-01", "x"]


def test_read_table_with_explicit_encoding(tmp_path: Path) -> None:
    path = _write(tmp_path / "latin.csv", "name,city\nJos\xe9,M\xe1laga\n".encode("latin-1"))
    frame = read_table(path, encoding="latin-1")
    assert frame.loc[0, "name"] == "José"
    assert frame.loc[0, "city"] == "Málaga"


def _bad_inputs(tmp: Path) -> list[tuple[Path, str]]:
    (tmp / "folder.csv").mkdir()
    cases = [
        (tmp / "missing.csv", "{p}: no such file"),
        (tmp / "folder.csv", "{p} is a directory, not a data file"),
        (
            _write(tmp / "data.xlsx", "x"),
            f"{{p}}: unsupported file type '.xlsx'; supported: {SUPPORTED}",
        ),
        (
            _write(tmp / "README", "x"),
            f"{{p}}: unsupported file type '(none)'; supported: {SUPPORTED}",
        ),
        (_write(tmp / "zero.csv", b""), "{p} is empty (0 bytes)"),
        (_write(tmp / "zero.parquet", b""), "{p} is empty (0 bytes)"),
        (_write(tmp / "header.csv", "a,b\n"), "{p} has no rows"),
        (_write(tmp / "blank.csv", "\n\n  \n"), "{p} has no rows"),
        (_write(tmp / "empty.json", "[]"), "{p} has no rows"),
        (_write(tmp / "blank.jsonl", "\n\n"), "{p} has no rows"),
        (
            _write(tmp / "latin.csv", b"name,city\nJos\xe9,Paris\n"),
            "{p} is not valid UTF-8: byte 0xe9 at offset 13; re-save it as UTF-8 or pass its "
            "encoding (e.g. encoding='latin-1')",
        ),
        (
            _write(tmp / "latin.jsonl", b'{"a": "ok"}\n{"a": "caf\xe9"}\n'),
            "{p} is not valid UTF-8: byte 0xe9 at offset 22; re-save it as UTF-8 or pass its "
            "encoding (e.g. encoding='latin-1')",
        ),
        (
            _write(tmp / "latin.json", b'[{"a": "\xff"}]'),
            "{p} is not valid UTF-8: byte 0xff at offset 8; re-save it as UTF-8 or pass its "
            "encoding (e.g. encoding='latin-1')",
        ),
        (
            _write(tmp / "ragged.csv", "a,b\n1,2\n1,2,3,4\n"),
            "{p} could not be read as csv: Error tokenizing data. C error: Expected 2 fields "
            "in line 3, saw 4",
        ),
        (
            _write(tmp / "broken.json", '[{"a": 1},'),
            "{p} could not be read as json: line 1, column 11: Expecting value",
        ),
        (
            _write(tmp / "columns.json", '{"a": [1, 2]}'),
            "{p} could not be read as json: expected an array of objects (records), got dict",
        ),
        (
            _write(tmp / "scalars.json", "[1, 2]"),
            "{p} could not be read as json: expected an array of objects (records), got a list "
            "of non-objects",
        ),
        (
            _write(tmp / "broken.jsonl", '{"a": 1}\n{"a": \n'),
            "{p} could not be read as jsonl: line 2, column 7: Expecting value",
        ),
        (
            _write(tmp / "list.jsonl", '{"a": 1}\n[1]\n'),
            "{p} could not be read as jsonl: line 2: expected an object, got list",
        ),
    ]
    return cases


def test_read_table_bad_inputs(tmp_path: Path) -> None:
    for path, template in _bad_inputs(tmp_path):
        before = path.read_bytes() if path.is_file() else None
        with pytest.raises(DataError) as info:
            read_table(path)
        assert str(info.value) == template.format(p=path), path.name
        assert "\n" not in str(info.value)
        if before is not None:
            assert path.read_bytes() == before


def test_read_table_not_parquet(tmp_path: Path) -> None:
    path = _write(tmp_path / "fake.parquet", "name,age\nAda,36\n")
    with pytest.raises(DataError) as info:
        read_table(path)
    message = str(info.value)
    assert message.startswith(f"{path} could not be read as parquet: ")
    assert "magic bytes" in message and "\n" not in message


def test_read_table_unknown_encoding(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.csv", "a\n1\n")
    with pytest.raises(DataError) as info:
        read_table(path, encoding="utf-9")
    assert str(info.value) == f"unknown encoding 'utf-9' for {path}"


@pytest.mark.parametrize(
    ("prefix", "expected_offset"),
    [
        # The bad byte far past the first 1 MiB block pandas and the scanner read.
        (b"a\n" + b"x\n" * 750_000, 1_500_002),
        # A two-byte character split across the scanner's 1 MiB blocks, then a bad byte.
        (b"a\n" + b"x" * (2**20 - 3) + "é".encode() + b"y", 2**20 + 2),
    ],
)
def test_non_utf8_offset_is_absolute(tmp_path: Path, prefix: bytes, expected_offset: int) -> None:
    data = prefix + b"\xe9\n"
    assert data.index(b"\xe9", len(prefix)) == expected_offset
    path = _write(tmp_path / "big.csv", data)
    with pytest.raises(DataError, match=rf"byte 0xe9 at offset {expected_offset};"):
        read_table(path)


# --------------------------------------------------------------------------------------
# load_table and hashes


def test_load_table_file_hash_matches_the_bytes(tmp_path: Path) -> None:
    path = _write(tmp_path / "adult.csv", TEXT_FILES["data.csv"])
    table = load_table(path)
    assert isinstance(table, LoadedTable)
    assert table.source == str(path)
    assert table.spec is None
    assert table.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    _assert_same_table(table.frame)
    if shutil.which("sha256sum"):
        out = subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True)
        assert out.stdout.split()[0] == table.sha256


def test_load_table_builtin_hash_is_stable() -> None:
    first = load_table("hmda")
    second = load_table("builtin:hmda")
    assert first.source == second.source == "builtin:hmda"
    assert first.spec is second.spec is get_dataset("hmda")
    assert len(first.frame) == 2_380
    assert first.sha256 == second.sha256
    assert len(first.sha256) == 64 and int(first.sha256, 16) >= 0
    assert load_table("arrests").sha256 != first.sha256


def test_frame_sha256_sees_values_names_and_order() -> None:
    frame = EXPECTED.copy()
    base = frame_sha256(frame)
    assert frame_sha256(EXPECTED.copy()) == base
    changed = frame.copy()
    changed.loc[1, "age"] = 42
    assert frame_sha256(changed) != base
    assert frame_sha256(frame.rename(columns={"age": "years"})) != base
    assert frame_sha256(frame.iloc[::-1].reset_index(drop=True)) != base
    assert frame_sha256(frame.astype({"age": "float64"})) != base


def test_load_table_unknown_name() -> None:
    with pytest.raises(DataError) as info:
        load_table("adlt")
    assert str(info.value) == (
        "'adlt' is neither a file nor a built-in dataset (see `rai datasets`); "
        "did you mean 'adult'?"
    )
    with pytest.raises(DataError) as info:
        load_table("no/such/thing")
    assert str(info.value) == (
        "'no/such/thing' is neither a file nor a built-in dataset (see `rai datasets`)"
    )
    # A name with a data-file suffix is meant as a file.
    with pytest.raises(DataError) as info:
        load_table("no/such/file.csv")
    assert str(info.value) == "no/such/file.csv: no such file"


def test_load_table_prefers_an_existing_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "hmda", "x")
    with pytest.raises(DataError, match=r"^hmda: unsupported file type"):
        load_table("hmda")
    assert load_table("builtin:hmda").spec is get_dataset("hmda")
    assert os.listdir(tmp_path) == ["hmda"]


def test_a_directory_does_not_shadow_a_builtin(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "arrests").mkdir()
    table = load_table("arrests")
    assert table.source == "builtin:arrests" and len(table.frame) == 5226


DUPLICATED = {
    "dup.csv": "y,x,y\n1,2,1\n0,3,0\n",
    "dup.tsv": "y\tx\ty\n1\t2\t1\n0\t3\t0\n",
    "dup.jsonl": '{"y": 1, "x": 2, "y": 1}\n{"y": 0, "x": 3}\n',
    "dup.json": '[{"y": 1, "x": 2}, {"x": 3, "y": 0, "x": 4}]',
}


@pytest.mark.parametrize("filename", [*DUPLICATED, "dup.parquet"])
def test_read_table_refuses_a_repeated_column_name(filename: str, tmp_path: Path) -> None:
    path = tmp_path / filename
    if filename.endswith(".parquet"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = [pa.array([1, 0]), pa.array([2, 3]), pa.array([1, 0])]
        pq.write_table(pa.table(columns, names=["y", "x", "y"]), path)
    else:
        _write(path, DUPLICATED[filename])
    repeated = "'x'" if filename == "dup.json" else "'y'"
    with pytest.raises(DataError) as info:
        read_table(path)
    assert str(info.value) == (
        f"{path} has duplicate column name(s) {repeated}; give every column its own name (a copy "
        "of the label read as a feature would leak it)"
    )


def test_a_name_pandas_would_give_a_duplicate_is_still_a_name(tmp_path: Path) -> None:
    frame = read_table(_write(tmp_path / "data.csv", "y,y.1,,\n1,2,3,4\n"))
    assert list(frame.columns) == ["y", "y.1", "Unnamed: 2", "Unnamed: 3"]
    assert frame.iloc[0].tolist() == [1, 2, 3, 4]
