"""raikit's recognizers against planted ground truth and against presidio's defaults."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raikit.audit.pii._forms import (
    find_names,
    looks_like_date,
    national_phone_region,
    possible_international_number,
    unescape,
)
from raikit.audit.pii._mask import mask_value
from raikit.audit.pii._recognizers import (
    DEFAULT_MODEL,
    EngineSpec,
    analyze_texts,
    build_analyzer,
    iban_valid,
    luhn_valid,
    ssn_valid,
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


def test_generator_gives_the_same_texts_on_any_day(monkeypatch):
    import datetime

    import faker.providers.date_time as provider

    def texts_on(year: int) -> list[str]:
        class Today(datetime.datetime):
            @classmethod
            def now(cls, tz=None):
                return datetime.datetime(year, 6, 1, tzinfo=tz)

        monkeypatch.setattr(provider, "datetime", Today)
        return [doc.text for doc in generate_labelled_texts(300, seed=1)]

    assert texts_on(2030) == texts_on(2045)


@pytest.mark.parametrize("entity", PATTERN_TYPES)
def test_pattern_recall_floor(pattern_analyzer, docs, entity):
    score = _scores(pattern_analyzer, docs)[entity]
    assert score.true_positives + score.false_negatives >= 20
    assert score.recall >= 0.95, score
    assert score.precision >= 0.95, score


def test_beats_presidio_defaults_on_cards_iban_phone(pattern_analyzer, docs):
    # One generator template ends "... today, thanks." with "today" unlabelled; raikit reports
    # relative dates as DATE_TIME (as presidio-evaluator labels them), so it is left out here.
    docs = [d for d in docs if " today, " not in d.text]
    ours = _scores(pattern_analyzer, docs)
    theirs = _scores(build_analyzer(EngineSpec(model=None, recognizers="presidio")), docs, False)
    assert theirs["CREDIT_CARD"].recall < 0.9 <= 0.95 <= ours["CREDIT_CARD"].recall
    assert ours["IBAN_CODE"].recall >= 0.99 > theirs["IBAN_CODE"].recall
    assert ours["PHONE_NUMBER"].recall > theirs["PHONE_NUMBER"].recall
    for entity in ENTITY_TYPES:
        assert ours[entity].precision >= theirs[entity].precision - 0.01, entity


def test_spacy_date_time_precision_and_names(spacy_analyzer, docs):
    scores = _scores(spacy_analyzer, [d for d in docs[:200] if " today, " not in d.text])
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
        ("last Tuesday", True),
        ("two weeks ago", True),
        ("tomorrow morning", True),
        ("4111 1111 1111 1111", False),
        ("3583396947751591", False),
        ("30 days", False),
        ("4411", False),
        ("460-648-7647", False),
        ("next week", True),
        ("this weekend", True),
        ("a year", False),
        ("the weekend", False),
        ("52-year-old", False),
        ("the following year", False),
        ("in two weeks", True),
        ("the 14th", True),
        ("8 o'clock", True),
        ("Christmas Eve", True),
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


# SSN-shaped numbers against phone numbers: the exact hits of the identifying types. The
# sample SSNs and 0xx areas were PHONE_NUMBER before (presidio drops the samples; its phone
# matcher reads 0xx-xx-xxxx as a German or British number).
NUMBER_TYPES = {"US_SSN", "PHONE_NUMBER", "US_ITIN", "CREDIT_CARD", "EMAIL_ADDRESS"}
SSN_OR_PHONE_CASES = [
    ("123-45-6789", [("US_SSN", 0, 11)]),
    ("SSN 123-45-6789", [("US_SSN", 4, 15)]),
    ("my ssn is 078-05-1120", [("US_SSN", 10, 21)]),
    ("phone 078-05-1120", [("US_SSN", 6, 17)]),
    ("number: 061-74-0802", [("US_SSN", 8, 19)]),
    ("id 087.47.2771 on file", [("US_SSN", 3, 14)]),
    ("id 026 06 0347 on file", [("US_SSN", 3, 14)]),
    ("SSN 219-09-9999, mail canary.zq@example.org, card 4111 1111 1111 1111", [
        ("CREDIT_CARD", 50, 69), ("EMAIL_ADDRESS", 22, 43), ("US_SSN", 4, 15)
    ]),
    ("call 460-648-7647 now", [("PHONE_NUMBER", 5, 17)]),
    ("call (212) 555-0199 now", [("PHONE_NUMBER", 5, 19)]),
    ("call +44 20 7946 0958 now", [("PHONE_NUMBER", 5, 21)]),
    ("ssn: 219-09-9999 and phone (212) 555-0199", [
        ("PHONE_NUMBER", 27, 41), ("US_SSN", 5, 16)
    ]),
    # Not issued as SSNs: area 666, group 00, serial 0000, mixed separators; 9xx is an ITIN.
    ("ref 666-12-3456", []),
    ("ref 123-00-4567", []),
    ("ref 123-45-0000", []),
    ("ref 123-45 6789", []),
    ("ref 900-70-1234", [("US_ITIN", 4, 15)]),
    # An SSN's shape inside a longer number is no SSN: the phone is read whole.
    ("call me on +357 25 223299?", [("PHONE_NUMBER", 11, 25)]),
    # International form outside python-phonenumbers' valid ranges; a label after a hyphen;
    # too short for its country; a hyphen and a digit continue the number.
    ("call +354 417 4336 office", [("PHONE_NUMBER", 5, 18)]),
    ("06-11146669-Office", [("PHONE_NUMBER", 0, 11)]),
    ("ref +354 41", []),
    ("part 020 7946 0958-2", []),
    # A bracket closing a date is no phone's bracket; a country code keeps its number whole.
    ("(updated 2021-05-06)", []),
    ("+61 2 9374 4000 03/04/2022", [("PHONE_NUMBER", 0, 15)]),
]  # fmt: skip


def test_international_form_needs_a_possible_length_not_a_valid_range():
    import phonenumbers

    assert not phonenumbers.is_valid_number(phonenumbers.parse("+354 417 4336"))
    assert possible_international_number("+354 417 4336")
    assert not possible_international_number("+354 41")
    assert not possible_international_number("+999 417 4336")  # no such country code


@pytest.mark.parametrize(
    "text",
    [
        "server 45.169.111.129 is down",
        "The server is at 38.77.151.216.",  # a full stop after the address
        "card 4111 1111 1111 1111 on file",
        "IBAN DE89 3704 0044 0532 0130 00 please",
        "ssn 078-05-1120",
    ],
)
def test_numbers_of_other_types_are_never_phones_even_when_only_phones_are_asked(
    spacy_analyzer, text
):
    # With only PHONE_NUMBER asked, no IP, card, IBAN or SSN hit is there to overrule a phone.
    (found,) = analyze_texts(
        spacy_analyzer, [text], entities=["PHONE_NUMBER"], score_threshold=0.35
    )
    assert found == []


def _number_hits(analyzer, text, entities=None, threshold=0.35):
    (found,) = analyze_texts(analyzer, [text], entities=entities, score_threshold=threshold)
    return sorted((t, s, e) for t, s, e, _ in found if t in NUMBER_TYPES)


@pytest.mark.parametrize(("text", "expected"), SSN_OR_PHONE_CASES)
def test_ssn_or_phone_exact(pattern_analyzer, text, expected):
    assert _number_hits(pattern_analyzer, text) == expected


@pytest.mark.parametrize(("text", "expected"), SSN_OR_PHONE_CASES)
def test_ssn_or_phone_exact_with_spacy(spacy_analyzer, text, expected):
    # Context words ("phone", "number", "call") raise scores; the type must not change.
    assert _number_hits(spacy_analyzer, text) == expected


@pytest.mark.parametrize(
    "text", ["phone 078-05-1120", "number: 061-74-0802", "call 123-45-6789", "tel 087 47 2771"]
)
def test_ssn_shape_is_never_a_phone(spacy_analyzer, text):
    # Asked for phones only, or with a threshold above the SSN's 0.5 that a context-raised
    # phone score would pass: still no PHONE_NUMBER.
    assert _number_hits(spacy_analyzer, text, entities=["PHONE_NUMBER"]) == []
    assert _number_hits(spacy_analyzer, text, threshold=0.6) == []


def test_presidio_defaults_read_sample_ssn_as_phone(pattern_analyzer):
    # The reference for the cases above: presidio's own recognizers get these wrong.
    presidio = build_analyzer(EngineSpec(model=None, recognizers="presidio"))
    assert _number_hits(presidio, "SSN 078-05-1120") == [("PHONE_NUMBER", 4, 15)]
    assert _number_hits(pattern_analyzer, "SSN 078-05-1120") == [("US_SSN", 4, 15)]


def test_every_zero_area_ssn_is_an_ssn(pattern_analyzer):
    # The area range presidio's phone matcher claims, every separator.
    texts = [
        f"id {area:03d}{sep}{group:02d}{sep}{serial:04d}"
        for area, group, serial in [(1, 1, 1), (8, 47, 2771), (59, 99, 9999), (99, 10, 5834)]
        for sep in "-. "
    ]
    found = analyze_texts(pattern_analyzer, texts, entities=None, score_threshold=0.35)
    assert [[(t, s, e) for t, s, e, _ in hits] for hits in found] == [[("US_SSN", 3, 14)]] * 12


@pytest.mark.parametrize(
    ("candidate", "valid"),
    [
        ("123-45-6789", True),
        ("078-05-1120", True),
        ("001-01-0001", True),
        ("899-99-9999", True),
        ("667 01 0001", True),
        ("123456789", True),
        ("000-12-3456", False),
        ("666-12-3456", False),
        ("900-12-3456", False),
        ("123-00-4567", False),
        ("123-45-0000", False),
        ("123-45.6789", False),
        ("12-345-678", False),
    ],
)
def test_ssn_valid(candidate, valid):
    assert ssn_valid(candidate) is valid


# Forms the recognizers generalise to (issue: international phones, a number after a literal
# "\\n", addresses, postcodes, weekday/relative dates, timestamps, names, organisations).
# Each case: the text and every (type, value) that must be found in it.
FORM_CASES = [
    ("Ticket 12\\n+44 20 7946 0958\\nclosed", [("PHONE_NUMBER", "+44 20 7946 0958")]),
    ("call 0161 496 0750 (Manchester office)", [("PHONE_NUMBER", "0161 496 0750")]),
    ("Rufnummer: 030 901820 (Berlin).", [("PHONE_NUMBER", "030 901820")]),
    ("WhatsApp +91 98765 43210 after six", [("PHONE_NUMBER", "+91 98765 43210")]),
    ("Standard : +33(0)1 42 68 53 00", [("PHONE_NUMBER", "+33(0)1 42 68 53 00")]),
    ("ring +44 (0) 20 7946 0958 or 2125550199", [
        ("PHONE_NUMBER", "+44 (0) 20 7946 0958"), ("PHONE_NUMBER", "2125550199")
    ]),
    ("CALLBACK LIST:\\N+49 30 9018 2255", [("PHONE_NUMBER", "+49 30 9018 2255")]),
    ("left at 500 E Main St Apt 12, Boise, ID 83702 today",
     [("LOCATION", "500 E Main St Apt 12, Boise, ID 83702"), ("DATE_TIME", "today")]),
    ("Mail it to Hauptstrasse 5, 10115 Berlin", [("LOCATION", "Hauptstrasse 5, 10115 Berlin")]),
    ("zip code 94105", [("LOCATION", "94105")]),
    ("postcode EC1A 1BB", [("LOCATION", "EC1A 1BB")]),
    ("[2024-05-17T09:42:11.532Z] login ok", [("DATE_TIME", "2024-05-17T09:42:11.532Z")]),
    ("THE CONTRACT ENDS NEXT FRIDAY", [("DATE_TIME", "NEXT FRIDAY")]),
    ("the line was busy two weeks ago", [("DATE_TIME", "two weeks ago")]),
    ("customer: priya raghunathan called", [("PERSON", "priya raghunathan")]),
    ("Our contact is Thandiwe Nkosi.", [("PERSON", "Thandiwe Nkosi")]),
    ("Nansen Christiansen\n\n502 Lungodora Napoli 148\n Apt. 813\n Crespadoro\n\n Italy 36070",
     [("LOCATION", "502 Lungodora Napoli 148\n Apt. 813\n Crespadoro\n\n Italy 36070")]),
    ("Ship to Kerkkolankatu 46, NAANTALI", [("LOCATION", "Kerkkolankatu 46")]),
    ("Sede: Rua Mário de Lima Hornes 144", [("LOCATION", "Rua Mário de Lima Hornes 144")]),
    ("buzz Suite 385 at the front desk", [("LOCATION", "Suite 385")]),
    ("We moved here from Slovenia last year", [("LOCATION", "Slovenia")]),
    ("Shares of Quadrise Fuels International Plc fell",
     [("ORGANIZATION", "Quadrise Fuels International Plc")]),
    ("the note from Alena was short", [("PERSON", "Alena")]),
    ("Maybe it is under my name, everyone calls me Brynjólfur", [("PERSON", "Brynjólfur")]),
    ("It was sung by Sylwia Zielinska in 1996; Zielinska wrote it too",
     [("PERSON", "Sylwia Zielinska"), ("PERSON", "Zielinska")]),
    ("Alain is from the Lyon office", [("PERSON", "Alain")]),
    ("The shop on Ivy Lane closed", [("LOCATION", "Ivy Lane")]),
    ("Post to P.O. Box 255, Kangerlussuaq", [("LOCATION", "P.O. Box 255")]),
    ("Office: Ufnau Strasse 11, Zürich", [("LOCATION", "Ufnau Strasse 11")]),
    ("Flights to Austin and San Francisco are full", [("LOCATION", "Austin")]),
    ("Ship it to Kastanjelaan 12, Utrecht, UT 3512 AB please",
     [("LOCATION", "Kastanjelaan 12, Utrecht, UT 3512 AB")]),
    ("It was sent to Hlíðarvegur 9, Ísafjörður,  400.",
     [("LOCATION", "Hlíðarvegur 9, Ísafjörður,  400")]),
]  # fmt: skip
# Numbers and words that are none of the types above.
NOT_PII = [
    "Order 77120 shipped in 3 boxes weighing 12.5 kg each.",
    "Invoice total 1,240.50 EUR, VAT 21%, due in 30 days.",
    "Version 4.12.3 fixes the crash seen on build 20231104.",
    "Please charge the card ending in 4411 for 2 licences at $149.00.",
    "CAN YOU REACH US AT THE DESK? THE LINE WAS BUSY.",
    "The renewal includes a year of support and a spare part.",
    "Our 52-year-old boiler was replaced over the weekend.",
    "See Chapter 12, Part Two, 1000 copies were printed.",
]
FORM_TYPES = ["PERSON", "PHONE_NUMBER", "LOCATION", "DATE_TIME", "ORGANIZATION"]


@pytest.mark.parametrize(("text", "expected"), FORM_CASES)
def test_forms_found(spacy_analyzer, text, expected):
    (found,) = analyze_texts(spacy_analyzer, [text], entities=FORM_TYPES, score_threshold=0.35)
    values = {(t, text[s:e]) for t, s, e, _ in found}
    assert set(expected) <= values


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # spaCy's DATE here is "53 00 before March 3rd", "457 1881": only what lies outside
        # the number, without the linking word, is a date.
        (
            "Reach me at +33 1 42 68 53 00 before March 3rd please.",
            {("PHONE_NUMBER", "+33 1 42 68 53 00"), ("DATE_TIME", "March 3rd")},
        ),
        (
            "Romilda Heus\\n+354 457 1881 office",
            {("PERSON", "Romilda Heus"), ("PHONE_NUMBER", "+354 457 1881")},
        ),
        (
            "Phone +81 3-3224-9999 (updated 2021-05-06)",
            {("PHONE_NUMBER", "+81 3-3224-9999"), ("DATE_TIME", "2021-05-06")},
        ),
    ],
)
def test_a_date_keeps_only_its_part_outside_a_number(spacy_analyzer, text, expected):
    (found,) = analyze_texts(spacy_analyzer, [text], entities=FORM_TYPES, score_threshold=0.35)
    assert {(t, text[s:e]) for t, s, e, _ in found} == expected


@pytest.mark.parametrize(
    ("above", "person"),
    [
        ("Ship to:\nOtniel Prummel\n", "Otniel Prummel"),
        ("Billing address: Otniel Prummel\n  ", "Otniel Prummel"),
        ("> Otniel Prummel\n> ", "Otniel Prummel"),
        ("Head Office\n", None),  # "office" is a common word and no surname
        ("Otniel Prummel lives at ", None),  # the address does not start a line
        ("Otniel Prummel\nPlease send it to 4 Main St, ", None),
        ("Thank you for your order from Acme Widgets\n", None),  # the line holds more
    ],
)
def test_the_line_above_an_address_names_its_addressee(above, person):
    from presidio_analyzer import RecognizerResult

    from raikit.audit.pii._refine import refine_results

    text = above + "12 Rue de la Paix\n75002 Paris"
    start = text.index("12 Rue")
    address = RecognizerResult(
        "LOCATION", start, len(text), 0.7, None, {"recognizer_name": "RaikitAddressRecognizer"}
    )
    people = [text[r.start : r.end] for r in refine_results(text, [address])]
    assert people[1:] == ([person] if person else [])


@pytest.mark.parametrize("text", NOT_PII)
def test_no_pii_in_counts_versions_and_amounts(spacy_analyzer, text):
    (found,) = analyze_texts(spacy_analyzer, [text], entities=FORM_TYPES, score_threshold=0.35)
    assert [(t, text[s:e]) for t, s, e, _ in found] == []


def test_presidio_defaults_miss_these_forms(presidio_analyzer):
    # The reference for FORM_CASES: presidio's defaults on the same spaCy model.
    texts = [text for text, _ in FORM_CASES]
    hits = analyze_texts(
        presidio_analyzer, texts, entities=FORM_TYPES, score_threshold=0.35, refine=False
    )
    missed = [
        (t, v)
        for (text, expected), found in zip(FORM_CASES, hits, strict=True)
        for t, v in expected
        if (t, v) not in {(ft, text[s:e]) for ft, s, e, _ in found}
    ]
    assert {
        ("LOCATION", "500 E Main St Apt 12, Boise, ID 83702"),
        ("LOCATION", "94105"),
        ("LOCATION", "EC1A 1BB"),
        ("DATE_TIME", "NEXT FRIDAY"),
        ("PERSON", "priya raghunathan"),
    } <= set(missed)


@pytest.mark.parametrize(
    ("candidate", "region"),
    [
        ("020 7946 0958", "GB"),
        ("030 901820", "DE"),
        ("(415) 555-0132", "US"),
        ("2023-11-02", None),
        ("60614-2301", None),
        ("20231104", None),
        ("12", None),
        # An unformatted run is a US number only: "5182604759", "1 518..." but not "4930901820".
        ("5182604759", "US"),
        ("15182604759", "US"),
        ("4930901820", None),
    ],
)
def test_national_phone_region(candidate, region):
    assert national_phone_region(candidate) == region
    if region == "US" and candidate.isdigit():  # "5182604759" is a valid German number too
        assert national_phone_region(candidate, ("GB", "DE")) is None


def test_unescape_keeps_offsets():
    text = "a\\nb\\tc\\N"
    assert unescape(text) == "a \nb \nc \n" and len(unescape(text)) == len(text)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("Maria Garcia", ["Maria Garcia"]),
        ("Rose Hill called", ["Rose Hill"]),  # a common word that is also a surname
        ("Junior College", []),  # a first name, then a common word
        ("Will you call", []),  # a first name that is a stop word
        ("dear maria garcia", ["maria garcia"]),
    ],
)
def test_find_names(text, names):
    assert [text[s:e] for s, e, _ in find_names(text)] == names


# Texts for the batch pass's pre-check (raikit.audit.pii._precheck): URLs, hosts and dates in
# many forms, punctuation and spaces outside ASCII it reads as stand-ins, and letters outside
# ASCII, with which a text is searched with every pattern.
PRECHECK_TEXTS = [
    "See https://example.org/a?b=1 or www.shop.co.uk, not file.txt",
    "Mirror at EXAMPLE.COM:8080/path",
    "hosts 10.0.0.1, ::1, fe80::1ff:fe23:4567:890a and ::ffff:192.168.1.10",
    "Born 03/04/1990, moved 2001-07-15T10:20:30Z, back 5-JAN-21 and 12.11.85",
    "Due JAN-2024; renew 7/2025",
    "Write to ana.lopez+news@mail.example.de today",
    "No digits, no at sign and no dotted host here",
    "Ship to 12 O’Connell St — call (212) 555‑1234 or 212 555 1234bye",
    "“Acme Holdings Ltd” in Portugal; IBAN GB82 WEST 1234 5698 7654 32 – ok",
    "José Müller, Hauptstraße 5, 10115 Berlin, +49 30 1234567, ssn 078-05-1120",
    "Flat 2B\n221 Baker Street\nLondon NW1 6XE\nUnited Kingdom",
]


@pytest.mark.parametrize("engine", ["spacy_analyzer", "presidio_analyzer", "pattern_analyzer"])
def test_batch_pass_equals_presidio_analyze(request, docs, engine):
    # analyze_texts runs presidio's steps once per batch and skips the patterns and
    # recognizers its pre-check rules out; every text must get what presidio's own analyze
    # gives it, for all entities and for some.
    from raikit.audit.pii._recognizers import refine_results

    analyzer = request.getfixturevalue(engine)
    texts = PRECHECK_TEXTS + [d.text for d in docs[:150]]
    for entities in (None, ["URL", "IP_ADDRESS", "DATE_TIME", "PERSON"]):
        batch = analyze_texts(analyzer, texts, entities=entities, score_threshold=0.35)
        one_by_one = []
        for text in texts:
            text = unescape(text)
            found = analyzer.analyze(
                text=text, language="en", entities=entities, score_threshold=0.35
            )
            one_by_one.append(
                sorted(
                    (r.entity_type, r.start, r.end, round(float(r.score), 4))
                    for r in refine_results(text, found)
                )
            )
        assert batch == one_by_one
    assert any(hit[0] == "URL" for hit in batch[0])  # the pre-checked recognizers did run


def test_trimmed_pipeline_finds_what_spacys_own_finds(spacy_analyzer, docs):
    # raikit's pipeline drops components and multiplies on NumPy's BLAS; the model as spaCy
    # loads it, on thinc's default backend, must tag the same entities.
    import spacy
    from thinc.api import NumpyOps

    trimmed = spacy_analyzer.nlp_engine.nlp["en"]
    assert trimmed.get_pipe("ner").model.ops.name == "raikit_numpy_blas"
    reference = spacy.load(DEFAULT_MODEL)
    assert type(reference.get_pipe("ner").model.ops) is NumpyOps
    texts = [d.text for d in docs]

    def ents(nlp, batch_size=128):
        found = nlp.pipe(texts, batch_size=batch_size)
        return [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in found]

    expected = ents(reference)
    assert sum(map(len, expected)) > 300
    assert ents(trimmed) == expected
    assert ents(trimmed, batch_size=512) == expected  # raikit's workers' batches


def test_inference_maxout_keeps_each_units_largest_piece(spacy_analyzer):
    from thinc.api import NumpyOps

    ops = spacy_analyzer.nlp_engine.nlp["en"].get_pipe("ner").model.ops
    pieces = np.random.default_rng(0).normal(size=(50, 7, 3)).astype("float32")
    pieces[0, 0] = [2.0, 2.0, 1.0]  # ties
    pieces[0, 1] = [-1.0, 3.0, 3.0]
    best, which = ops.maxout(pieces)
    expected, _ = NumpyOps().maxout(pieces)
    assert best.dtype == np.float32 and best.flags.c_contiguous
    np.testing.assert_array_equal(best, expected)
    np.testing.assert_array_equal(best, pieces.max(axis=-1))
    assert which is None
    with pytest.raises(NotImplementedError, match="inference only"):
        ops.backprop_maxout(best, which, 3)


def test_no_recognizer_has_its_own_context_step(spacy_analyzer, presidio_analyzer):
    # The batch pass leaves out presidio's per-recognizer context step: nothing overrides it.
    from presidio_analyzer import EntityRecognizer

    for analyzer in (spacy_analyzer, presidio_analyzer):
        for recognizer in analyzer.registry.recognizers:
            assert (
                type(recognizer).enhance_using_context is EntityRecognizer.enhance_using_context
            ), recognizer.name


_IMPORT_CHECK = """
import sys
{first}
from raikit.audit.pii._recognizers import EngineSpec, get_analyzer, import_presidio_analyzer
import_presidio_analyzer(keep_torch={keep_torch})
get_analyzer(EngineSpec(model=None))
import thinc.compat
from presidio_analyzer.nlp_engine import huggingface_token_pipe
print("transformers", "loaded" if "transformers" in sys.modules else "not loaded",
      "available" if huggingface_token_pipe.is_available() else "unavailable")
print("torch", "loaded" if "torch" in sys.modules else "not loaded",
      "for thinc" if thinc.compat.has_torch else "not for thinc")
import transformers, torch
print(transformers.__name__, torch.__name__)
"""


@pytest.mark.parametrize(
    ("first", "keep_torch", "expected"),
    [
        # presidio imported without transformers, spaCy without torch
        ("", False, ["transformers not loaded unavailable", "torch not loaded not for thinc"]),
        # imported first, each stays available
        ("import torch", False, ["transformers not loaded unavailable", "torch loaded for thinc"]),
        ("import transformers", False, ["transformers loaded available", "torch loaded for thinc"]),
        # a pipeline that runs on torch keeps it
        ("", True, ["transformers not loaded unavailable", "torch loaded for thinc"]),
    ],
)
def test_the_engine_imports_neither_transformers_nor_torch(first, keep_torch, expected):
    # presidio imports transformers' pipelines (seconds) for an engine raikit never builds,
    # and spaCy's thinc imports torch (a second) for layers its CNN pipelines do not use.
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", _IMPORT_CHECK.format(first=first, keep_torch=keep_torch)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert out == [*expected, "transformers torch"]


def test_a_model_requiring_torch_or_a_torch_layer_runs_on_torch():
    from raikit.audit.pii._recognizers import DEFAULT_MODEL, runs_on_torch

    assert not runs_on_torch(DEFAULT_MODEL)  # requires spaCy only
    assert runs_on_torch("opacus")  # requires torch
    assert not runs_on_torch("no-such-model-package")  # loading it reports the error
    assert not runs_on_torch(None)  # --no-ner


def test_a_new_engine_comes_with_its_search_plan_for_the_default_entity_types():
    # Built once with the engine, the plan is inherited by forked workers instead of being
    # built again in each on its first texts.
    from raikit.audit.pii._recognizers import (
        DEFAULT_ENTITIES,
        EngineSpec,
        _plan,
        analyze_texts,
        build_analyzer,
    )

    engine = build_analyzer(EngineSpec(model=None))
    built = _plan.cache_info().misses
    found = analyze_texts(
        engine, ["call 020 7946 0958"], entities=list(DEFAULT_ENTITIES), score_threshold=0.35
    )
    assert [entity for entity, *_ in found[0]] == ["PHONE_NUMBER"]
    assert _plan.cache_info().misses == built
    analyze_texts(engine, ["call 020 7946 0958"], entities=["PHONE_NUMBER"], score_threshold=0.35)
    assert _plan.cache_info().misses == built + 1  # another choice of entity types: a new plan


def test_the_process_engine_is_left_out_of_later_garbage_collections(monkeypatch):
    # Kept for the process's life, its objects are frozen: a full collection during a scan
    # no longer walks them.
    import gc

    from raikit.audit.pii import _recognizers

    monkeypatch.setattr(_recognizers, "_ENGINES", {})
    engine = _recognizers.get_analyzer(_recognizers.EngineSpec(model=None))
    tracked = {id(o) for o in gc.get_objects()}  # the three generations, not the frozen
    assert gc.is_tracked(engine.registry.recognizers)
    assert id(engine.registry.recognizers) not in tracked
    assert id(engine.__dict__) not in tracked


def test_long_patterns_found_by_their_re2_twins_as_by_presidio():
    # Patterns of 1,000 characters or more are searched by their RE2 twin on texts RE2 reads
    # as Python does; a text outside ASCII, or a twin that finds an empty match, goes back
    # to Python's search. Either way the results are presidio's own.
    from presidio_analyzer import Pattern, PatternRecognizer

    from raikit.audit.pii._precheck import re2_twin
    from raikit.audit.pii._recognizers import _LONG_PATTERN, _pattern_finder

    words = [f"w{n:04d}" for n in range(_LONG_PATTERN // 6 + 1)]
    codes = "(?:" + "|".join(words) + r")\b"
    recognizer = PatternRecognizer(
        supported_entity="ID",
        patterns=[
            Pattern("code", r"\b[a-z]{2}-" + codes, 0.5),
            # Lazy: Python finds each word after an empty match, RE2 only the empty ones.
            Pattern("maybe empty", "(?:" + "|".join(words) + ")*?", 0.4),
            Pattern("short", r"\bzz\d\b", 0.3),
        ],
    )
    assert all(len(p.regex) >= _LONG_PATTERN for p in recognizer.patterns[:2])
    assert all(re2_twin(p.regex, recognizer.global_regex_flags) for p in recognizer.patterns[:2])
    find = _pattern_finder(recognizer)
    texts = [
        "codes ab-w0001 and XY-w0002, w0003w0004 then zz7",
        "code ab-w0001’s twin: ab-w0165 — zz1",  # outside ASCII: Python's search
        "no code here",
        "",
    ]
    for text in texts:
        expected = recognizer.analyze(text, entities=["ID"])
        found = find(text, None)
        assert sorted((r.start, r.end, r.score) for r in found) == sorted(
            (r.start, r.end, r.score) for r in expected
        )
    # Two codes, the words w0003 and w0004 (those inside a code are dropped) and the short one.
    assert len(find(texts[0], None)) == 5


_CONTEXT_WORDS = st.sampled_from(["phone", "ph", "one", "PH", "", "a\x00b", "b", "ÉTÉ"])


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(st.none(), st.lists(_CONTEXT_WORDS, max_size=5)),
    st.one_of(st.none(), st.lists(_CONTEXT_WORDS, max_size=5)),
    st.sampled_from(["substring", "whole_word"]),
)
def test_context_word_found_as_presidio_finds_it(surrounding, context, mode):
    # raikit's enhancer joins the surrounding words once; presidio searches them one by one.
    from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer

    from raikit.audit.pii._recognizers import _enhancer_class

    find = _enhancer_class()._find_supportive_word_in_context
    expected = LemmaContextAwareEnhancer._find_supportive_word_in_context(
        surrounding, context, mode
    )
    assert find(surrounding, context, mode) == expected
