"""Write the SYNTHETIC example files of the README: `python examples/make_examples.py`.

Everything is made up and seeded (numpy and raikit's Faker-based generator,
``raikit.audit.pii.synth``): no row describes a real person. The files are small and shipped,
so this script only needs re-running after a change to it.

- ``predictions.csv``: 600 decisions of an imaginary model (``y_true``, ``y_pred``, ``y_score``)
  and each person's ``gender``, for ``rai audit --predictions``.
- ``applicants.csv``: 150 imaginary applicants with planted personal data (name, e-mail,
  phone, a free-text note) and the quasi-identifiers ``age`` and ``zip`` beside a
  ``diagnosis``, for ``rai scan-pii``.
- ``tickets.jsonl``: 120 imaginary support tickets (field ``body``), about half of them with
  personal data, for ``rai scan-pii --corpus``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
from faker import Faker

from raikit.audit.pii.synth import generate_comments, generate_labelled_texts

HERE = Path(__file__).resolve().parent
SEED = 0
CLEAN_TICKETS = (
    "The app crashes when I open the settings page.",
    "Export to PDF has been slow since the last update.",
    "How do I change the language of the interface?",
    "The invoice total does not match the order.",
    "Thanks, the issue is solved and the ticket can be closed.",
    "Search returns no results for words with accents.",
)


def predictions(n: int = 600) -> pd.DataFrame:
    """Decisions of an imaginary scorer that favours men slightly at equal merit."""
    rng = np.random.default_rng(SEED)
    gender = rng.choice(["female", "male"], n)
    male = gender == "male"
    y_true = (rng.random(n) < np.where(male, 0.45, 0.35)).astype(int)
    logit = 1.6 * (2 * y_true - 1) + rng.normal(0.0, 1.0, n) + 0.3 * male
    y_score = np.round(1 / (1 + np.exp(-logit)), 3)
    y_pred = (y_score >= 0.5).astype(int)
    return pd.DataFrame({"y_true": y_true, "y_pred": y_pred, "y_score": y_score, "gender": gender})


def applicants(n: int = 150) -> pd.DataFrame:
    """Imaginary applicants: direct identifiers, quasi-identifiers and a sensitive column."""
    fake = Faker("en_US")
    fake.seed_instance(SEED)
    rng = random.Random(SEED)
    zips = [fake.zipcode() for _ in range(6)]
    diagnoses = ("asthma", "diabetes", "hypertension", "migraine", "none")
    return pd.DataFrame(
        {
            "name": [fake.name() for _ in range(n)],
            "email": [fake.email() for _ in range(n)],
            "phone": [fake.phone_number() for _ in range(n)],
            "age": [rng.randint(19, 70) for _ in range(n)],
            "zip": [rng.choice(zips) for _ in range(n)],
            "diagnosis": [rng.choice(diagnoses) for _ in range(n)],
            "note": generate_comments(n, seed=SEED + 1, pii_share=0.3),
        }
    )


def tickets(n: int = 120) -> list[dict]:
    """Imaginary support tickets; about half carry personal data."""
    rng = random.Random(SEED)
    planted = generate_labelled_texts(n, seed=SEED)
    return [
        {"id": i + 1, "body": doc.text if rng.random() < 0.5 else rng.choice(CLEAN_TICKETS)}
        for i, doc in enumerate(planted)
    ]


def main() -> None:
    predictions().to_csv(HERE / "predictions.csv", index=False)
    applicants().to_csv(HERE / "applicants.csv", index=False)
    lines = [json.dumps(ticket) for ticket in tickets()]
    (HERE / "tickets.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
