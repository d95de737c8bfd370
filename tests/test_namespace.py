"""raikit installs under one import name, so a user's own `models`, `audit` or `reports` coexist."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

USER_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import pandas as pd

    import audit, models, reports  # the user's own modules, first on sys.path
    assert audit.OWNER == models.OWNER == reports.OWNER == "user", "raikit shadowed the user"

    from raikit.audit.runner import AuditConfig, run_audit
    from raikit.models.data import LoadedTable
    from raikit.reports import render

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "y_true": rng.integers(0, 2, 400),
        "y_pred": rng.integers(0, 2, 400),
        "group": rng.choice(["a", "b"], 400),
    })
    table = LoadedTable(frame=frame, source="preds.csv", sha256="0" * 64)
    evidence = run_audit(table, AuditConfig(label="y_true", sensitive=("group",), n_bootstrap=100))
    html = render(evidence)
    assert "Group fairness" in html
    assert sys.modules["models"].OWNER == "user"
    print("accuracy", evidence.result("performance").metrics["accuracy"].value)
    """
)


def test_a_users_own_models_audit_and_reports_neither_shadow_nor_are_shadowed(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "__init__.py").write_text('OWNER = "user"\n')
    (tmp_path / "audit.py").write_text('OWNER = "user"\n')
    (tmp_path / "reports.py").write_text('OWNER = "user"\n')
    (tmp_path / "run.py").write_text(USER_SCRIPT)
    result = subprocess.run(
        [sys.executable, "run.py"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    accuracy = float(result.stdout.split()[-1])
    assert 0.4 < accuracy < 0.6  # random predictions of random labels


def test_every_package_folder_is_installed():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapped = config["package-dir"]
    on_disk = {
        "raikit." + ".".join(init.parent.relative_to(ROOT).parts)
        for folder in ("audit", "models", "reports")
        for init in (ROOT / folder).rglob("__init__.py")
    }
    assert set(config["packages"]) == on_disk
    assert mapped == {f"raikit.{name}": name for name in ("audit", "models", "reports")}
