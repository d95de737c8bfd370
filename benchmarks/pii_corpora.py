"""Evaluation corpora for the PII scanner, written apart from its recognizers.

* ``handwritten("dev")`` / ``handwritten("heldout")``: sentences from templates and values
  written by hand for this file (not ``raikit.audit.pii.synth``'s): support tickets, CRM notes,
  log lines and forms, with mixed casing, literal ``\\n`` escapes (text exported from JSON or
  logs), international phone formats, street addresses with and without unit numbers, ZIP
  codes and postcodes, names from several cultures, weekday and relative dates, ISO
  timestamps, organisations, and sentences with numbers that are not personal data. The two
  splits share no template and no value. Recognizers are tuned on ``dev`` only; ``heldout``
  is what the README quotes.
* ``presidio_evaluator()``: Microsoft's presidio-evaluator templates (``templates.txt``, MIT)
  filled with the people, addresses and companies of its own ``FakeNameGenerator.com_3000.csv``
  and ``companies_and_organizations.csv``, read out of the pinned wheel (never installed).
  Its placeholders map to entity types as presidio-evaluator maps them.

Spans are recorded as values are filled in, so the ground truth never comes from a recognizer.
"""

from __future__ import annotations

import csv
import io
import random
import re
from typing import Literal

from raikit.audit.pii.synth import LATEST_DATE, LabelledText, Span

ENTITIES = (
    "PERSON",
    "PHONE_NUMBER",
    "LOCATION",
    "DATE_TIME",
    "ORGANIZATION",
    "EMAIL_ADDRESS",
    "CREDIT_CARD",
    "US_DRIVER_LICENSE",
)
_FIELD = re.compile(r"\{([A-Z_]+)\}")

# ---------------------------------------------------------------------------------------------
# dev split: tune on this one
# ---------------------------------------------------------------------------------------------
DEV_TEMPLATES = (
    "Ticket #48213\\nCustomer: {PERSON}\\nPhone: {PHONE_NUMBER}\\nIssue: router keeps dropping",
    "hi, this is {PERSON}, please call me back on {PHONE_NUMBER} before {DATE_TIME}",
    "Shipping address: {ADDRESS}",
    "The parcel for {PERSON} was left at {ADDRESS} on {DATE_TIME}.",
    "{PERSON} from {ORGANIZATION} asked for the invoice to be resent.",
    "Our contact at {ORGANIZATION} is {PERSON} ({EMAIL_ADDRESS}).",
    "Meeting moved to {DATE_TIME}, room 4B, bring the Q3 figures.",
    "[{TIMESTAMP}] user={EMAIL_ADDRESS} action=login status=ok",
    "CALLER {PERSON} REPORTED A LEAK AT {ADDRESS}",
    "She lives in {CITY} now, zip {ZIP}.",
    "Order 77120 shipped in 3 boxes weighing 12.5 kg each.",
    "Version 4.12.3 fixes the crash seen on build 20231104.",
    "Please charge the card ending in 4411 for 2 licences at $149.00.",
    "Driver license {US_DRIVER_LICENSE} was scanned at the desk.",
    "{PERSON} said the card {CREDIT_CARD} was declined again.",
    "Can {PERSON} reach us at {PHONE_NUMBER}? The line was busy {DATE_TIME}.",
    "Applicant moved from {CITY} to {CITY} in {DATE_TIME}.",
    "The contract with {ORGANIZATION} ends {DATE_TIME}.",
    "note: {PERSON} prefers e-mail ({EMAIL_ADDRESS}), not calls to {PHONE_NUMBER}",
    "Mail the forms to {ADDRESS}\\nAttn: {PERSON}",
    "Invoice total 1,240.50 EUR, VAT 21%, due in 30 days.",
    "Postcode {ZIP} is outside our delivery area.",
    "callback list:\\n{PHONE_NUMBER}\\n{PHONE_NUMBER}\\n(both after {DATE_TIME})",
)

DEV_VALUES = {
    "PERSON": (
        "Maria Gonzalez",
        "Wei Zhang",
        "Aisha Bello",
        "Kenji Watanabe",
        "Priya Raghunathan",
        "Olaf Lindqvist",
        "Fatima Al-Sayed",
        "Jean-Luc Moreau",
        "Siobhan O'Connell",
        "Dmitri Volkov",
        "Thandiwe Nkosi",
        "Nguyen Van An",
        "Emily Carter",
        "Carlos Mendoza",
        "Hannah Schmidt",
        "Mehmet Yilmaz",
    ),
    "PHONE_NUMBER": (
        "+44 20 7946 0958",
        "020 7946 0123",
        "+49 30 9018 2255",
        "+33 1 42 68 53 00",
        "(415) 555-0132",
        "212.555.0147",
        "+1 646 555 0199",
        "+91 98765 43210",
        "+61 2 9374 4000",
        "+81 3-3224-9999",
        "+34 912 34 56 78",
        "+27 21 480 7700",
        "0161 496 0750",
        "+55 11 98765-4321",
    ),
    "ADDRESS": (
        "221B Baker Street, London NW1 6XE",
        "1600 Amphitheatre Pkwy, Mountain View, CA 94043",
        "742 Evergreen Terrace, Springfield, OR 97477",
        "12 Rue de la Paix, 75002 Paris",
        "350 Fifth Avenue, Suite 3300, New York, NY 10118",
        "88 Colin P Kelly Jr St, San Francisco, CA 94107",
        "Flat 3, 14 Albert Road, Manchester M19 2EQ",
        "4059 Mt Lee Dr., Hollywood, CA 90068",
        "500 E Main St Apt 12, Boise, ID 83702",
        "Hauptstrasse 5, 10115 Berlin",
        "77 Massachusetts Ave, Cambridge, MA 02139",
    ),
    "CITY": (
        "Lisbon",
        "Nairobi",
        "Osaka",
        "Toronto",
        "Bogota",
        "Krakow",
        "Austin",
        "Manila",
        "Edinburgh",
        "Auckland",
    ),
    "ZIP": ("94105", "10001", "60614-2301", "SW1A 2AA", "EC1A 1BB", "30301", "M5V 3L9", "2000"),
    "DATE_TIME": (
        "Monday",
        "next Friday",
        "tomorrow morning",
        "yesterday",
        "March 3rd",
        "3/14/2023",
        "2023-11-02",
        "14 February 2022",
        "last Tuesday",
        "the end of June",
        "10:30 am",
        "Sept. 9, 2021",
        "2019",
        "two weeks ago",
    ),
    "TIMESTAMP": (
        "2024-05-17T09:42:11.532Z",
        "2023-12-01 23:59:59.120",
        "2024-01-09T14:03:27.004518+00:00",
        "2022-07-30T06:15:00Z",
    ),
    "ORGANIZATION": (
        "Northwind Traders",
        "Banco Santander",
        "Tata Consultancy Services",
        "the World Health Organization",
        "Siemens",
        "Acme Logistics Ltd",
        "Deutsche Bahn",
        "the University of Toronto",
        "Pfizer",
        "Oxfam",
    ),
    "EMAIL_ADDRESS": (
        "m.gonzalez@example.com",
        "wei.zhang@mail.example.cn",
        "aisha_b@example.org",
        "support+billing@example.co.uk",
    ),
    "CREDIT_CARD": ("4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005"),
    "US_DRIVER_LICENSE": ("D1234567", "S530-7751-2290"),
}

# ---------------------------------------------------------------------------------------------
# heldout split: never looked at while tuning
# ---------------------------------------------------------------------------------------------
HELDOUT_TEMPLATES = (
    "From the call log:\\n{PERSON} | {PHONE_NUMBER} | {DATE_TIME}",
    "Please update my address to {ADDRESS}. Thanks, {PERSON}",
    "{PERSON} joined {ORGANIZATION} on {DATE_TIME} as a junior analyst.",
    "Delivery failed at {ADDRESS}; driver will retry {DATE_TIME}.",
    "ping me at {PHONE_NUMBER} or {EMAIL_ADDRESS} if the build breaks",
    'EVENT {TIMESTAMP} host=web-3 msg="password reset requested by {EMAIL_ADDRESS}"',
    "Patient {PERSON}, seen {DATE_TIME}, referred by Dr. {PERSON}.",
    "Our office moved: {ADDRESS}",
    "{ORGANIZATION} signed the lease for the {CITY} warehouse.",
    "lives in {CITY}, {ZIP}",
    "Please quote reference 55-1020-3 and ticket 884213 in every reply.",
    "The batch of 250 units at 3.75 each arrives in week 14.",
    "Temperature was 21.5 degrees at 06:00 and the pH 7.2.",
    "Reimbursement for {PERSON} goes to card {CREDIT_CARD}.",
    "License no. {US_DRIVER_LICENSE} expired last year.",
    "I spoke to {PERSON} of {ORGANIZATION}; she will phone {PHONE_NUMBER} {DATE_TIME}.",
    "WHATSAPP {PHONE_NUMBER} - ASK FOR {PERSON}",
    "Return label: {PERSON}\\n{ADDRESS}",
    "The {CITY} branch closes at 5 pm on {DATE_TIME}.",
    "Post code {ZIP}, house number 12.",
    "Send the signed copy to {ORGANIZATION} by {DATE_TIME}.",
)

HELDOUT_VALUES = {
    "PERSON": (
        "Lucia Fernandez",
        "Hiroshi Tanaka",
        "Chidi Okafor",
        "Anjali Mehta",
        "Sven Eriksson",
        "Yusuf Demir",
        "Mei Ling Chen",
        "Patrick Dubois",
        "Aoife Byrne",
        "Ivan Petrov",
        "Kwame Mensah",
        "Tran Thi Mai",
        "Sarah Mitchell",
        "Diego Alvarez",
        "Katarzyna Nowak",
        "Omar Haddad",
    ),
    "PHONE_NUMBER": (
        "+44 7700 900123",
        "07700 900456",
        "+49 89 1234 5678",
        "+33 6 12 34 56 78",
        "(312) 555-0178",
        "617-555-0110",
        "+1 (202) 555-0143",
        "+91 22 2778 1234",
        "+61 412 345 678",
        "+81 90-1234-5678",
        "+39 06 6982 1234",
        "+52 55 1234 5678",
        "+353 1 234 5678",
        "+65 6123 4567",
    ),
    "ADDRESS": (
        "10 Downing Street, London SW1A 2AA",
        "1 Infinite Loop, Cupertino, CA 95014",
        "4 Privet Drive, Little Whinging, Surrey",
        "233 S Wacker Dr, Chicago, IL 60606",
        "Unit 7, 45 George St, Sydney NSW 2000",
        "2211 N First Street, San Jose, CA 95131",
        "1313 Disneyland Dr, Anaheim, CA 92802",
        "Via del Corso 101, 00186 Roma",
        "90 High Holborn, London WC1V 6LJ",
        "600 Montgomery St Fl 12, San Francisco, CA 94111",
        "15 Kingsway Apt 3B, Edinburgh EH1 1AA",
    ),
    "CITY": (
        "Seville",
        "Accra",
        "Kyoto",
        "Vancouver",
        "Lima",
        "Gdansk",
        "Denver",
        "Jakarta",
        "Cardiff",
        "Wellington",
    ),
    "ZIP": ("02116", "73301", "98101-4520", "W1A 0AX", "B33 8TH", "20500", "H2X 1Y4", "3000"),
    "DATE_TIME": (
        "Thursday",
        "next Wednesday",
        "this afternoon",
        "tomorrow",
        "April 21st",
        "12/01/2024",
        "2022-06-15",
        "1 March 2023",
        "last Saturday",
        "the start of August",
        "4:15 pm",
        "Jan. 5, 2020",
        "2018",
        "three days ago",
    ),
    "TIMESTAMP": (
        "2024-02-29T17:05:43.871Z",
        "2023-10-10 08:00:00.001",
        "2025-03-11T22:47:19.123456+01:00",
        "2021-09-01T00:00:00Z",
    ),
    "ORGANIZATION": (
        "Contoso Pharmaceuticals",
        "HSBC",
        "Infosys",
        "the Red Cross",
        "Volkswagen",
        "Globex Corporation",
        "Air France",
        "the University of Cape Town",
        "Unilever",
        "Amnesty International",
    ),
    "EMAIL_ADDRESS": (
        "l.fernandez@example.es",
        "h.tanaka@example.jp",
        "chidi.o@example.ng",
        "ops-alerts@example.io",
    ),
    "CREDIT_CARD": ("4012 8888 8888 1881", "5105-1051-0510-5100", "371449635398431"),
    "US_DRIVER_LICENSE": ("F2589014", "W428-5519-1170"),
}

# A value field and the entity type it is scored as.
_TYPE_OF = {"ADDRESS": "LOCATION", "CITY": "LOCATION", "ZIP": "LOCATION", "TIMESTAMP": "DATE_TIME"}


def _fill(template: str, values: dict, rng: random.Random) -> LabelledText:
    parts, spans, length, cursor = [], [], 0, 0
    for match in _FIELD.finditer(template):
        literal = template[cursor : match.start()]
        parts.append(literal)
        length += len(literal)
        field = match.group(1)
        value = rng.choice(values[field])
        spans.append(Span(length, length + len(value), _TYPE_OF.get(field, field)))
        parts.append(value)
        length += len(value)
        cursor = match.end()
    parts.append(template[cursor:])
    text = "".join(parts)
    # Casing varies as typed text does; spans keep their offsets.
    roll = rng.random()
    if roll < 0.15:
        text = text.lower()
    elif roll < 0.2:
        text = text.upper()
    return LabelledText(text, tuple(spans))


def handwritten(split: str, n: int = 600, seed: int = 0) -> list[LabelledText]:
    """``n`` sentences of the hand-written corpus: ``split`` is ``"dev"`` or ``"heldout"``."""
    templates, values = {
        "dev": (DEV_TEMPLATES, DEV_VALUES),
        "heldout": (HELDOUT_TEMPLATES, HELDOUT_VALUES),
    }[split]
    rng = random.Random(seed)
    return [_fill(templates[i % len(templates)], values, rng) for i in range(n)]


# ---------------------------------------------------------------------------------------------
# presidio-evaluator's templates and fake people (not written by raikit)
# ---------------------------------------------------------------------------------------------
PRESIDIO_EVALUATOR_WHEEL = (
    "presidio-evaluator==0.3.2",
    "presidio_evaluator-0.3.2-py3-none-any.whl",
    "57614fe604e52b78e6de25b767c59265886b93bbcdc6c7e43ab2657d3f6302be",
    "presidio-evaluator templates and fake people for the PII accuracy benchmark",
)
_RAW = "presidio_evaluator/data_generator/raw_data/"
# presidio-evaluator's placeholder -> entity type (its PRESIDIO entity mapping); others are
# filled but not scored (age, job, nationality, ...).
_PE_TYPES = {
    **dict.fromkeys(
        (
            "person",
            "name",
            "first_name",
            "last_name",
            "name_female",
            "name_male",
            "first_name_male",
            "first_name_female",
            "first_name_nonbinary",
            "last_name_male",
            "last_name_female",
        ),
        "PERSON",
    ),
    **dict.fromkeys(
        (
            "address",
            "city",
            "country",
            "street_name",
            "building_number",
            "secondary_address",
            "postcode",
            "zipcode",
            "state_abbr",
        ),
        "LOCATION",
    ),
    **dict.fromkeys(("date_time", "date_of_birth", "day_of_week", "year"), "DATE_TIME"),
    "organization": "ORGANIZATION",
    "phone_number": "PHONE_NUMBER",
    "email": "EMAIL_ADDRESS",
    "credit_card_number": "CREDIT_CARD",
    "us_driver_license": "US_DRIVER_LICENSE",
}


def presidio_evaluator(
    n: int = 600, seed: int = 0, split: Literal["test", "tune"] = "test"
) -> list[LabelledText]:
    """``n`` sentences from presidio-evaluator's templates and fake-people table.

    ``tune`` fills the even-numbered templates (the recognizers' address blocks, companies,
    lone first names and date words were tuned on them), ``test`` the odd-numbered ones.
    """
    import zipfile

    from faker import Faker

    from raikit.models.wheel_cache import WheelSource, fetch_wheel

    wheel = fetch_wheel(WheelSource(*PRESIDIO_EVALUATOR_WHEEL))
    with zipfile.ZipFile(wheel) as archive:
        read = lambda name: archive.read(_RAW + name).decode("utf-8-sig")  # noqa: E731
        templates = [t.strip() for t in read("templates.txt").splitlines() if "{{" in t]
        people = list(csv.DictReader(io.StringIO(read("FakeNameGenerator.com_3000.csv"))))
        orgs = list(csv.DictReader(io.StringIO(read("companies_and_organizations.csv"))))
    templates = templates[split == "test" :: 2]
    org_names = [next(iter(row.values())) for row in orgs if next(iter(row.values()))]
    rng = random.Random(seed)
    fake = Faker("en_US")
    fake.seed_instance(seed)
    docs = []
    for i in range(n):
        person = rng.choice(people)
        street = person["StreetAddress"]
        number, _, street_name = street.partition(" ")
        gendered_first = person["GivenName"]
        value = {
            "person": f"{person['GivenName']} {person['Surname']}",
            "name": f"{person['GivenName']} {person['Surname']}",
            "first_name": gendered_first,
            "last_name": person["Surname"],
            "address": f"{street}, {person['City']}, {person['State']} {person['ZipCode']}",
            "city": person["City"],
            "country": person["CountryFull"],
            "street_name": street_name if number.isdigit() else street,
            "building_number": number if number.isdigit() else fake.building_number(),
            "secondary_address": fake.secondary_address(),
            "postcode": person["ZipCode"],
            "zipcode": person["ZipCode"],
            "state_abbr": person["State"],
            "date_time": fake.date_time(end_datetime=LATEST_DATE).strftime("%B %d, %Y %H:%M"),
            "date_of_birth": person["Birthday"],
            "day_of_week": fake.date("%A", end_datetime=LATEST_DATE),
            "year": str(fake.date_time(end_datetime=LATEST_DATE).year),
            "organization": rng.choice(org_names),
            "phone_number": f"+{person['TelephoneCountryCode']} {person['TelephoneNumber']}"
            if rng.random() < 0.5
            else person["TelephoneNumber"],
            "email": person["EmailAddress"],
            "credit_card_number": fake.credit_card_number(),
            "us_driver_license": fake.bothify("?#######").upper(),
            "url": fake.url(),
            "iban": fake.iban(),
            "ssn": fake.ssn(),
            "ip_address": fake.ipv4(),
            "age": person["Age"],
            "job": person["Occupation"],
            "nationality": fake.country(),
            "nation_woman": fake.country(),
            "nation_plural": fake.country(),
            "prefix": person["Title"],
            "prefix_male": "Mr.",
            "prefix_female": "Ms.",
        }
        for key in ("name_female", "name_male"):
            value[key] = value["person"]
        for key in ("first_name_male", "first_name_female", "first_name_nonbinary"):
            value[key] = gendered_first
        for key in ("last_name_male", "last_name_female"):
            value[key] = person["Surname"]
        template = templates[i % len(templates)]
        parts, spans, length, cursor = [], [], 0, 0
        for match in re.finditer(r"\{\{(\w+)\}\}", template):
            literal = template[cursor : match.start()]
            parts.append(literal)
            length += len(literal)
            filled = value.get(match.group(1), match.group(1))
            if match.group(1) in _PE_TYPES:
                spans.append(Span(length, length + len(filled), _PE_TYPES[match.group(1)]))
            parts.append(filled)
            length += len(filled)
            cursor = match.end()
        parts.append(template[cursor:])
        docs.append(LabelledText("".join(parts), tuple(spans)))
    return docs
