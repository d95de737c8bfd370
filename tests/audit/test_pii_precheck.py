"""The batch pass's pre-check: RE2 must name every pattern Python's engines would match."""

from __future__ import annotations

import re

import pytest
import regex
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raikit.audit.pii._precheck import Precheck, ascii_stand_in, re2_twin, reads_exactly, widen


@pytest.mark.parametrize(
    ("pattern", "flags", "expected"),
    [
        (r"(?<![\w.-])\d{5}(?![\w-])", 0, r"\d{5}"),
        (r"a(?=(b|c)d)e$", 0, r"ae(?m:$)"),  # nested group inside the removed lookahead
        (r"x$", re.MULTILINE, r"(?m)x$"),
        (r"[(?!]\(?!\)a{,3}", 0, r"[(?!]\(?!\)a{0,3}"),  # in a class or escaped: kept
        (r"[]$]$", 0, r"[]$](?m:$)"),
        (r"[\w'’.-]+ “x”", re.IGNORECASE | re.DOTALL, "(?is)[\\w'\\x7f.-]+ \\x7fx\\x7f"),
        (r"straße|Rúa", 0, r"straße|Rúa"),  # letters outside ASCII: such texts are not read
        (r"\d{3}-\d{4}", re.IGNORECASE, r"(?i)\d{3}-\d{4}"),  # nothing to rewrite
        (r"\$\d+\(?=x\)", 0, r"\$\d+\(?=x\)"),  # escaped: kept
    ],
)
def test_widen(pattern, flags, expected):
    assert widen(pattern, flags) == expected


@pytest.mark.parametrize(
    ("pattern", "flags"),
    [("[^’]", 0), ("a\u00a0b", 0), (r"\p{Lu}", 0), ("[[:alpha:]]", 0), ("a", re.VERBOSE)],
)
def test_widen_refuses_what_it_cannot_keep_exact(pattern, flags):
    with pytest.raises(ValueError, match="no RE2 form"):
        widen(pattern, flags)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain ASCII, tab\tand\nline", "plain ASCII, tab\tand\nline"),
        ("O’Connell — “quoted” 5€", "O\x7fConnell \x7f \x7fquoted\x7f 5\x7f"),
        ("555\u00a0123\u2009456\x0b.", "555 123 456 ."),
        ("José", None),  # a letter outside ASCII
        ("٣ apples", None),  # a digit outside ASCII
        ("a\x1cb", None),  # space to re, not to regex
    ],
)
def test_ascii_stand_in(text, expected):
    assert ascii_stand_in(text) == expected


@pytest.mark.parametrize("n_sets", [1, 2, 3, 4])
def test_candidates_name_the_patterns_that_can_match(n_sets):
    patterns = [(r"\d{3}", 0), ("@", 0), (r"(?<!x)abc", 0), (r"\p{Lu}", 0)]
    check = Precheck(patterns, n_sets=n_sets)
    assert check.candidates("xabc 123") == {0, 2, 3}  # the lookbehind is not checked
    assert check.candidates("a@b") == {1, 3}  # one RE2 cannot take is always a candidate
    assert check.candidates("Zoë 123") is None


def _engine_patterns(analyzer):
    """Every pattern and sign the batch pass pre-checks for ``analyzer``, compiled as its
    recognizer searches it."""
    from raikit.audit.pii._recognizers import _plan

    recognizers = tuple(analyzer.registry.get_recognizers(language="en", all_fields=True))
    plan = _plan(recognizers)
    compiled = []
    for recognizer, prechecked in zip(plan.recognizers, plan.prechecked, strict=True):
        if not prechecked:
            continue
        if hasattr(recognizer, "signs"):
            compiled.extend(recognizer.signs)
        else:
            flags = recognizer.global_regex_flags
            compiled.extend(regex.compile(p.regex, flags) for p in recognizer.patterns)
    return plan.precheck, compiled


# Pieces of personal data and words around it, to be joined by separators in and outside ASCII.
_WORDS = st.sampled_from(
    [
        *("555-123-4567", "(212)", "555", "0100", "+44", "20", "7946", "078-05-1120", "9", "12"),
        *("4111 1111 1111 1111", "GB82WEST12345698765432", "a@b.co", "x.org/p", "::1", "5"),
        *("10.0.0.1", "2024-01-31T10:20:30Z", "03/04/1990", "5-JAN-21", "next", "Monday"),
        *("days", "ago", "221", "Baker", "Street", "Hauptstrasse", "Apt.", "NW1", "6XE"),
        *("10115", "Acme", "Ltd", "Portugal", "Rue", "de", "Fes", "Ivy", "Lane", "O", "Connell"),
        "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
    ]
)
_SEPARATORS = st.sampled_from(
    [" ", ", ", "\n", "\\n", "-", ".", "/", ":", "’", "—", "\u00a0", "\u2009", "\x0b", "(", ""]
)


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(_WORDS, _SEPARATORS).map("".join), min_size=1, max_size=10).map("".join))
def test_no_pattern_that_matches_is_left_out(spacy_analyzer, text):
    precheck, compiled = _engine_patterns(spacy_analyzer)
    candidates = precheck.candidates(text)
    assert candidates is not None
    for number, pattern in enumerate(compiled):
        if any(m.end() > m.start() for m in pattern.finditer(text)):
            assert number in candidates, (pattern.pattern[:80], text)


@pytest.mark.parametrize(
    ("pattern", "flags"),
    [
        (r"(?<!\d)\d{5}", 0),  # a lookaround
        (r"\d+$", 0),  # "$" before a final line break, to Python
        (r"a{,3}", 0),
        ("straße", 0),  # outside ASCII
        (r"\p{Lu}", 0),
        (r"(a)\1", 0),  # a back-reference: RE2 has none
        (r"a\Z", 0),
    ],
)
def test_no_twin_where_re2_may_differ(pattern, flags):
    assert re2_twin(pattern, flags) is None


def test_twins_find_pythons_matches(spacy_analyzer):
    # presidio's URL patterns, the ones searched by their twins, and simpler ones, on texts
    # RE2 reads as Python does: the same non-empty matches (presidio drops empty ones).
    url = next(r for r in spacy_analyzer.registry.recognizers if r.name == "UrlRecognizer")
    flags = url.global_regex_flags
    patterns = [(p.regex, flags) for p in url.patterns]
    patterns += [(r"\b[a-z]+@[a-z]+\.com\b", re.IGNORECASE), (r"^\d+", re.MULTILINE)]
    patterns += [(r"x*", 0), (r"(?:ab|a)(?:c|bcd)", 0)]
    texts = [
        "see www.example.com/a?b=1 and http://foo.bar.org.",
        "MAIL ANA@EXAMPLE.COM\n12 then\n34 www3.x.io",
        "J.R.R.Tolkien wrote v1.2.3; 'http://q.com' \"www.q.org\" abcd xx",
        "",
    ]
    for source, pattern_flags in patterns:
        twin = re2_twin(source, pattern_flags)
        assert twin is not None, source[:40]
        python = regex.compile(source, pattern_flags)
        for text in texts:
            assert reads_exactly(text)
            expected = [m.span() for m in python.finditer(text) if m.end() > m.start()]
            assert [m.span() for m in twin.finditer(text) if m.end() > m.start()] == expected


def test_reads_exactly():
    assert reads_exactly("plain, tab\tand\nline ~")
    assert not reads_exactly("O’Connell")
    assert not reads_exactly("a\x0bb")  # vertical tab: space to Python, not to RE2
