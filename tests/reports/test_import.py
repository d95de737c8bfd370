"""`import raikit.reports` stays light: `rai report` must start fast."""

from __future__ import annotations

import subprocess
import sys

# pandas is left out: audit.fairness (imported through audit.evidence) imports it today.
HEAVY = ("torch", "matplotlib", "sklearn", "fairlearn", "opacus", "captum", "transformers")


def test_import_reports_leaves_heavy_modules_out():
    code = f"import sys, raikit.reports; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
