"""The report's glossary: every metric and term it uses, in plain words."""

from __future__ import annotations

from raikit.reports._format import METRIC_HELP, metric_label, metric_short_label

# Metrics measured outside the group tables, and the report's own vocabulary: every
# abbreviation, named method and symbol the templates print (tests/reports/test_glossary.py).
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
    "Representation ratio": "a group's share of the data divided by its share of the "
    "reference population: 1 is proportional, 0.5 means half as many as the population would "
    "give; below the policy's min_representation_ratio (0.8 by default) the group is "
    "under-represented",
    "Reference population (reference share)": "the population the data should represent, as "
    "the shares of its groups in a file the auditor gives (e.g. a census), with its source",
    "Base rate": "share of a group's rows that carry the positive label, before any model",
    "Pearson chi-square test": "goodness-of-fit test of group counts against the reference "
    "shares; its p-value is accurate when every expected count is at least 5 (Cochran's rule)",
    "Exact multinomial test": "goodness-of-fit test for small expected counts: the chance, "
    "under the reference shares, of counts no likelier than those seen; raikit estimates it "
    "from seeded random draws",
    "Small group": "group with too few rows for its figures to support any conclusion",
    "Differential privacy (DP; ε, δ)": "a guarantee that the trained model reveals little "
    "about any one person in the training data; ε is its privacy budget (see Epsilon), δ the "
    "small chance that the guarantee fails (well below one over the number of training rows)",
    "Epsilon (ε), privacy budget": "in the privacy section: how much a model trained with "
    "differential privacy may reveal about any one person; smaller is stronger (about 1 is "
    "strong, above 10 promises little). It is not the attack radius of the robustness section",
    "Epsilon (ε), attack radius": "in the robustness section: how far an adversarial attack "
    "may move each input, in the units that section states; larger means a stronger attack. It "
    "is not the privacy budget of differential privacy",
    "Empirical ε lower bound": "the privacy budget ε the attacks prove at least: with the "
    "stated confidence, no training with a smaller ε lets attacks succeed this well. It can "
    "refute a claimed guarantee; it gives none",
    "One-run lower bound": "the privacy budget ε proven at least by the training run itself: "
    "random canaries, each trained on with probability 1/2, are guessed in or out from the "
    "final model (Steinke, Nasr and Jagielski 2023). Above the claimed ε, the guarantee does "
    "not hold; it needs enough canaries to say anything about a large ε",
    "Noise multiplier σ, sampling rate q, clipping norm C": "settings of differentially "
    "private training (DP-SGD): each step uses a random sample of rows, each drawn with "
    "probability q, clips each row's gradient to length C and adds Gaussian noise of σ × C; "
    "more noise or fewer steps give a smaller ε",
    "Accountant": "the method (PRV or RDP) that adds up the privacy cost of every training step "
    "into one ε",
    "Membership-inference AUC": "how well an attacker can tell whether a person was in the "
    "training data (0.5 is no better than guessing)",
    "LiRA (likelihood-ratio attack)": "membership-inference attack (Carlini et al. 2022) "
    "that compares the model's confidence on a row with that of shadow models trained with "
    "(online) and without (offline) the row",
    "RMIA (robust membership-inference attack)": "membership-inference attack (Zarifzadeh, "
    "Liu and Shokri 2024) that compares how much more the model trusts a row than shadow models "
    "trained without it with the same ratio for rows nobody trained on",
    "Secret exposure": "how far a random secret written into the training text (a canary) "
    "ranks above every other fill of its format by the model's loss, in bits: log2 of the "
    "number of fills minus log2 of the secret's rank (Carlini et al. 2019); 0 is no better "
    "than chance",
    "Shadow model": "a copy of the model trained the same way on a random half of the data, so "
    "an attack learns how the model behaves on rows it did and did not see",
    "TP, FP (true and false positives)": "for an attack: members it flags correctly (TP) and "
    "non-members it flags wrongly (FP)",
    "Clopper–Pearson interval": "exact confidence interval for a rate from its counts; "
    "conservative, and valid even with no or very few events",
    "Hanley–McNeil interval": "confidence interval for a ROC AUC from its standard error "
    "(Hanley and McNeil 1982)",
    "Bonferroni correction": "widening each of many intervals so that all of them hold together "
    "with the stated confidence",
    "PGD (projected gradient descent)": "adversarial attack that takes several small gradient "
    "steps to find the change of an input, within the attack radius ε, that most likely flips "
    "the decision; the standard strong attack",
    "FGSM (fast gradient sign method)": "one-step adversarial attack: moves every input "
    "coordinate by ε in the direction that most increases the model's error; weaker than PGD",
    "L∞, L2 (attack norms)": "how the size of an attack's change is measured: L∞ limits the "
    "change of each coordinate to ε, L2 the length of the whole change",
    "Robust accuracy": "accuracy when every row may be changed by the attacks up to the radius "
    "ε: a row counts only if no attack flipped its decision",
    "Flip rate": "share of decisions that change when something that should not matter "
    "changes: only the row's group (counterfactual test), an identity word in a text, or a "
    "small seeded perturbation",
    "Subgroup AUC, BPSN AUC, BNSP AUC": "unintended-bias AUCs (Borkan et al. 2019) per "
    "identity group: subgroup AUC separates the classes within the group; BPSN (background "
    "positive, subgroup negative) pits the group's negatives against the other rows' positives, "
    "BNSP (background negative, subgroup positive) its positives against the others' negatives; "
    "low values mean the group's rows score too high (BPSN) or too low (BNSP)",
    "Integrated Gradients (IG)": "explanation method that attributes a prediction to the inputs "
    "by summing the model's gradients on a straight path from a baseline input to the row",
    "Attribution": "how much an input pushed the model's score for a row, from the baseline",
    "Convergence delta": "how far a row's attributions miss adding up to the change of the "
    "model's score from the baseline; small is good",
    "Infidelity": "explanation quality: how badly the attributions predict the change of the "
    "model's output under small perturbations of the input (Yeh et al. 2019); 0 is perfect",
    "Sensitivity (max)": "explanation quality: the largest change of the attributions when the "
    "input moves slightly; large means a fragile explanation",
    "Deletion test": "explanation quality: removing the most attributed inputs first should "
    "lower the model's confidence faster than removing them in random order",
    "Proxy": "an input that carries much of a sensitive attribute (a postcode for ethnicity), so "
    "a model can rely on the attribute without reading it",
    "AMI (adjusted mutual information)": "how much one column tells about another, corrected "
    "for chance: 0 nothing, 1 one determines the other; used to find proxies",
    "Pareto front": "the models no other model beats on both accuracy and the target disparity: "
    "the real choices in a trade-off",
    "Degenerate model": "a model that predicts one class for (nearly) every row; its decisions "
    "show no disparity and resist every attack, so its good fairness and robustness figures "
    "mean nothing",
    "NLP model": "the language model presidio uses to find names, places and other PII in text",
    "SHA-256": "a file's fingerprint: any change to the file changes it, so the evidence names "
    "exactly the data and model audited",
    "PII": "personally identifiable information: names, addresses, ID numbers and the like",
    "k-anonymity, l-diversity": "on the quasi-identifiers (age, postcode and the like): every "
    "combination of their values is shared by at least k rows, and those rows hold at least "
    "l distinct values of a sensitive column, so knowing someone's quasi-identifiers neither "
    "singles out their row nor reveals the sensitive value",
    "Mondrian generalisation": "de-identification that splits the rows, again and again, on "
    "one quasi-identifier at its median while every part keeps k rows (LeFevre et al. 2006), "
    "then shows each part's range (ages [30, 39], postcode 123*, month or year) instead of the "
    "values",
    "Information loss (NCP)": "normalised certainty penalty: per value, how much of the "
    "column's range or categories its generalised value covers, averaged; 0 keeps every value, "
    "1 keeps nothing",
    "Likelihood x severity": "risk score on a 5 x 5 matrix: 1-6 low, 8-12 medium, 15-25 high",
    "Measured": "a raikit assessment computed this concern from the model and data",
    "Assessed": "the team's impact assessment (impact.yaml) addresses this concern, without "
    "a measurement",
    "Not assessed": "neither a measurement nor the impact assessment covers this concern",
    "EU AI Act risk tier": "high-risk systems (Annex III areas such as employment, credit or "
    "justice) must meet Articles 9-15 before use",
    "NIST AI RMF": "the US NIST AI Risk Management Framework: Govern, Map, Measure and Manage",
    "Slice": "a subgroup defined by up to three conditions such as sex=Female & age=55-64, "
    "over the sensitive and other descriptive columns, found by searching all of them",
    "False discovery rate (FDR)": "expected share of wrongly reported findings among all "
    "reported ones; keeping it at 0.05 over thousands of slices tested is what makes a "
    "reported slice credible",
    "Benjamini–Hochberg (BH), Benjamini–Yekutieli (BY)": "procedures that keep the false "
    "discovery rate at a chosen level when many slices are tested; BY also holds under any "
    "dependence between the tests and reports fewer slices",
    "P-value, q-value": "p-value: the chance of a difference at least this large if only chance "
    "were at work (the data a random sample of the reference population; the slice treated "
    "like the rest); small means the difference is not chance, not that it is large. q-value: "
    "the p-value adjusted for the number of slices tested, compared with the false discovery "
    "rate",
    "Support bound": "the smallest p-value a slice of its size could reach; slices that "
    "cannot reach the level are not tested, so they do not dilute the others",
    "Fisher's exact test": "test of whether a slice's rate is higher than the rest's from the "
    "exact counts, valid for small slices",
    "Welch's z test": "test of whether a slice's mean error is higher than the rest's, "
    "allowing each its own spread",
    "Newcombe interval": "confidence interval for the difference of two rates built from "
    "their Wilson intervals (Newcombe 1998); honest for small slices and rare errors",
    "Folded slice": "a narrower slice no worse than the rest of a reported slice it "
    "refines: it repeats that slice and is counted in it rather than listed",
    "Policy gate": "automatic pass/fail check of the evidence against the thresholds in "
    "policy.yaml, for CI",
}


def glossary() -> list[tuple[str, str]]:
    """(term, meaning) pairs, sorted: the terms above, every group metric and disparity."""
    entries = dict(TERMS)
    for name, meaning in METRIC_HELP.items():
        label, short = metric_label(name), metric_short_label(name)
        entries.setdefault(label if short == label else f"{label} ({short})", meaning)
    return sorted(entries.items(), key=lambda item: item[0].lower())
