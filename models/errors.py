"""The one exception family raikit raises for problems a user can fix.

Every message says what is wrong, the value seen and what would be right; the CLI prints it
as a single line and exits with code 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class RaikitError(Exception):
    """Base class of every error raikit raises on purpose."""


class DataError(RaikitError):
    """A data file, column or value cannot be used as given."""


class ModelError(RaikitError):
    """A model directory or file cannot be loaded or used."""


class OutputError(RaikitError):
    """An output path would overwrite something, or cannot be written."""


class ConfigError(RaikitError):
    """An option or configuration value is invalid."""


class PolicyError(ConfigError):
    """A policy file cannot be used as given (a failed gate is a result, not an error)."""


def close_matches_hint(name: str, candidates: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for near matches of ``name``, or ``""``."""
    candidates = [str(c) for c in candidates]
    matches = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
    if not matches:
        lowered = {c.lower(): c for c in candidates}
        if name.lower() in lowered:
            matches = [lowered[name.lower()]]
    if not matches:
        return ""
    quoted = " or ".join(f"'{m}'" for m in matches)
    return f"; did you mean {quoted}?"
