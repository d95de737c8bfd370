"""The report's glossary: every metric and term it uses, in plain words."""

from __future__ import annotations

from raikit.reports._format import METRIC_HELP, METRIC_LABELS

# Metrics measured outside the group tables, and the report's own vocabulary.
TERMS: dict[str, str] = {
    "Accuracy": "share of predictions that are right",
    "Balanced accuracy": "average of the share of each class that is predicted right, so a "
    "rare class counts as much as a common one",
    "ROC AUC": "chance that the model scores a random positive case above a random negative "
    "one (0.5 is guessing, 1 is perfect)",
    "Precision": "share of positive predictions that are right",
    "Recall": "share of actual positives the model finds (the true positive rate)",
    "F1": "balance of precision and recall (their harmonic mean)",
    "Expected calibration error (ECE)": "average gap between the predicted probability and "
    "how often the outcome really happens, weighted by how many predictions fall in each bin",
    "Confidence interval": "range that would contain the true figure in 95% of repeated "
    "samples; wide intervals mean the data cannot pin the figure down",
    "Wilson interval": "confidence interval for a rate that stays sensible for small groups "
    "and rates near 0 or 1",
    "Bootstrap": "re-computing a figure on many resamples of the data to see how much it varies",
    "Small group": "group with too few rows for its figures to support any conclusion",
    "Differential privacy (epsilon, delta)": "a guarantee that the trained model reveals "
    "little about any one person in the training data; smaller epsilon is stronger, delta is "
    "the small chance the guarantee fails",
    "Membership-inference AUC": "how well an attacker can tell whether a person was in the "
    "training data (0.5 is no better than guessing)",
    "PII": "personally identifiable information: names, addresses, ID numbers and the like",
    "Likelihood x severity": "risk score on a 5 x 5 matrix: 1-6 low, 8-12 medium, 15-25 high",
    "Measured": "a raikit assessment computed this concern from the model and data",
    "Assessed": "the team's impact assessment (impact.yaml) addresses this concern, without "
    "a measurement",
    "Not assessed": "neither a measurement nor the impact assessment covers this concern",
    "EU AI Act risk tier": "high-risk systems (Annex III areas such as employment, credit or "
    "justice) must meet Articles 9-15 before use",
    "NIST AI RMF": "the US NIST AI Risk Management Framework: Govern, Map, Measure and Manage",
    "Policy gate": "automatic pass/fail check of the evidence against the thresholds in "
    "policy.yaml, for CI",
}


def glossary() -> list[tuple[str, str]]:
    """(term, meaning) pairs: every group metric and disparity, then the terms above, sorted."""
    entries = dict(TERMS)
    for name, meaning in METRIC_HELP.items():
        entries.setdefault(METRIC_LABELS.get(name, name), meaning)
    return sorted(entries.items(), key=lambda item: item[0].lower())
