"""raikit's recognizers against planted ground truth and against presidio's defaults."""

from __future__ import annotations

import pytest

from raikit.audit.pii._mask import mask_value
from raikit.audit.pii._recognizers import (
    EngineSpec,
    analyze_texts,
    build_analyzer,
    iban_valid,
    looks_like_date,
    luhn_valid,
)
from raikit.audit.pii.synth import ENTITY_TYPES, generate_labelled_texts, score_spans

PATTERN_TYPES = ("EMAIL_ADDRESS", "US_SSN", "CREDIT_CARD", "IP_ADDRESS", "IBAN_CODE")


def _scores(analyzer, docs, refine=True):
    hits = analyze_texts(
        analyzer,
        [d.text for d in docs],
        entities=list(ENTITY_TYPES),
        score_threshold=0.35,
        refine=refine,
    )
    return score_spans(docs, [[(t, s, e) for t, s, e, _ in found] for found in hits])


@pytest.fixture(scope="module")
def docs():
    return generate_labelled_texts(400, seed=7)


def test_generator_spans_are_the_planted_values(docs):
    for doc in docs[:50]:
        assert doc.spans
        for span in doc.spans:
            value = doc.text[span.start : span.end]
            assert value and value == value.strip() and "{" not in value


def test_generator_is_seeded():
    assert generate_labelled_texts(5, seed=3) == generate_labelled_texts(5, seed=3)
    assert generate_labelled_texts(5, seed=3) != generate_labelled_texts(5, seed=4)


@pytest.mark.parametrize("entity", PATTERN_TYPES)
def test_pattern_recall_floor(pattern_analyzer, docs, entity):
    score = _scores(pattern_analyzer, docs)[entity]
    assert score.true_positives + score.false_negatives >= 20
    assert score.recall >= 0.95, score
    assert score.precision >= 0.95, score


def test_beats_presidio_defaults_on_cards_iban_phone(pattern_analyzer, docs):
    ours = _scores(pattern_analyzer, docs)
    theirs = _scores(build_analyzer(EngineSpec(model=None, recognizers="presidio")), docs, False)
    assert theirs["CREDIT_CARD"].recall < 0.9 <= 0.95 <= ours["CREDIT_CARD"].recall
    assert ours["IBAN_CODE"].recall >= 0.99 > theirs["IBAN_CODE"].recall
    assert ours["PHONE_NUMBER"].recall > theirs["PHONE_NUMBER"].recall
    for entity in ENTITY_TYPES:
        assert ours[entity].precision >= theirs[entity].precision - 0.01, entity


def test_spacy_date_time_precision_and_names(spacy_analyzer, docs):
    scores = _scores(spacy_analyzer, docs[:200])
    assert scores["DATE_TIME"].precision >= 0.9
    assert scores["DATE_TIME"].recall >= 0.9
    assert scores["PERSON"].recall >= 0.8
    assert scores["LOCATION"].recall >= 0.8


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("IBAN DE89370400440532013000 today", ("IBAN_CODE", 5, 27)),
        ("IBAN DE89 3704 0044 0532 0130 00 belongs to me", ("IBAN_CODE", 5, 32)),
        ("card 2223 0031 2200 3222 please", ("CREDIT_CARD", 5, 24)),
        ("card 4111111111111111 ok", ("CREDIT_CARD", 5, 21)),
        ("call 460-648-7647 now", ("PHONE_NUMBER", 5, 17)),
        ("mail jane.doe@example.org now", ("EMAIL_ADDRESS", 5, 25)),
    ],
)
def test_exact_spans(pattern_analyzer, text, expected):
    (found,) = analyze_texts(pattern_analyzer, [text], entities=None, score_threshold=0.35)
    assert expected in [(t, s, e) for t, s, e, _ in found]


def test_no_card_or_iban_on_bad_checksums(pattern_analyzer):
    (found,) = analyze_texts(
        pattern_analyzer,
        ["card 4111111111111112 and IBAN DE89370400440532013001"],
        entities=["CREDIT_CARD", "IBAN_CODE"],
        score_threshold=0.35,
    )
    assert found == []


def test_checksums():
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")
    assert iban_valid("GB82WEST12345698765432") and not iban_valid("GB82WEST12345698765433")
    assert not iban_valid("GB82WEST1234569876543")  # one character short for GB


@pytest.mark.parametrize(
    ("text", "is_date"),
    [
        ("March 3, 2021", True),
        ("2021-03-03", True),
        ("14:30", True),
        ("1994", True),
        ("4111 1111 1111 1111", False),
        ("3583396947751591", False),
        ("today", False),
        ("460-648-7647", False),
    ],
)
def test_looks_like_date(text, is_date):
    assert looks_like_date(text) is is_date


@pytest.mark.parametrize(
    ("value", "entity", "masked"),
    [
        ("123-45-6789", "US_SSN", "***-**-6789"),
        ("John Smith", "PERSON", "J*** S****"),
        ("jane.doe@example.org", "EMAIL_ADDRESS", "j***@***.org"),
        ("4111 1111 1111 1111", "CREDIT_CARD", "**** **** **** 1111"),
        ("1234", "US_SSN", "****"),
        ("Z", "PERSON", "*"),
    ],
)
def test_mask_value(value, entity, masked):
    assert mask_value(value, entity) == masked
    assert value not in mask_value(value, entity)
