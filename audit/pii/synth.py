"""Seeded, labelled text with personal data: ground truth for the PII scanner's tests.

Every sentence comes from a template filled by Faker; the character span and entity type of
each filled value are recorded, so recall and precision are measured against what was
planted, never against the scanner's own output.

Examples
--------
>>> docs = generate_labelled_texts(3, seed=0)
>>> docs[0].text[docs[0].spans[0].start : docs[0].spans[0].end]  # doctest: +SKIP
'Allison Hill'
"""

from __future__ import annotations

import datetime
import random
import re
from dataclasses import dataclass

ENTITY_TYPES = (
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
)

TEMPLATES = (
    "Please contact {PERSON} at {EMAIL_ADDRESS} about the refund.",
    "{PERSON} moved to {LOCATION} on {DATE_TIME} and changed her number to {PHONE_NUMBER}.",
    "My SSN is {US_SSN} and my card number is {CREDIT_CARD}.",
    "Payment was made with card {CREDIT_CARD} on {DATE_TIME}.",
    "The wire went to IBAN {IBAN_CODE} before the deadline.",
    "Transfer the deposit to {IBAN_CODE} today, thanks.",
    "IBAN {IBAN_CODE} belongs to {PERSON}.",
    "Login from {IP_ADDRESS} was flagged for {PERSON} in {LOCATION}.",
    "Call me on {PHONE_NUMBER} or write to {EMAIL_ADDRESS}.",
    "The applicant's social security number is {US_SSN}.",
    "See {URL} for the documents I uploaded from {IP_ADDRESS}.",
    "I was born on {DATE_TIME} in {LOCATION}.",
    "Reach {PERSON} by phone: {PHONE_NUMBER}.",
    "Card {CREDIT_CARD} expired, use the account {IBAN_CODE} instead.",
    "Visited {URL} at {DATE_TIME} from address {IP_ADDRESS}.",
    "Customer {PERSON} (SSN {US_SSN}) lives in {LOCATION}.",
    "Forward the invoice to {EMAIL_ADDRESS} and charge {CREDIT_CARD}.",
    "The meeting with {PERSON} is on {DATE_TIME}.",
    "Server {IP_ADDRESS} sent a report to {EMAIL_ADDRESS}.",
    "Her homepage {URL} lists the phone {PHONE_NUMBER}.",
)

_CARD_TYPES = (
    "visa16",
    "visa19",
    "visa13",
    "mastercard",
    "amex",
    "discover",
    "jcb15",
    "jcb16",
    "maestro",
    "diners",
)
_IBAN_LOCALES = ("en_GB", "de_DE", "fr_FR", "nl_NL", "es_ES", "it_IT")
# Dates end here, not at today's date: one seed gives the same texts on every day.
LATEST_DATE = datetime.datetime(2025, 1, 1)
_FIELD = re.compile(r"\{([A-Z_]+)\}")


@dataclass(frozen=True)
class Span:
    """A planted value: ``text[start:end]`` is an ``entity_type``."""

    start: int
    end: int
    entity_type: str


@dataclass(frozen=True)
class LabelledText:
    """A generated document and the spans of every value planted in it."""

    text: str
    spans: tuple[Span, ...]


class _Values:
    def __init__(self, seed: int) -> None:
        from faker import Faker

        self.rng = random.Random(seed)
        self.fake = Faker("en_US")
        self.fake.seed_instance(seed)
        self.iban_fakers = []
        for offset, locale in enumerate(_IBAN_LOCALES):
            faker = Faker(locale)
            faker.seed_instance(seed * 31 + offset)
            self.iban_fakers.append(faker)

    def value(self, entity: str) -> str:
        fake, rng = self.fake, self.rng
        if entity == "PERSON":
            return fake.name() if rng.random() < 0.6 else f"{fake.first_name()} {fake.last_name()}"
        if entity == "EMAIL_ADDRESS":
            return fake.email()
        if entity == "PHONE_NUMBER":
            return fake.phone_number()
        if entity == "US_SSN":
            return fake.ssn()
        if entity == "CREDIT_CARD":
            number = fake.credit_card_number(card_type=rng.choice(_CARD_TYPES))
            if rng.random() < 0.3 and len(number) == 16:
                number = " ".join(number[i : i + 4] for i in range(0, 16, 4))
            return number
        if entity == "IP_ADDRESS":
            return fake.ipv4() if rng.random() < 0.75 else fake.ipv6()
        if entity == "IBAN_CODE":
            number = rng.choice(self.iban_fakers).iban()
            if rng.random() < 0.3:
                number = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
            return number
        if entity == "LOCATION":
            return rng.choice((fake.city, fake.country, fake.state))()
        if entity == "DATE_TIME":
            day = fake.date_object(end_datetime=LATEST_DATE)
            return rng.choice(
                (day.isoformat(), day.strftime("%B %d, %Y"), day.strftime("%d %B %Y"))
            )
        if entity == "URL":
            return fake.url()
        raise ValueError(f"unknown entity type {entity!r}")


def _fill(template: str, values: _Values) -> LabelledText:
    parts, spans, cursor, length = [], [], 0, 0
    for match in _FIELD.finditer(template):
        literal = template[cursor : match.start()]
        parts.append(literal)
        length += len(literal)
        value = values.value(match.group(1))
        spans.append(Span(length, length + len(value), match.group(1)))
        parts.append(value)
        length += len(value)
        cursor = match.end()
    parts.append(template[cursor:])
    return LabelledText("".join(parts), tuple(spans))


def generate_labelled_texts(n: int, seed: int = 0) -> list[LabelledText]:
    """Generate ``n`` sentences with planted PII and their ground-truth spans.

    Parameters
    ----------
    n : int
        Number of sentences.
    seed : int
        Seeds Faker and the template choice; the same seed gives the same corpus.

    Returns
    -------
    list of LabelledText
        Templates are used in turn, so every entity type appears about equally often.
    """
    values = _Values(seed)
    return [_fill(TEMPLATES[i % len(TEMPLATES)], values) for i in range(n)]


def generate_comments(n: int, seed: int = 0, pii_share: float = 0.5) -> list[str]:
    """Generate a free-text column: ``pii_share`` of the rows hold PII, the rest do not.

    Parameters
    ----------
    n : int
        Number of rows.
    seed : int
        Random seed.
    pii_share : float
        Share of rows with a sentence from :func:`generate_labelled_texts`.

    Returns
    -------
    list of str
    """
    rng = random.Random(seed)
    labelled = generate_labelled_texts(n, seed=seed)
    clean = (
        "No comment.",
        "Respondent answered every question.",
        "Interview completed by phone.",
        "Asked to skip the income section.",
        "Follow-up not needed.",
    )
    return [doc.text if rng.random() < pii_share else rng.choice(clean) for doc in labelled]


@dataclass(frozen=True)
class Score:
    """Span-level precision, recall and F1 of one entity type."""

    entity_type: str
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 0.0

    @property
    def recall(self) -> float:
        planted = self.true_positives + self.false_negatives
        return self.true_positives / planted if planted else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def score_spans(
    docs: list[LabelledText],
    predicted: list[list[tuple[str, int, int]]],
    entity_types: tuple[str, ...] = ENTITY_TYPES,
) -> dict[str, Score]:
    """Score predicted ``(entity_type, start, end)`` spans against the planted ones.

    A planted span is found when a prediction of the same type overlaps it; a prediction
    of one of ``entity_types`` that overlaps no planted span of its type is a false
    positive. Other predicted and planted types are ignored.
    """
    counts = {t: [0, 0, 0] for t in entity_types}
    for doc, found in zip(docs, predicted, strict=True):
        found = [f for f in found if f[0] in counts]
        for span in doc.spans:
            if span.entity_type not in counts:
                continue
            hit = any(
                t == span.entity_type and s < span.end and span.start < e for t, s, e in found
            )
            counts[span.entity_type][0 if hit else 2] += 1
        for entity_type, start, end in found:
            if not any(
                sp.entity_type == entity_type and start < sp.end and sp.start < end
                for sp in doc.spans
            ):
                counts[entity_type][1] += 1
    return {t: Score(t, *c) for t, c in counts.items()}
