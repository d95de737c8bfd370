"""The glossary covers every term the report prints.

The terms are read from the report itself: the abbreviations, named methods and Greek symbols in
the text of every report template and in the labels the report's code prints, plus the
plain-word technical terms listed below. A new term without a glossary entry fails here.
"""

from __future__ import annotations

import html as html_lib
import re
from pathlib import Path

import pytest

from raikit import reports
from raikit.reports._format import METRIC_LABELS, METRIC_SHORT_LABELS
from raikit.reports._robustness_chart import ATTACK_STYLE

TEMPLATES = Path(reports.__file__).parent / "templates"
# The model card is a separate document, with no glossary.
REPORT_TEMPLATES = sorted(p for p in TEMPLATES.glob("*.j2") if p.name != "model_card.md.j2")
# Capitalised words that are not technical terms: a file format and the CLI's path placeholder.
NOT_TERMS = {"HTML", "PATH"}
# Technical terms no pattern can spot (plain words, one capital); each needs an entry.
PLAIN_TERMS = [
    "L2",
    "L∞",
    "Bonferroni",
    "flip rate",
    "infidelity",
    "convergence delta",
    "sensitivity",
    "deletion test",
    "attribution",
    "proxy",
    "shadow model",
    "robust accuracy",
    "attack radius",
    "accountant",
    "bootstrap",
    "Wilson",
    "Pareto",
    "degenerate",
    "small group",
    "representation ratio",
    "base rate",
    "chi-square",
    "exact multinomial test",
]
# Two or more capitals (PGD, LiRA, Clopper–Pearson, SHA-256) or a Greek letter (ε, δ, σ).
TECHNICAL = re.compile(r"[\w∞–-]*(?:[A-Z][\w∞–-]*[A-Z]|[α-ω])[\w∞–-]*")


def printed_text() -> str:
    """What the report prints outside the evidence: template text and the code's labels."""
    parts = []
    for path in REPORT_TEMPLATES:
        text = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", " ", path.read_text(), flags=re.S)
        parts.append(re.sub(r"<[^>]+>", " ", text))  # markup and attribute names
    parts += METRIC_LABELS.values()
    parts += METRIC_SHORT_LABELS.values()
    parts += [label for _colour, _marker, label in ATTACK_STYLE.values()]
    return html_lib.unescape(" ".join(parts))


def technical_terms(text: str) -> set[str]:
    """Abbreviations, named methods and symbols in ``text``, plurals singular ("AUCs" -> "AUC")."""
    terms = set()
    for word in TECHNICAL.findall(text):
        word = word.strip("-–")
        if word.endswith("s") and word[:-1].isupper():
            word = word[:-1]
        terms.add(word)
    return terms - NOT_TERMS


@pytest.fixture(scope="module")
def entries(html) -> list[tuple[str, str]]:
    """(term, meaning) of each entry of the rendered report's glossary section."""
    section = html[html.index('<section id="glossary">') :]
    section = section[: section.index("</section>")]
    pairs = re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", section, flags=re.S)
    return [(html_lib.unescape(t).strip(), html_lib.unescape(m).strip()) for t, m in pairs]


def _defines(entries, term: str) -> bool:
    word = re.compile(rf"(?<!\w){re.escape(term)}(?!\w)", flags=re.IGNORECASE)
    return any(word.search(t) for t, _ in entries)


def test_terms_are_found_in_what_the_report_prints():
    # The pattern must see the terms the issue names, or the check below proves nothing.
    found = technical_terms(printed_text())
    assert {"LiRA", "PGD", "FGSM", "BPSN", "BNSP", "Clopper–Pearson", "ε", "δ", "TPR"} <= found
    assert technical_terms("two AUCs at (ε, δ)-DP; see the HTML") == {"AUC", "ε", "δ", "DP"}


def test_glossary_defines_every_term_the_report_prints(entries):
    missing = sorted(t for t in technical_terms(printed_text()) if not _defines(entries, t))
    assert missing == [], f"no glossary entry names {missing}: add one to reports/_glossary.py"


@pytest.mark.parametrize("term", PLAIN_TERMS)
def test_glossary_defines_plain_word_terms(entries, term):
    assert term.lower() in " ".join(printed_text().lower().split()), "listed but not printed"
    assert _defines(entries, term)


def test_glossary_defines_every_metric_by_its_label_and_column_header(entries):
    for label in [*METRIC_LABELS.values(), *METRIC_SHORT_LABELS.values()]:
        assert _defines(entries, label), label


def test_glossary_tells_the_two_epsilons_apart(entries):
    epsilons = {t: m for t, m in entries if "ε" in t and t.lower().startswith("epsilon")}
    assert set(epsilons) == {"Epsilon (ε), privacy budget", "Epsilon (ε), attack radius"}
    privacy = epsilons["Epsilon (ε), privacy budget"]
    attack = epsilons["Epsilon (ε), attack radius"]
    assert "differential privacy" in privacy and "not the attack radius" in privacy
    assert "adversarial attack" in attack and "not the privacy budget" in attack
