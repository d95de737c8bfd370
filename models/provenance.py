"""Facts that make a run reproducible: package versions, file hashes, timestamps."""

from __future__ import annotations

import hashlib
import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

#: Packages whose version can change a figure (recorded with every training run and audit).
PACKAGES = (
    "raikit",
    "torch",
    "numpy",
    "pandas",
    "scipy",
    "scikit-learn",
    "fairlearn",
    "captum",
    "opacus",
    "presidio-analyzer",
    "spacy",
    "transformers",
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


def utc_now() -> str:
    """The current time in UTC, ISO 8601 to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()
