"""The steps of the robustness audit: counterfactual, bias AUC, perturbation and attack runs.

Private to :mod:`raikit.audit.robustness`, which validates the settings and assembles the result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from raikit.audit.robustness._adversarial import ATTACKS, TEXT_KINDS
from raikit.audit.robustness._decisions import score
from raikit.audit.robustness._perturbation import PERTURBATIONS, PerturbContext
from raikit.audit.robustness.result import (
    AdversarialPoint,
    AdversarialResult,
    BiasAuc,
    GroupValue,
    PerturbationPoint,
    TabularCounterfactual,
)
from raikit.audit.stats import wilson_interval
from raikit.audit.types import Finding, Interval
from raikit.models.errors import DataError

if TYPE_CHECKING:
    from raikit.audit.groups import Grouping
    from raikit.audit.robustness import RobustnessConfig

CONCERN = "security"
# Radii swept when none are given, per input kind (see audit._adversarial for the units).
DEFAULT_EPSILONS: dict[str, tuple[float, ...]] = {
    "tabular": (0.0, 0.05, 0.1, 0.25, 0.5),
    "sequence": (0.0, 0.05, 0.1, 0.25, 0.5),
    "image": (0.0, 0.01, 0.02, 0.05, 0.1),
    "words": (0.0, 0.1, 0.25, 0.5, 1.0),
    "hf-tokenizer": (0.0, 0.1, 0.25, 0.5, 1.0),
}
# A group whose figure is this much worse than the whole is called out.
GROUP_GAP_WARNING = 0.1

_SPACES = {
    "tabular": "encoded inputs (standardised numeric columns and one-hot categories), "
    "unclipped: epsilon is in standard deviations and one-hot units, and a perturbed row "
    "need not be a valid row",
    "sequence": "standardised time steps, unclipped",
    "image": "pixel space, scaled as the model reads it and clipped to the valid range",
    "words": "token-embedding space (padding excluded); epsilon in RMS embedding coordinates",
    "hf-tokenizer": "token-embedding space (padding excluded); epsilon in RMS embedding "
    "coordinates",
}


def finding(severity: str, code: str, message: str) -> Finding:
    return Finding(concern=CONCERN, severity=severity, code=code, message=message)


def sample_rows_seeded(frame: pd.DataFrame, limit: int, seed: int) -> pd.DataFrame:
    if len(frame) <= limit:
        return frame.reset_index(drop=True)
    rows = np.sort(np.random.default_rng(seed).choice(len(frame), size=limit, replace=False))
    return frame.iloc[rows].reset_index(drop=True)


def targets(frame: pd.DataFrame, label: str | None, classes: list[str]) -> np.ndarray | None:
    """Class index of every row's label, or None without labels."""
    from raikit.models.schema import label_text

    if label is None:
        return None
    labels = frame[label].map(label_text)
    unknown = sorted(set(labels.unique()) - set(classes))
    if unknown:
        raise DataError(
            f"label '{label}' holds value(s) {unknown[:5]} the model never learned "
            f"(its classes: {classes})"
        )
    return labels.map({name: i for i, name in enumerate(classes)}).to_numpy(dtype=np.int64)


def group_values(
    frame: pd.DataFrame, grouping: Grouping, ok: np.ndarray, config: RobustnessConfig
) -> list[GroupValue]:
    """Share of ``ok`` rows in every group of every sensitive column (Wilson intervals)."""
    values = []
    for attribute in grouping.attributes(frame):
        for group, rows in attribute.rows_by_group():
            successes, n = int(ok[rows].sum()), len(rows)
            low, high = wilson_interval(successes, n, config.confidence_level)
            values.append(
                GroupValue(
                    attribute=attribute.name,
                    group=group,
                    n=n,
                    value=Interval(value=successes / n, lower=low, upper=high),
                    small=n < config.min_group_size,
                )
            )
    return values


def brittle_groups(
    points: list[tuple[str, float, list[GroupValue]]], higher_is_worse: bool, what: str
) -> list[Finding]:
    """A warning for each group whose figure is far worse than the whole's, at its worst."""
    worst: dict[tuple[str, str], tuple[float, str]] = {}
    for label, overall, groups in points:
        for group in groups:
            if group.small or group.value.value is None:
                continue
            gap = (group.value.value - overall) * (1 if higher_is_worse else -1)
            key = (group.attribute, group.group)
            if gap >= GROUP_GAP_WARNING and gap > worst.get(key, (0.0, ""))[0]:
                worst[key] = (gap, label)
    return [
        finding(
            "warning",
            "brittle_group",
            f"{what} of {attribute} = {group} is {gap:.2f} worse than for all rows "
            f"({label}): robust on average but brittle for this group",
        )
        for (attribute, group), (gap, label) in sorted(worst.items())
    ]


def tabular_counterfactuals(
    predictor, frame, config, features, original, rng, grouping
) -> tuple[list[TabularCounterfactual], list[Finding], list[str]]:
    from raikit.audit.proxies import rank_proxies, strong_proxies
    from raikit.audit.robustness._counterfactual import tabular_counterfactual

    results, findings, used = [], [], []
    settings = {
        "features": features,
        "threshold": config.threshold,
        "n_bootstrap": config.n_bootstrap,
        "confidence_level": config.confidence_level,
        "min_group_size": config.min_group_size,
        "rng": rng,
        "original": original,
    }
    candidates = [f for f in features if f not in config.sensitive]
    for groups in grouping.attributes(frame):
        attribute = groups.name
        results.append(tabular_counterfactual(predictor, frame, groups, **settings))
        if attribute not in features:
            findings.append(
                finding(
                    "info",
                    "attribute_not_an_input",
                    f"the model does not read '{attribute}': changing it alone cannot change "
                    "a decision; the test with its proxies is the one that counts",
                )
            )
        if config.proxies is not None:
            chosen = [p for p in config.proxies if p in frame.columns and p != attribute]
            proxies = [p for p in rank_proxies(frame, attribute, chosen) if p.feature in chosen]
        else:
            proxies = strong_proxies(frame, attribute, candidates)
        if proxies:
            used.extend(p.feature for p in proxies)
            results.append(
                tabular_counterfactual(predictor, frame, groups, proxies=proxies, **settings)
            )
        else:
            findings.append(
                finding(
                    "info",
                    "no_proxies",
                    f"no strong proxy of '{attribute}' was found among the model's inputs",
                )
            )
    return results, findings, sorted(set(used))


def text_counterfactuals(predictor, frame, text_column, lexicon, config, original, rng):
    from raikit.audit.robustness._counterfactual import text_counterfactual
    from raikit.audit.robustness._lexicon import template_sentences

    settings = {
        "threshold": config.threshold,
        "n_bootstrap": config.n_bootstrap,
        "confidence_level": config.confidence_level,
        "min_group_size": config.min_group_size,
        "rng": rng,
    }
    results = [
        text_counterfactual(
            predictor, frame, text_column, lexicon, source="data", original=original, **settings
        )
    ]
    sentences = template_sentences(lexicon, config.templates_per_set, config.seed)
    if sentences:
        templates = pd.DataFrame(
            {c: [frame[c].iloc[0]] * len(sentences) for c in frame.columns if c != text_column}
        )
        templates[text_column] = [s for _, s in sentences]
        results.append(
            text_counterfactual(
                predictor, templates, text_column, lexicon, source="templates", **settings
            )
        )
    return results


def bias_auc_table(frame, y_true, proba, grouping, text_column, lexicon) -> list[BiasAuc]:
    from raikit.audit.robustness._bias_auc import bias_aucs
    from raikit.audit.robustness._lexicon import terms_in

    labels = y_true == 1
    subgroups: list[tuple[str, str, np.ndarray]] = []
    for attribute in grouping.attributes(frame):
        for group, rows in attribute.rows_by_group():
            mask = np.zeros(len(frame), dtype=bool)
            mask[rows] = True
            subgroups.append((attribute.name, group, mask))
    if text_column is not None and lexicon is not None:
        mentions = [terms_in(t, lexicon) for t in frame[text_column].astype(str)]
        for term in sorted(set().union(*mentions)):
            mask = np.array([term in m for m in mentions])
            subgroups.append(("identity term", term, mask))
    out = []
    for attribute, group, mask in subgroups:
        figures = bias_aucs(labels, proba[:, 1], mask)
        out.append(
            BiasAuc(
                attribute=attribute,
                subgroup=group,
                n=int(mask.sum()),
                n_positive=int((labels & mask).sum()),
                **{k: (None if np.isnan(v) else v) for k, v in figures.items()},
            )
        )
    return out


def perturb_context(frame, model, kind, features, config, text_column) -> PerturbContext:
    if kind == "text":
        return PerturbContext(text=text_column)
    if kind == "image":
        pixels = features
        values = frame[pixels].to_numpy(dtype=np.float64)
        shape = tuple(model.inputs["shape"]) if model is not None else None
        return PerturbContext(
            pixels=pixels,
            image_shape=shape,
            pixel_range=(min(0.0, float(values.min())), float(values.max())),
        )
    usable = [f for f in features if f not in config.sensitive and f in frame.columns]
    numeric = [
        f
        for f in usable
        if pd.api.types.is_numeric_dtype(frame[f]) and not pd.api.types.is_bool_dtype(frame[f])
    ]
    if model is not None and model.input_kind == "tabular":
        declared = {c["name"] for c in model.inputs["preprocessor"]["numeric"]}
        numeric = [f for f in usable if f in declared]
    return PerturbContext(numeric=numeric, categorical=[f for f in usable if f not in numeric])


def perturbation_sweep(predictor, frame, y_true, names, context, config, rng, grouping):
    sample_rows = sample_rows_seeded(
        frame.assign(_row=np.arange(len(frame))), config.max_perturbation_rows, config.seed
    )
    rows = sample_rows.pop("_row").to_numpy()
    original = score(predictor, sample_rows, config.threshold)
    truth = y_true[rows] if y_true is not None else None
    points = []
    for name in names:
        perturbation = PERTURBATIONS[name]
        for strength in perturbation.strengths:
            changed = perturbation.apply(sample_rows, strength, rng, context)
            rescored = score(predictor, changed, config.threshold)
            kept = rescored.decision == original.decision
            flips = int((~kept).sum())
            low, high = wilson_interval(flips, len(kept), config.confidence_level)
            accuracy = perturbed = drop = None
            group_drops: list[GroupValue] = []
            if truth is not None:
                right, right_after = original.decision == truth, rescored.decision == truth
                accuracy, perturbed = float(right.mean()), float(right_after.mean())
                drop = accuracy - perturbed
                before = group_values(sample_rows, grouping, right, config)
                after = group_values(sample_rows, grouping, right_after, config)
                group_drops = [
                    g.model_copy(update={"value": Interval(value=g.value.value - a.value.value)})
                    for g, a in zip(before, after, strict=True)
                ]
            points.append(
                PerturbationPoint(
                    perturbation=name,
                    strength=strength,
                    n=len(kept),
                    accuracy=accuracy,
                    perturbed_accuracy=perturbed,
                    accuracy_drop=drop,
                    flip_rate=Interval(value=flips / len(kept), lower=low, upper=high),
                    group_flip_rates=group_values(sample_rows, grouping, ~kept, config),
                    group_accuracy_drops=group_drops,
                )
            )
    return points


def adversarial_sweep(
    model, frame, y_true, config, progress, grouping
) -> tuple[AdversarialResult, list[Finding]]:
    import torch

    from raikit.audit.robustness._adversarial import attack_sweep, robust_outcomes
    from raikit.models.loop import resolve_device

    numbered = frame.assign(_row=np.arange(len(frame)))
    sample = sample_rows_seeded(numbered, config.max_attack_rows, config.seed)
    rows = sample.pop("_row").to_numpy()
    tensors = model.encode(sample)
    kind = model.input_kind
    if y_true is not None:
        target, target_kind = y_true[rows], "labels"
    else:
        target, target_kind = model.logits(*tensors).argmax(dim=1).numpy(), "model decisions"
    epsilons = list(config.epsilons or DEFAULT_EPSILONS.get(kind, DEFAULT_EPSILONS["tabular"]))
    clip, scale, unit = None, 1.0, "per coordinate of the encoded input"
    if kind == "image":
        clip = (min(0.0, float(tensors[0].min())), max(1.0, float(tensors[0].max())))
        unit = "per pixel, on the scale the model reads (pixel / training maximum)"
    elif kind in TEXT_KINDS:
        with torch.no_grad():
            scale = float(model.embedding_layer().weight.pow(2).mean().sqrt())
        unit = f"RMS embedding coordinates (1 = {scale:.4g})"
    device = resolve_device(config.device)
    outcomes = attack_sweep(
        model,
        tensors,
        np.asarray(target, dtype=np.int64),
        attacks=config.attacks,
        epsilons=epsilons,
        steps=config.pgd_steps,
        batch_size=config.batch_size,
        clip=clip,
        epsilon_scale=scale,
        device=device,
        progress=progress,
    )
    robust = robust_outcomes(outcomes, config.attacks)
    points, curves = [], []
    for attack in config.attacks:
        for index, epsilon in enumerate(epsilons):
            kept = robust[attack][index]
            low, high = wilson_interval(int(kept.sum()), len(kept), config.confidence_level)
            groups = group_values(sample, grouping, kept, config)
            points.append(
                AdversarialPoint(
                    attack=attack,
                    norm=ATTACKS[attack],
                    epsilon=epsilon,
                    robust_accuracy=Interval(value=kept.mean(), lower=low, upper=high),
                    groups=groups,
                )
            )
            curves.append((f"{attack} at epsilon {epsilon:g}", float(kept.mean()), groups))
    result = AdversarialResult(
        input_kind=kind,
        space=_SPACES.get(kind, "model inputs"),
        epsilon_unit=unit,
        clip=list(clip) if clip is not None else None,
        n_rows=len(sample),
        target=target_kind,
        steps=config.pgd_steps,
        step_size="2.5 x radius / steps (FGSM: one step of the full radius)",
        device=device,
        clean_accuracy=float(outcomes["clean"].mean()),
        points=points,
    )
    return result, brittle_groups(curves, higher_is_worse=False, what="robust accuracy")
