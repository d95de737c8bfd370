"""`import raikit.reports` stays light, and a report depends on the evidence schema alone."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPORTS = Path(__file__).resolve().parents[2] / "reports"
HEAVY = ("torch", "matplotlib", "sklearn", "fairlearn", "opacus", "captum", "transformers")


def test_import_reports_leaves_heavy_modules_out():
    code = f"import sys, raikit.reports; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def _runtime_imports(tree: ast.AST):
    """Modules imported outside ``if TYPE_CHECKING:`` blocks."""
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            node.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def test_reports_import_only_the_evidence_schema_of_raikit():
    for path in REPORTS.glob("*.py"):
        for module in _runtime_imports(ast.parse(path.read_text())):
            if module.startswith("raikit."):
                allowed = module == "raikit.audit.evidence" or module.startswith("raikit.reports")
                assert allowed, f"{path.name} imports {module}"
