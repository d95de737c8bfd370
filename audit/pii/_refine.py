"""Dropping the false positives presidio and spaCy are known to make (see ``_recognizers``)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from raikit.audit.pii._forms import DATE_WORDS, looks_like_date, name_lists

if TYPE_CHECKING:
    from presidio_analyzer import RecognizerResult

NER_ENTITIES = frozenset({"PERSON", "LOCATION", "NRP", "ORGANIZATION"})


def _overlaps(a: RecognizerResult, b: RecognizerResult) -> bool:
    return a.start < b.end and b.start < a.end


def _source(result: RecognizerResult) -> str:
    return (result.recognition_metadata or {}).get("recognizer_name", "")


def _organization_unlikely(text: str, result: RecognizerResult) -> bool:
    """spaCy's ORG on a lone word that is not Title-case ("EUR", "LEAK"), a text's first word
    or a listed first name ("Ilona"), or a span holding digits, ``=``, ``@`` or a line break
    (log fields) is rarely an organisation.
    """
    span = text[result.start : result.end]
    if any(c.isdigit() or c in "=@\n" for c in span):
        return True
    if " " in span.strip():
        return False
    title = span[:1].isupper() and any(c.islower() for c in span[1:])
    return not title or not text[: result.start].strip(" \"'([") or span.lower() in name_lists()[0]


_LINK_WORDS = r"(?:before|after|on|since|until|till|by|from|at|to|and|or|between|around)"
_DATE_EDGES = re.compile(rf"^(?:[\W_]|{_LINK_WORDS}\b)+|(?:[\W_]|\b{_LINK_WORDS})+$", re.I)


def _date_beside(
    text: str, result: RecognizerResult, numbers: list[RecognizerResult]
) -> RecognizerResult | None:
    """The longest stretch of a ``DATE_TIME`` outside the card or phone ``numbers`` it
    overlaps, without the words linking it to them, when that stretch has a date's form:
    spaCy reads "+33 1 42 68 53 00 before March 3rd" as the date "53 00 before March 3rd"."""
    from presidio_analyzer import RecognizerResult

    cuts = sorted((max(n.start, result.start), min(n.end, result.end)) for n in numbers)
    pieces, start = [], result.start
    for cut_start, cut_end in cuts:
        pieces.append((start, cut_start))
        start = max(start, cut_end)
    pieces.append((start, result.end))
    dates = []
    for start, end in pieces:
        piece = text[start:end]
        lead = _DATE_EDGES.match(piece)
        start += lead.end() if lead else 0
        trail = _DATE_EDGES.search(text[start:end])
        end = start + trail.start() if trail else end
        if end > start and looks_like_date(text[start:end]):
            dates.append((start, end))
    if not dates:
        return None
    start, end = max(dates, key=lambda d: d[1] - d[0])
    return RecognizerResult(
        "DATE_TIME",
        start,
        end,
        result.score,
        result.analysis_explanation,
        result.recognition_metadata,
    )


def refine_results(text: str, results: list[RecognizerResult]) -> list[RecognizerResult]:
    """Drop the false positives raikit knows presidio and spaCy make; merge repeated spans.

    A ``DATE_TIME`` without a date's form (a count, an order, card or phone number, a ZIP
    code inside a found address) or whose only date is inside a card, IBAN, SSN, IP address
    or phone number (:func:`_date_beside` keeps a date's part outside the number), a
    ``PHONE_NUMBER`` overlapping one of the others (presidio's phone matcher reads IPv4
    addresses, SSNs and card digits as numbers), anything inside a
    checksum-valid IBAN (its digit groups pass for card numbers), a ``URL`` inside an e-mail
    address. NER spans (person, place, organisation) on an e-mail address, URL or number,
    a person or organisation inside a street address, a person inside a company name with a
    legal form, a listed first name that is also a found place, an organisation on a listed
    first name, and an ``ORGANIZATION`` failing :func:`_organization_unlikely` are dropped too.
    Spans lose the whitespace at their edges, overlapping hits of one type keep the longest,
    and the other mentions of each person found are added (:func:`_repeat_names`).
    """
    from spacy.lang.en.stop_words import STOP_WORDS

    for result in results:  # spaCy's entities may end on a line break: "Romilda Heus\n"
        span = text[result.start : result.end]
        result.start += len(span) - len(span.lstrip())
        result.end -= len(span) - len(span.rstrip())
    results = [r for r in results if r.end > r.start]
    strong = [
        r
        for r in results
        if r.entity_type in {"CREDIT_CARD", "IBAN_CODE", "US_SSN", "PHONE_NUMBER", "IP_ADDRESS"}
        and r.score >= (0.4 if r.entity_type == "PHONE_NUMBER" else 0.5)
    ]
    web = [r for r in results if r.entity_type in {"EMAIL_ADDRESS", "URL"}]
    places = [r for r in results if r.entity_type == "LOCATION" and _source(r).startswith("Raikit")]
    addresses = [r for r in places if _source(r) == "RaikitAddressRecognizer"]
    names = [r for r in results if _source(r) == "RaikitNameRecognizer"]
    companies = [r for r in results if _source(r) == "RaikitCompanyRecognizer"]
    kept = []
    for result in results:
        span = text[result.start : result.end]
        entity = result.entity_type
        if entity == "DATE_TIME":
            numbers = [s for s in strong if _overlaps(result, s)]
            if numbers and looks_like_date(span):
                result = _date_beside(text, result, numbers)
                if result is None:
                    continue
                span = text[result.start : result.end]
            if not looks_like_date(span) or (
                not DATE_WORDS.search(span) and any(_overlaps(result, p) for p in places)
            ):
                continue
        if entity == "URL" and any(_overlaps(result, e) for e in web if e.entity_type != "URL"):
            continue
        if entity != "IBAN_CODE" and any(
            _overlaps(result, s) for s in strong if s.entity_type == "IBAN_CODE"
        ):
            continue
        if entity == "PHONE_NUMBER" and any(
            _overlaps(result, s) for s in strong if s.entity_type != "PHONE_NUMBER"
        ):
            continue
        if _source(result) == "RaikitNameRecognizer" and any(
            r.entity_type == "LOCATION" and _overlaps(result, r) for r in results
        ):
            continue  # "Austin", "Paris": a town, not the first name
        if entity in NER_ENTITIES and _source(result) == "SpacyRecognizer":
            if span.strip().lower() in STOP_WORDS or any(
                _overlaps(result, r) for r in strong + web
            ):
                continue
            if entity in {"PERSON", "ORGANIZATION"} and any(
                _overlaps(result, a) for a in addresses
            ):
                continue
            if entity == "PERSON" and any(_overlaps(result, c) for c in companies):
                continue
            if entity == "ORGANIZATION" and (
                _organization_unlikely(text, result) or any(_overlaps(result, n) for n in names)
            ):
                continue
        kept.append(result)
    kept.extend(_addressees(text, kept, addresses))
    return _repeat_names(text, _longest_per_type(kept))


# A whole line of two or three Title-case words, after an optional label and quote marks:
# "Billing address: Ann Lee", "> Ann Lee".
_ADDRESSEE_LINE = re.compile(
    r"[ \t>]*(?:[^\n:]*:[ \t]*)?([A-Z][^\W\d_]+(?:[ -][A-Z][^\W\d_]+){1,2})[ \t]*\Z"
)


def _addressees(
    text: str, results: list[RecognizerResult], addresses: list[RecognizerResult]
) -> list[RecognizerResult]:
    """The person named on the line above a postal address that starts a line, when that
    line holds only a name: two or three Title-case words, the last no common English word
    unless a surname ("Head Office" is none; a company with a legal form is found as one)."""
    from presidio_analyzer import RecognizerResult

    _, last, common = name_lists()
    found = []
    for address in addresses:
        head = text[: address.start]
        line_end = head.rstrip(" \t>").rfind("\n")
        if line_end < 0 or head[line_end:].strip(" \t>\n"):
            continue  # the address does not start a line
        above = head[:line_end].rstrip(" \t>\n")
        start = above.rfind("\n") + 1
        match = _ADDRESSEE_LINE.match(above, start)
        if match is None:
            continue
        surname = match.group(1).split()[-1].lower()
        if surname in common and surname not in last:
            continue  # "Head Office"
        name = RecognizerResult(
            "PERSON",
            match.start(1),
            match.end(1),
            0.5,
            recognition_metadata={"recognizer_name": "RaikitAddressee"},
        )
        if not any(_overlaps(name, r) for r in results + found):
            found.append(name)
    return found


def _word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def _mentions(text: str, word: str) -> list[tuple[int, int]]:
    """Where ``word`` stands in ``text`` as a whole word (a str search: names are many, and
    compiling a pattern for each would crowd out the regex cache)."""
    spans, start = [], text.find(word)
    while start >= 0:
        end = start + len(word)
        if not (_word_char(text[start - 1 : start]) or _word_char(text[end : end + 1])):
            spans.append((start, end))
        start = text.find(word, start + 1)
    return spans


def _repeat_names(text: str, results: list[RecognizerResult]) -> list[RecognizerResult]:
    """Add the other mentions of each person found: the same name, or the first or last word
    of a full name ("Sylwia Zielinska ... Zielinska was"), where nothing else was found or spaCy
    tagged that very span as a place or organisation."""
    from presidio_analyzer import RecognizerResult

    names = {text[r.start : r.end]: r.score for r in results if r.entity_type == "PERSON"}
    for name, score in list(names.items()):
        words = name.split()
        for part in (words[0], words[-1]) if len(words) > 1 else ():
            if len(part) > 2 and part[0].isupper():
                names.setdefault(part, score)
    added = []
    for name, score in names.items():
        for start, end in _mentions(text, name):
            mention = RecognizerResult(
                "PERSON",
                start,
                end,
                score,
                recognition_metadata={"recognizer_name": "RaikitNameRepeat"},
            )
            same_span = [
                r
                for r in results
                if (r.start, r.end) == (start, end) and _source(r) == "SpacyRecognizer"
            ]
            if not any(_overlaps(mention, r) for r in results + added if r not in same_span):
                results = [r for r in results if r not in same_span]
                added.append(mention)
    return results + added


def _longest_per_type(results: list[RecognizerResult]) -> list[RecognizerResult]:
    ordered = sorted(results, key=lambda r: (r.start - r.end, -r.score))
    merged: list[RecognizerResult] = []
    for result in ordered:
        if not any(m.entity_type == result.entity_type and _overlaps(m, result) for m in merged):
            merged.append(result)
    return merged
