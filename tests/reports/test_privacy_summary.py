"""The privacy summary: claimed epsilon beside the lower bounds, and the sentence to act on."""

from __future__ import annotations

import pytest

from raikit import reports
from raikit.audit.policy import Policy, check
from tests.reports.conftest import build_evidence, with_one_run_audit

GATE = Policy.model_validate({"privacy": {"require_one_run_audit_consistent": True}})


def privacy_part(markdown: str) -> str:
    start = markdown.index("Privacy and data protection:")
    return markdown[start : markdown.index("\n## ", start)]


def test_a_refuted_guarantee_is_critical_high_risk_and_fails_the_gate():
    evidence = with_one_run_audit(build_evidence(), bound=3.4, verdict="inconsistent")
    text = privacy_part(reports.render(evidence, "md"))
    assert "| Claimed ε | 2.94 |" in text and "| One-run lower bound | 3.40 |" in text
    assert "410 of 500 guesses right on 1,000 canaries, 95% confidence; inconsistent" in text
    assert "| Strongest attack's lower bound | not run |" in text
    assert "**Do not rely on the claimed ε = 2.94" in text
    privacy = next(r for r in evidence.verdicts.risks if r.concern == "privacy")
    assert privacy.likelihood == 5 and "proves epsilon >= 3.40" in privacy.basis
    (gate,) = check(evidence, GATE).checks
    assert (gate.status, gate.observed) == ("fail", "3.4 vs 2.94")


@pytest.mark.parametrize(
    ("verdict", "status", "sentence"),
    [
        ("consistent", "pass", "No audit found more leakage than the claimed ε = 2.94"),
        ("inconclusive", "fail", "rests on the accountant alone"),
    ],
)
def test_an_untested_claim_is_said_so_and_fails_a_strict_gate(verdict, status, sentence):
    evidence = with_one_run_audit(build_evidence(), bound=1.2, verdict=verdict)
    assert sentence in privacy_part(reports.render(evidence, "md"))
    (gate,) = check(evidence, GATE).checks
    assert gate.status == status
    warned = Policy.model_validate({**GATE.model_dump(), "on_missing": "warn"})
    assert check(evidence, warned).passed


def test_without_a_one_run_audit_the_row_says_how_to_get_one():
    text = privacy_part(reports.render(build_evidence(), "md"))
    assert "| One-run lower bound | not run | train with --audit-canaries |" in text
