"""Robustness and security: counterfactual fairness, perturbation tests and adversarial attacks.

Public surface: :class:`RobustnessConfig`, :func:`assess_robustness` (the verb) and
:class:`RobustnessResult`. Three families of tests, each booked per group of every sensitive
column, because a model that is robust on average but brittle on one group is a fairness
finding:

1. Counterfactual fairness (:mod:`audit._counterfactual`): does the decision change when only
   the protected attribute changes (tabular: the column, alone and with its strongest
   proxies; text: identity terms of the shipped lexicon, on the user's texts and on
   templated sentences)? With binary labels, the subgroup, BPSN and BNSP AUCs of Borkan et
   al. 2019 (:mod:`audit._bias_auc`).
2. Perturbation robustness (:mod:`audit._perturbation`): seeded metamorphic changes that
   should not change a decision, by strength.
3. Adversarial robustness (:mod:`audit._adversarial`): FGSM and PGD (L-infinity, L2) over a
   radius sweep for torch models; tabular models in their encoded input space, images in
   pixel space clipped to the valid range, text models in embedding space.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from audit._adversarial import ATTACKS, TEXT_KINDS
from audit._decisions import Scored, score, wilson
from audit._perturbation import PERTURBATIONS, PerturbContext, perturbation_kind
from audit._robustness_types import (
    AdversarialPoint,
    AdversarialResult,
    BiasAuc,
    GroupValue,
    PerturbationPoint,
    RobustnessResult,
    RobustnessSettings,
    TabularCounterfactual,
    TextCounterfactual,
)
from audit._types import Finding, Interval
from models.errors import ConfigError, DataError, close_matches_hint

__all__ = ["DEFAULT_EPSILONS", "RobustnessConfig", "RobustnessResult", "assess_robustness"]

CONCERN = "security"
# Radii swept when none are given, per input kind (see audit._adversarial for the units).
DEFAULT_EPSILONS: dict[str, tuple[float, ...]] = {
    "tabular": (0.0, 0.05, 0.1, 0.25, 0.5),
    "sequence": (0.0, 0.05, 0.1, 0.25, 0.5),
    "image": (0.0, 0.01, 0.02, 0.05, 0.1),
    "words": (0.0, 0.1, 0.25, 0.5, 1.0),
    "hf-tokenizer": (0.0, 0.1, 0.25, 0.5, 1.0),
}
# A counterfactual flip rate above this is worth a warning (the example gate of the docs).
FLIP_RATE_WARNING = 0.02
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


@dataclass(frozen=True)
class RobustnessConfig:
    """What the robustness audit runs and with which settings.

    ``epsilons``: radii of the sweep (``None``: :data:`DEFAULT_EPSILONS` for the model's
    input kind); ``perturbations``: names from :data:`audit._perturbation.PERTURBATIONS`
    (``None``: every one for the input kind); ``lexicon``: a lexicon YAML file (``None``:
    the shipped one); ``proxies``: columns changed alongside the attribute (``None``: the
    strong proxies :func:`audit.proxies.strong_proxies` finds); ``text``: the text column
    of a model that is not a raikit checkpoint.
    """

    sensitive: tuple[str, ...] = ()
    label: str | None = None
    text: str | None = None
    epsilons: tuple[float, ...] | None = None
    attacks: tuple[str, ...] = ("fgsm", "pgd_linf", "pgd_l2")
    pgd_steps: int = 10
    perturbations: tuple[str, ...] | None = None
    lexicon: str | None = None
    templates_per_set: int = 2
    proxies: tuple[str, ...] | None = None
    threshold: float = 0.5
    seed: int = 0
    n_bootstrap: int = 1000
    confidence_level: float = 0.95
    min_group_size: int = 30
    max_attack_rows: int = 1000
    max_perturbation_rows: int = 5000
    batch_size: int = 256
    device: str = "auto"

    def __post_init__(self) -> None:
        for epsilon in self.epsilons or ():
            if not np.isfinite(epsilon) or epsilon < 0:
                raise ConfigError(f"epsilon must be a number >= 0; got {epsilon}")
        for attack in self.attacks:
            if attack not in ATTACKS:
                hint = close_matches_hint(attack, ATTACKS)
                raise ConfigError(
                    f"unknown attack '{attack}'{hint} (known: {', '.join(ATTACKS)})"
                )
        for name in self.perturbations or ():
            if name not in PERTURBATIONS:
                hint = close_matches_hint(name, PERTURBATIONS)
                raise ConfigError(
                    f"unknown perturbation '{name}'{hint} (known: {', '.join(PERTURBATIONS)})"
                )
        if self.pgd_steps < 1:
            raise ConfigError(f"pgd_steps must be at least 1; got {self.pgd_steps}")
        if not 0 < self.threshold < 1:
            raise ConfigError(f"threshold must be between 0 and 1; got {self.threshold}")
        if not 0.5 <= self.confidence_level < 1:
            raise ConfigError(f"confidence level must be in [0.5, 1); got {self.confidence_level}")
        if self.n_bootstrap < 100:
            raise ConfigError(f"n_bootstrap must be at least 100; got {self.n_bootstrap}")
        for name in ("max_attack_rows", "max_perturbation_rows", "batch_size", "min_group_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1; got {getattr(self, name)}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"device must be auto, cpu or cuda; got '{self.device}'")


def _finding(severity: str, code: str, message: str) -> Finding:
    return Finding(concern=CONCERN, severity=severity, code=code, message=message)


def _sample(frame: pd.DataFrame, limit: int, seed: int) -> pd.DataFrame:
    if len(frame) <= limit:
        return frame.reset_index(drop=True)
    rows = np.sort(np.random.default_rng(seed).choice(len(frame), size=limit, replace=False))
    return frame.iloc[rows].reset_index(drop=True)


def _targets(frame: pd.DataFrame, label: str | None, classes: list[str]) -> np.ndarray | None:
    """Class index of every row's label, or None without labels."""
    from models.schema import label_text

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


def _group_values(
    frame: pd.DataFrame, sensitive: tuple[str, ...], ok: np.ndarray, config: RobustnessConfig
) -> list[GroupValue]:
    """Share of ``ok`` rows in every group of every sensitive column (Wilson intervals)."""
    values = []
    for attribute in sensitive:
        for group, rows in frame.groupby(attribute, sort=True).indices.items():
            successes, n = int(ok[rows].sum()), len(rows)
            low, high = wilson(successes, n, config.confidence_level)
            values.append(
                GroupValue(
                    attribute=attribute,
                    group=str(group),
                    n=n,
                    value=Interval(value=successes / n, lower=low, upper=high),
                    small=n < config.min_group_size,
                )
            )
    return values


def _brittle_groups(
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
        _finding(
            "warning",
            "brittle_group",
            f"{what} of {attribute} = {group} is {gap:.2f} worse than for all rows "
            f"({label}): robust on average but brittle for this group",
        )
        for (attribute, group), (gap, label) in sorted(worst.items())
    ]


def _tabular_counterfactuals(
    predictor, frame, config, features, original, rng
) -> tuple[list[TabularCounterfactual], list[Finding], list[str]]:
    from audit._counterfactual import tabular_counterfactual
    from audit.proxies import rank_proxies, strong_proxies

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
    for attribute in config.sensitive:
        results.append(tabular_counterfactual(predictor, frame, attribute, **settings))
        if attribute not in features:
            findings.append(
                _finding(
                    "info",
                    "attribute_not_an_input",
                    f"the model does not read '{attribute}': changing it alone cannot change "
                    "a decision; the test with its proxies is the one that counts",
                )
            )
        if config.proxies is not None:
            chosen = [p for p in config.proxies if p in frame.columns and p != attribute]
            proxies = [
                p for p in rank_proxies(frame, attribute, chosen) if p.feature in chosen
            ]
        else:
            proxies = strong_proxies(frame, attribute, candidates)
        if proxies:
            used.extend(p.feature for p in proxies)
            results.append(
                tabular_counterfactual(predictor, frame, attribute, proxies=proxies, **settings)
            )
        else:
            findings.append(
                _finding(
                    "info",
                    "no_proxies",
                    f"no strong proxy of '{attribute}' was found among the model's inputs",
                )
            )
    return results, findings, sorted(set(used))


def _text_counterfactuals(predictor, frame, text_column, lexicon, config, original, rng):
    from audit._counterfactual import text_counterfactual
    from audit._lexicon import template_sentences

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


def _bias_aucs(frame, y_true, proba, config, text_column, lexicon) -> list[BiasAuc]:
    from audit._bias_auc import bias_aucs
    from audit._lexicon import terms_in

    labels = y_true == 1
    subgroups: list[tuple[str, str, np.ndarray]] = []
    for attribute in config.sensitive:
        for group, rows in frame.groupby(attribute, sort=True).indices.items():
            mask = np.zeros(len(frame), dtype=bool)
            mask[rows] = True
            subgroups.append((attribute, str(group), mask))
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


def _perturb_context(frame, model, kind, features, config, text_column) -> PerturbContext:
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


def _perturbations(predictor, frame, y_true, names, context, config, rng):
    sample_rows = _sample(frame.assign(_row=np.arange(len(frame))), config.max_perturbation_rows, config.seed)
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
            low, high = wilson(flips, len(kept), config.confidence_level)
            accuracy = perturbed = drop = None
            group_drops: list[GroupValue] = []
            if truth is not None:
                right, right_after = original.decision == truth, rescored.decision == truth
                accuracy, perturbed = float(right.mean()), float(right_after.mean())
                drop = accuracy - perturbed
                before = _group_values(sample_rows, config.sensitive, right, config)
                after = _group_values(sample_rows, config.sensitive, right_after, config)
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
                    group_flip_rates=_group_values(sample_rows, config.sensitive, ~kept, config),
                    group_accuracy_drops=group_drops,
                )
            )
    return points


def _adversarial(model, frame, y_true, config, progress) -> tuple[AdversarialResult, list[Finding]]:
    import torch

    from audit._adversarial import attack_sweep, resolve_device, robust_outcomes

    sample = _sample(frame.assign(_row=np.arange(len(frame))), config.max_attack_rows, config.seed)
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
            low, high = wilson(int(kept.sum()), len(kept), config.confidence_level)
            groups = _group_values(sample, config.sensitive, kept, config)
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
        step_size="2.5 x radius / steps (PGD); the full radius (FGSM)",
        device=device,
        clean_accuracy=float(outcomes["clean"].mean()),
        points=points,
    )
    return result, _brittle_groups(curves, higher_is_worse=False, what="robust accuracy")


def assess_robustness(
    predictor,
    frame: pd.DataFrame,
    config: RobustnessConfig,
    *,
    progress: bool = False,
) -> RobustnessResult:
    """Measure counterfactual, perturbation and adversarial robustness, per group.

    Parameters
    ----------
    predictor : Predictor
        The model; adversarial attacks need a torch module behind it
        (:func:`audit.torch_model.torch_model`), the other tests only ``predict_proba``.
    frame : pandas.DataFrame
        The audited rows: the model's inputs, the sensitive columns and (optionally) the label.
    config : RobustnessConfig
        What to run; every setting is recorded in the result.
    progress : bool
        Show a progress bar on stderr during the attacks.

    Returns
    -------
    RobustnessResult
        Every figure with its settings; what could not run is a finding.

    Examples
    --------
    >>> result = assess_robustness(load_predictor("model"), load_table("arrests").frame,
    ...     RobustnessConfig(sensitive=("colour",), label="released"))  # doctest: +SKIP
    >>> result.max_counterfactual_flip_rate()  # doctest: +SKIP
    """
    from audit._lexicon import load_lexicon
    from audit.torch_model import torch_model

    missing = [c for c in (*config.sensitive, config.label) if c and c not in frame.columns]
    if missing:
        hint = close_matches_hint(missing[0], frame.columns)
        raise DataError(f"column '{missing[0]}' not found in the data{hint}")
    frame = frame.reset_index(drop=True)
    model = torch_model(predictor)
    text_column = config.text
    if model is not None:
        input_kind = model.input_kind
        features = model.feature_columns
        if input_kind in TEXT_KINDS:
            text_column = model.inputs["text"]
    else:
        input_kind = "words" if text_column else "tabular"
        features = [c for c in frame.columns if c != config.label]
    kind = perturbation_kind(input_kind)
    if text_column is not None and text_column not in frame.columns:
        raise DataError(f"text column '{text_column}' not found in the data")
    names = list(config.perturbations or [n for n, p in PERTURBATIONS.items() if p.kind == kind])
    wrong = [n for n in names if PERTURBATIONS[n].kind != kind]
    if wrong:
        raise ConfigError(
            f"perturbation '{wrong[0]}' applies to {PERTURBATIONS[wrong[0]].kind} inputs; "
            f"this model reads {kind} inputs"
        )
    lexicon = load_lexicon(config.lexicon) if kind == "text" else None
    rng = np.random.default_rng(config.seed)
    classes = list(predictor.classes)
    y_true = _targets(frame, config.label, classes)
    original: Scored = score(predictor, frame, config.threshold)
    findings: list[Finding] = []

    counterfactual, text_results, used_proxies = [], [], None
    if kind == "tabular":
        counterfactual, found, used_proxies = _tabular_counterfactuals(
            predictor, frame, config, features, original, rng
        )
        findings.extend(found)
    elif kind == "text":
        text_results = _text_counterfactuals(
            predictor, frame, text_column, lexicon, config, original, rng
        )
    for item in counterfactual:
        for stat in [item.overall, *item.groups]:
            rate = stat.flip_rate.value
            if rate is not None and rate > FLIP_RATE_WARNING and not stat.small:
                variant = "with its proxies" if item.proxies else "alone"
                findings.append(
                    _finding(
                        "warning",
                        "counterfactual_flips",
                        f"changing '{item.attribute}' {variant} flips {rate:.1%} of decisions "
                        f"({stat.name})",
                    )
                )
    for item in text_results:
        rate = item.overall.flip_rate.value
        if rate is not None and rate > FLIP_RATE_WARNING:
            findings.append(
                _finding(
                    "warning",
                    "counterfactual_flips",
                    f"swapping identity terms flips {rate:.1%} of decisions ({item.source})",
                )
            )

    bias = []
    if y_true is not None and len(classes) == 2:
        bias = _bias_aucs(frame, y_true, original.proba, config, text_column, lexicon)

    context = _perturb_context(frame, model, kind, features, config, text_column)
    perturbations = _perturbations(predictor, frame, y_true, names, context, config, rng)
    findings.extend(
        _brittle_groups(
            [
                (f"{p.perturbation} at {p.strength:g}", p.flip_rate.value, p.group_flip_rates)
                for p in perturbations
            ],
            higher_is_worse=True,
            what="the perturbation flip rate",
        )
    )

    adversarial = None
    if model is None:
        findings.append(
            _finding(
                "info",
                "adversarial_not_run",
                "adversarial attacks need gradients: this model has no torch module behind it",
            )
        )
    elif config.attacks:
        adversarial, found = _adversarial(model, frame, y_true, config, progress)
        findings.extend(found)

    settings = RobustnessSettings(
        seed=config.seed,
        threshold=config.threshold,
        n_bootstrap=config.n_bootstrap,
        confidence_level=config.confidence_level,
        min_group_size=config.min_group_size,
        input_kind=input_kind,
        sensitive=list(config.sensitive),
        epsilons=sorted({p.epsilon for p in adversarial.points}) if adversarial else [],
        attacks=list(config.attacks) if adversarial else [],
        pgd_steps=config.pgd_steps,
        max_attack_rows=config.max_attack_rows,
        perturbations={n: list(PERTURBATIONS[n].strengths) for n in names},
        max_perturbation_rows=config.max_perturbation_rows,
        lexicon_name=lexicon.name if lexicon else None,
        lexicon_version=lexicon.version if lexicon else None,
        lexicon_source=(config.lexicon or "builtin:identity_lexicon.yaml") if lexicon else None,
        templates_per_set=config.templates_per_set if lexicon else 0,
        proxies=used_proxies,
    )
    return RobustnessResult(
        settings=settings,
        counterfactual=counterfactual,
        text_counterfactual=text_results,
        bias_aucs=bias,
        perturbations=perturbations,
        adversarial=adversarial,
        findings=findings,
    )
