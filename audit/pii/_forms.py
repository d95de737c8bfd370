"""Recognizers for personal data whose written form varies: phones, places, dates and names.

Presidio's defaults find these by NER alone or by North-American patterns (measured in
``benchmarks/pii_accuracy.py`` on hand-written text, ``benchmarks/pii_corpora.py``):

* phone numbers: python-phonenumbers in more regions (presidio's list names ``UK``, which is
  no region, so British national numbers were never matched);
* street addresses: pyap (US, British) for numbered streets, a pattern for continental
  ``Hauptstrasse 5`` / ``12 Rue de la Paix`` forms; ZIP codes and postcodes by shape, with
  context words for the shapes that are also plain numbers;
* dates: ISO timestamps (fractional seconds, offsets), weekday names and relative dates,
  which spaCy misses in upper- or lower-case text;
* names: a first-name list (Faker's, many locales) followed by a surname-shaped word.

Literal escapes (``\\n`` in text exported from JSON or logs) are read as whitespace first
(:func:`unescape`), so a number or name right after one is found.
"""

from __future__ import annotations

import functools
import re

# python-phonenumbers regions tried, in turn, for numbers written without a country code.
PHONE_REGIONS = ("US", "GB", "DE", "FR", "IN", "AU", "BR", "ES", "IT", "JP", "ZA", "MX", "NL")
# Where a number ends: not inside a word, a path or a longer number; a label may follow
# after a hyphen ("06-11146669-Office").
_PHONE_END = r"(?![\w/]|[.-]\d|-(?![^\W\d_]))"
# A digit group, bare or in brackets ("(020)"; never one bracket alone: "2021-05-06)").
_PHONE_GROUP = r"(?:\(\d{1,5}\)|\d{1,5})"
# Digit groups with single separators: a national number's shape.
PHONE_CANDIDATE = re.compile(
    rf"(?<![\w+./-]){_PHONE_GROUP}(?:[ .-]?{_PHONE_GROUP}){{1,5}}{_PHONE_END}"
)


# Dates (2023-11-02, 11/02/2023), ZIP+4 codes and the SSN's 3-2-4 grouping (any separators)
# have national numbers' digit counts.
_NOT_A_PHONE = re.compile(
    r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?: \d{1,2})?|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|\d{5}-\d{4}"
    r"|\d{3}[-. ]\d{2}[-. ]\d{4}"
)


def national_phone_region(candidate: str, regions: tuple[str, ...] = PHONE_REGIONS) -> str | None:
    """Return the first of ``regions`` where ``candidate`` is a valid number, else None.

    One python-phonenumbers parse per region on one candidate instead of one
    ``PhoneNumberMatcher`` pass per region over the whole text.
    """
    import phonenumbers

    digits = sum(c.isdigit() for c in candidate)
    if not 8 <= digits <= 13 or _NOT_A_PHONE.fullmatch(candidate):  # 7: a local number
        return None
    if candidate[0] not in "0(" and candidate.isdigit():  # an unformatted run: an ID, a date,
        regions = ("US",) if "US" in regions and digits in (10, 11) else ()  # or a US number
    for region in regions:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return region
    return None


# A number written with its country code: "+354 417 4336", "+49 (30) 1234567".
INTERNATIONAL_CANDIDATE = re.compile(
    rf"(?<![\w+])\+\d{{1,3}}(?: ?\(0\))?(?:[ .-]?{_PHONE_GROUP}){{1,5}}{_PHONE_END}"
)


def possible_international_number(candidate: str) -> bool:
    """Whether ``candidate`` (``+``, a country code, digits) has a length its country's numbers
    can have: the international form says phone; a valid-number check would drop the many
    numbers outside python-phonenumbers' ranges (``+354 417 4336``)."""
    import phonenumbers

    try:
        return phonenumbers.is_possible_number(phonenumbers.parse(candidate, None))
    except phonenumbers.NumberParseException:
        return False


# Upper-cased exports write them as "\\N".
_ESCAPE = re.compile(r"\\[nrt]", re.IGNORECASE)


def unescape(text: str) -> str:
    """Read literal ``\\n``, ``\\r`` and ``\\t`` (any case) as whitespace; offsets are unchanged."""
    return _ESCAPE.sub(" \n", text) if "\\" in text else text


_STREET_TYPES = (
    r"street|st|road|rd|avenue|ave|drive|dr|lane|ln|boulevard|blvd|way|court|ct|place|pl|"
    r"terrace|parkway|pkwy|highway|hwy|square|sq|crescent|close|circle|trail"
)
# A number, then within a few words a street type: the only texts pyap is run on.
_STREET_HINT = re.compile(
    rf"\b\d{{1,5}}[A-Za-z]?\s+(?:[\w.'-]+\s+){{0,5}}(?:{_STREET_TYPES})\b", re.IGNORECASE
)
# Street name and number in continental forms: a compound ending in a street word
# ("Hauptstraße 5", "Kerkkolankatu 46"), a street word then name and number ("Rua Mário de
# Lima 144", "Trg revolucije 12"), or a number then street word and name ("23 Rue de Fes").
_SUFFIX_STREETS = (
    r"strasse|straße|str\.|weg|gasse|platz|allee|straat|laan|gatan|gata|gade|vej|vegen|veien|"
    r"vägen|stigen|katu|tie|stræti|straeti|utca|ulica|gracht|kade|dreef|plein"
)
_PREFIX_STREETS = (
    r"rue|avenue|av\.|avda\.|boulevard|bd\.|via|viale|piazza|corso|largo|calle|ctra\.|"
    r"avenida|rua|praça|plaza|place|trg|ulica|ul\.|carrer|strada|chemin|route|camino|rruga|"
    r"odos|ulitsa"
)
# Street words that also stand apart from the name: "Ufnau Strasse 11", "Bem rakpart 36".
_SPACED_STREETS = r"strasse|straße|str\.|gasse|platz|allee|straat|laan|weg|rakpart|utca|út|tér"
_CONTINENTAL_STREET = re.compile(
    rf"\b[^\W\d_][\w'-]*(?:{_SUFFIX_STREETS}|\s(?:{_SPACED_STREETS}))\s\d{{1,4}}[a-z]?\b"
    r"(?:,\s*\d{4,5}\s[^\W\d_][\w-]+)?"
    rf"|\b(?:{_PREFIX_STREETS})(?:\s[\w'’.-]+){{1,4}}?\s\d{{1,4}}[a-z]?\b"
    rf"|\b\d{{1,4}},?\s(?:{_PREFIX_STREETS})(?:\s[\w'’-]+){{1,4}}?(?:,\s*\d{{4,5}}\s[A-Z][\w-]+)",
    re.IGNORECASE,
)
# A street named without a number: "Ivy Lane", "York St", "Vicolo Calcirelli", "Rúa de San
# Pedro"; capitalised words and a capitalised street word (not "Dr": also a doctor).
_STREET_NAME = re.compile(
    r"\b(?:[A-Z][\w'-]+\s){1,3}(?:Street|St|Road|Rd|Avenue|Ave|Drive|Lane|Ln|Boulevard|Blvd|"
    r"Court|Ct|Terrace|Parkway|Pkwy|Highway|Hwy|Crescent|Close|Allee|Gasse)\b\.?"
    r"|\b(?:Rue|Rua|Rúa|Via|Vicolo|Viale|Calle|Avenida|Piazza|Corso|Strada|Trg|Ulica)"
    r"\s(?:(?:de|del|da|do|di|la|le|des|du|dos|das)\s)?[A-Z][\w'-]+(?:\s[A-Z][\w'-]+)?"
)
# The unit line of an address ("Apt. 813", "Suite 385", "Flat 2B") or a post-office box.
_ADDRESS_UNIT = re.compile(
    r"\b(?:apt|apartment|suite|ste|unit|flat|p\.?\s?o\.?\s?box|postbox|postfach|apartado)"
    r"\.?\s?#?\d{1,5}[a-z]?\b",
    re.IGNORECASE,
)

WEEKDAY = r"(?:mon|tues|wednes|thurs|fri|satur|sun)day"
MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
RELATIVE_DAY = r"(?:today|tomorrow|yesterday|tonight)"
_NUMBER_WORD = r"(?:\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|few|several)"
_UNIT = r"(?:days?|weeks?|months?|years?|hours?|minutes?)"

# Date words (case-insensitive) that make a spaCy DATE_TIME a point in time rather than a
# count, a duration or an age: a month, weekday, relative day, "ago" or a time of day; a
# period ("week", "year", "morning") only when anchored ("next week", not "a year",
# "the weekend" or "52-year-old").
DATE_WORDS = re.compile(
    rf"\b(?:{MONTH}\.?|{WEEKDAY}|{RELATIVE_DAY}|ago|noon|midnight|[ap]\.?m\.?|o'clock|"
    r"christmas|easter|thanksgiving|new year's)\b"
    r"|\b(?:next|last|this|coming|past|previous)\s+(?:week(?:end)?|month|year|decade|"
    r"century|quarter|morning|afternoon|evening|night)\b"
    rf"|\bin\s+{_NUMBER_WORD}\s+{_UNIT}\b",
    re.IGNORECASE,
)
# Digit forms of a date or time: y-m-d / d.m.y, a clock time, a year 1800-2099 (or decade).
DATE_DIGITS = re.compile(
    r"\b\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}\b|\b\d{1,2}:\d{2}\b|\b(?:1[89]|20)\d{2}s?\b"
    r"|\bthe\s+\d{1,2}(?:st|nd|rd|th)\b"
)


def looks_like_date(text: str) -> bool:
    """Return True when ``text`` has a date's form: a date word or a date/time/year shape.

    spaCy also tags counts ("30 days"), order and card numbers and postcodes as dates; these
    carry neither a date word nor a date shape.
    """
    return bool(DATE_WORDS.search(text) or DATE_DIGITS.search(text))


def date_patterns() -> list:
    """presidio ``Pattern``s for date forms spaCy misses, scored by how clearly each is a date."""
    from presidio_analyzer import Pattern

    i = "(?i)"
    return [
        Pattern(
            "iso-timestamp",
            r"\b\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])[T ]\d{2}:\d{2}"
            r"(?::\d{2}(?:[.,]\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?(?![\w:])",
            0.85,
        ),
        Pattern("weekday", rf"{i}\b(?:(?:next|last|this)\s+)?{WEEKDAY}\b", 0.6),
        Pattern(
            "relative-day",
            rf"{i}\b{RELATIVE_DAY}(?:\s+(?:morning|afternoon|evening|night))?\b",
            0.6,
        ),
        Pattern("relative-period", rf"{i}\b(?:next|last|this)\s+(?:week|month|year)\b", 0.5),
        Pattern("ago", rf"{i}\b{_NUMBER_WORD}\s+{_UNIT}\s+ago\b", 0.6),
        Pattern(
            "month-day",
            rf"{i}\b{MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?\b"
            rf"|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{MONTH}\.?(?:,?\s+\d{{4}})?\b",
            0.6,
        ),
    ]


def postcode_patterns() -> list:
    """ZIP codes and postcodes; the shapes that are also plain numbers need a context word."""
    from presidio_analyzer import Pattern

    return [
        Pattern("uk-postcode", r"(?i)\b[A-Z]{1,2}\d[A-Z\d]?\s?\d[ABD-HJLNP-UW-Z]{2}\b", 0.4),
        Pattern("ca-postcode", r"(?i)\b[A-Z]\d[A-Z]\s?\d[A-Z]\d\b", 0.3),
        Pattern("us-zip", r"(?<![\w.,:/-])\d{5}(?:-\d{4})?(?![\w.,:/-])", 0.1),
        Pattern("four-digit", r"(?<![\w.,:/-])\d{4}(?![\w.,:/-])", 0.05),
    ]


POSTCODE_CONTEXT = ["zip", "zipcode", "postcode", "postal", "post", "address", "mailing"]
NAME_CONTEXT = ["name", "customer", "caller", "contact", "attn", "mr", "mrs", "ms", "dr", "patient"]

_NAME_LOCALES = (
    *("en_US", "en_GB", "en_IE", "en_IN", "en_NG", "de_DE", "fr_FR", "es_ES", "es_MX"),
    *("it_IT", "pt_BR", "nl_NL", "sv_SE", "pl_PL", "tr_TR", "ja_JP", "zh_CN", "vi_VN"),
    *("yo_NG", "zu_ZA", "ar_AA", "ko_KR", "id_ID", "hi_IN", "ta_IN", "sw", "fa_IR"),
    *("he_IL", "el_GR", "cs_CZ", "da_DK", "fi_FI", "no_NO", "uk_UA", "th_TH", "ga_IE"),
)


@functools.cache
def name_lists() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """Lower-case first names and surnames in Latin script (Faker's person providers), and
    common English words (Faker's English word list) that are no one's surname."""
    import importlib

    from faker.providers.lorem.en_US import Provider as EnglishWords
    from spacy.lang.en.stop_words import STOP_WORDS

    first: set[str] = set()
    last: set[str] = set()
    for locale in _NAME_LOCALES:
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        for attr, into in (
            ("first_names", first),
            ("first_names_male", first),
            ("first_names_female", first),
            ("first_romanized_names", first),
            ("last_names", last),
            ("last_romanized_names", last),
        ):
            into.update(n.lower() for n in getattr(provider, attr, ()) if n.isascii())
    # A first name that is also a common word ("will", "may") starts no name on its own.
    common = frozenset(w.lower() for w in EnglishWords.word_list) - last
    return frozenset(first - STOP_WORDS), frozenset(last - STOP_WORDS), common


_WORD = re.compile(r"[^\W\d_][\w'’-]*")


def find_names(text: str) -> list[tuple[int, int, float]]:
    """``(start, end, score)`` of "First Last" pairs whose first word is a known first name
    and whose second is not a common English word (unless it is a known surname).

    In mixed-case text the surname must be capitalised (0.5, or 0.7 when it is also a known
    surname); in all-lower or all-upper text case says nothing, so only known pairs score
    0.5 and a first name alone before a word scores 0.3 (a context word can raise it).
    """
    from spacy.lang.en.stop_words import STOP_WORDS

    first, last, common = name_lists()
    single_case = text.islower() or text.isupper()
    words = list(_WORD.finditer(text))
    found = []
    for left, right in zip(words, words[1:], strict=False):
        given = left.group().lower()
        if given.split("-")[0] not in first or text[left.end() : right.start()] != " ":
            continue
        surname = right.group()
        if surname.lower() in STOP_WORDS or surname.lower() in common or len(surname) < 2:
            continue  # "Junior College"
        known = surname.lower() in last
        if single_case:
            score = 0.5 if known else 0.3
        elif left.group()[0].isupper() and surname[0].isupper():
            score = 0.7 if known else 0.5
        else:
            continue
        found.append((left.start(), right.end(), score))
    if not single_case:
        found.extend((s, e, 0.4) for s, e in _lone_first_names(text, words, found))
    found.extend(
        (m.start(1), m.end(1), 0.6)
        for m in _INTRODUCED_NAME.finditer(text)
        if not any(s <= m.start(1) < e for s, e, _ in found)
    )
    return found


# A name introduced as one: "my name is Estrid", "everyone calls me Brynjólfur", "was called
# Wijtze Boelens"; the name is one or two capitalised words.
_INTRODUCED_NAME = re.compile(
    r"\b(?i:my name is|name's|calls? me|called|named)\s+([A-Z][^\W\d_]+(?:\s[A-Z][^\W\d_]+)?)"
)


_CALENDAR_WORD = re.compile(rf"(?:{MONTH}|{WEEKDAY})", re.IGNORECASE)


def _lone_first_names(text: str, words: list, pairs: list) -> list[tuple[int, int]]:
    """A listed first name alone ("the note from Alena"): Title-case, not a common word,
    month or weekday, a sentence's first word only before a lower-case word ("Alain is"),
    and not next to another capitalised word ("San Francisco", "Colin Kelly Jr St")."""
    first, _, common = name_lists()
    taken = [(s, e) for s, e, _ in pairs]
    found = []
    for index, word in enumerate(words):
        given = word.group()
        if not (given[0].isupper() and given[1:].islower() and given.lower() in first):
            continue
        if given.lower() in common or _CALENDAR_WORD.fullmatch(given):
            continue
        before = text[: word.start()].rstrip(" \"'(>")
        after = words[index + 1 : index + 2]
        opens = not before or before[-1] in ".!?:\n"
        if opens and not (after and after[0].group().islower()):
            continue  # a sentence's first word only before a lower-case one ("Alain is")
        if any(s <= word.start() < e for s, e in taken):
            continue
        neighbours = words[max(index - 1, 0) : index] + after
        if any(
            n.group()[0].isupper()
            and text[min(n.end(), word.end()) : max(n.start(), word.start())].strip() == ""
            for n in neighbours
        ):
            continue
        found.append((word.start(), word.end()))
    return found


# A company: up to four capitalised words and a legal form ("Accentis NV", "Havells India
# Ltd", "NIHON KOGYO CO.LTD."); the two-letter forms only in capitals.
_COMPANY = re.compile(
    r"\b(?:[A-Z][\w&'+.-]*\s){1,4}(?:(?i:inc\.?|ltd\.?|limited|llc|plc|corp\.?|corporation|"
    r"co\.?,?\s?ltd\.?|gmbh|holdings|enterprises)|SE|SA|SAS|AG|NV|N\.V\.|BV|B\.V\.|S\.A\.|Group)"
    r"(?![\w.])"
)


def find_companies(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of company names with a legal form."""
    return [(m.start(), m.end()) for m in _COMPANY.finditer(text)]


COMPANY_SIGNS = (_COMPANY,)  # a text find_companies finds something in matches one of these


@functools.cache
def country_names() -> re.Pattern:
    """Country names as written in English (Faker's list), in title case; names that are also
    someone's first name or a common English word ("Jordan", "Chad", "Turkey") left out."""
    from faker.providers.address.en_US import Provider as Addresses

    first, _, common = name_lists()
    names = [
        n.split(" (")[0]
        for n in Addresses.countries
        if n.split(" (")[0].lower() not in first | common
    ]
    names.sort(key=len, reverse=True)
    return re.compile(r"\b(?=[A-Z])(?:" + "|".join(map(re.escape, names)) + r")\b")


def find_countries(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of country names (spaCy's small model misses many)."""
    return [(m.start(), m.end()) for m in country_names().finditer(text)]


_LINE = re.compile(r"[^\S\n]*(?:>[^\S\n]*)*([^\n]*?)[^\S\n]*(?:\n|$)")
# The first line of a mailing address: "502 Lungodora Napoli 148", "Parmova 72".
_STREET_LINE = re.compile(
    r"\d{1,5}[a-z]?,?\s+[^\W\d_]|[^\W\d_][\w'.-]*(?:\s[\w'.-]+)*\s\d{1,4}[a-z]?$"
)
# A later line: a unit, a town, a region, a postcode or a country; short, no phone or e-mail.
_BLOCK_LINE = re.compile(r"[^\d@:]*(?:\d[^\d@:]*){0,8}")
_POSTAL_LINE = re.compile(r"\b\d{4,5}\b|\b[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}\b")


def find_address_blocks(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of mailing-address blocks: a street line, then up to four short lines
    (unit, town, region), ending on a line with a postcode or a country name."""
    if "\n" not in text:
        return []
    lines = [(m.start(1), m.end(1)) for m in _LINE.finditer(text) if m.end(1) > m.start(1)]
    found = []
    for i, (start, end) in enumerate(lines):
        if found and start < found[-1][1]:
            continue  # a line of the block just found
        if len(text[start:end]) > 40 or not _STREET_LINE.match(text, start, end):
            continue
        last = None
        for later_start, later_end in lines[i + 1 : i + 5]:
            line = text[later_start:later_end]
            if len(line) > 40 or not _BLOCK_LINE.fullmatch(line):
                break
            if _POSTAL_LINE.search(line) or country_names().search(line):
                last = later_end
        if last is not None:
            found.append((start, last))
    return found


# An address on one line: a street and its number, the town, then a region code and a
# postcode ("Aqqusinersuaq 146, Sisimiut, QE 3911", "Hazenhof 38, Vleuten, UT 3451 LL",
# "55 Avenue du Golf Arabe, Frichette, 61 3050", "Midhraun 50, Garðabær,  210"). The street's
# words are capitalised but for particles ("Viale delle Province 119", "ul. Nobla Alfreda 90").
_STREET_WORD = (
    r"(?:[^\W\d_a-z][\w'.-]*|(?:de|del|della|delle|di|da|do|dos|das|du|des|la|le|les|van|von|"
    r"der|den|y|u\.|ul\.|rue|via|rua|calle)(?!\w))"
)
# Digits alone are a postcode when not a year, and when they are the region's digits or end
# the phrase ("Chapter 12, Part Two, 1000 copies" is no address).
_POSTAL_DIGITS = r"(?!(?:19|20)\d\d(?![\w-]))\d{2,5}(?:[-\s]\d{2,4})?"
_ADDRESS_LINE = re.compile(
    rf"(?<![\w.-])(?:\d{{1,5}}[a-z]?\s{_STREET_WORD}(?:\s{_STREET_WORD}){{0,5}}"
    rf"|{_STREET_WORD}(?:\s{_STREET_WORD}){{0,5}}\s\d{{1,4}}[a-z]?\.?)"
    r",\s+([^\W\d_a-z][\w'.-]*(?:\s(?:-\s)?[^\W\d][\w'.-]*){0,4})"
    r",\s+(?:(?:[A-Z]{1,3}\s)?(?:\d{4}\s?[A-Z]{2}|[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2})"
    rf"|[A-Z]{{1,3}}\s{_POSTAL_DIGITS}|{_POSTAL_DIGITS}(?!\s+[a-z]))(?![\w-])"
)


def find_addresses(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of street addresses: pyap (US, British), continental forms, streets
    named without a number, unit lines, post-office boxes, one-line addresses with a postcode
    and mailing-address blocks."""
    import pyap

    spans = [(m.start(), m.end()) for m in _CONTINENTAL_STREET.finditer(text)]
    spans.extend(m.span() for m in _ADDRESS_LINE.finditer(text))
    spans.extend((m.start(), m.end()) for m in _ADDRESS_UNIT.finditer(text))
    spans.extend((m.start(), m.end()) for m in _STREET_NAME.finditer(text))
    spans.extend(find_address_blocks(text))
    if _STREET_HINT.search(text):
        for country in ("US", "GB"):
            spans.extend((a.match_start, a.match_end) for a in pyap.parse(text, country=country))
    return spans


# A text find_addresses finds something in matches one of these: its patterns, pyap's hint,
# or a line break (an address block).
ADDRESS_SIGNS = (
    _CONTINENTAL_STREET,
    _ADDRESS_LINE,
    _ADDRESS_UNIT,
    _STREET_NAME,
    _STREET_HINT,
    re.compile("\n"),
)
