"""Facts that make a run reproducible: package versions, file hashes, timestamps."""

from __future__ import annotations

import hashlib
import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "raikit",
    "torch",
    "numpy",
    "pandas",
    "scikit-learn",
    "fairlearn",
    "safetensors",
    "pydantic",
    "jinja2",
    "matplotlib",
)


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed version of each package in ``names`` (``"not installed"`` when absent)."""
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def raikit_version() -> str:
    """The installed raikit version."""
    return package_versions(("raikit",))["raikit"]


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tree_sha256(directory: Path) -> dict[str, str]:
    """Hex sha256 of every file under ``directory``, keyed by its relative path (``base/x.json``).

    Files in sub-folders count (a mitigated model's copy of its base model is one); a linked
    folder is not entered, a linked file is hashed by its content.
    """
    directory = Path(directory)
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    return {p.relative_to(directory).as_posix(): sha256_file(p) for p in files}


def utc_now() -> str:
    """The current time in UTC, ISO 8601 to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()
