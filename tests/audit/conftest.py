"""Fixtures of the PII tests: engines are built once per session (spaCy takes seconds)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def spacy_analyzer():
    from raikit.audit.pii._recognizers import EngineSpec, get_analyzer

    return get_analyzer(EngineSpec())


@pytest.fixture(scope="session")
def pattern_analyzer():
    from raikit.audit.pii._recognizers import EngineSpec, get_analyzer

    return get_analyzer(EngineSpec(model=None))


@pytest.fixture(scope="session")
def presidio_analyzer():
    """presidio's default recognizers on raikit's spaCy set-up: the reference engine."""
    from raikit.audit.pii._recognizers import EngineSpec, get_analyzer

    return get_analyzer(EngineSpec(recognizers="presidio"))
