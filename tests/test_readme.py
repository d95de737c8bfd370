"""The README's "Python API" examples run as written, each in a fresh namespace and folder."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _api_examples() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


EXAMPLES = _api_examples()
#: What each example must call, in README order: one example per kind of model.
KINDS = {
    "sklearn": "LogisticRegression(",
    "torch-module": "torch.nn.Sequential(",
    "huggingface": 'pipeline("text-classification"',
    "raikit-checkpoint": "TrainSpec(",
    "predictions": "audit(None,",
}


def test_there_is_one_example_per_kind_of_model():
    assert len(EXAMPLES) == len(KINDS)
    for code, call in zip(EXAMPLES, KINDS.values(), strict=True):
        assert call in code and "from raikit.audit import audit" in code


@pytest.mark.parametrize("code", EXAMPLES, ids=list(KINDS))
def test_an_example_runs_as_written(code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples write their files (models, reports) here
    exec(compile(code, str(ROOT / "README.md"), "exec"), {"__name__": "__main__"})
