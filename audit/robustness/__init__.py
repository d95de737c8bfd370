"""Robustness and security: counterfactual fairness, perturbation tests and adversarial attacks.

Public surface: :class:`RobustnessConfig`, :func:`assess_robustness` (the verb) and
:class:`RobustnessResult`. Three families of tests, each booked per group of every sensitive
column, because a model that is robust on average but brittle on one group is a fairness
finding:

1. Counterfactual fairness (``_counterfactual``): does the decision change when only the
   protected attribute changes (tabular: the column, alone and with its strongest proxies;
   text: identity terms of the shipped lexicon, on the user's texts and on templated
   sentences)? With binary labels, the subgroup, BPSN and BNSP AUCs of Borkan et al. 2019
   (``_bias_auc``).
2. Perturbation robustness (``_perturbation``): seeded metamorphic changes that should not
   change a decision, by strength.
3. Adversarial robustness (``_adversarial``): FGSM and PGD (L-infinity, L2) over a radius
   sweep for torch models; tabular models in their encoded input space, images in pixel space
   clipped to the valid range, text models in embedding space.

In the audit: the ``robustness`` assessment (:data:`ASSESSMENT`, in
:mod:`raikit.audit.registry`), measuring the ``security`` concern; it needs a model (FGSM/PGD
need its torch module); ``counterfactual_flip_rate`` and ``robust_accuracy`` can be gated; they
set a bias and a security risk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from pydantic import model_validator
from typing_extensions import Self

from raikit.audit.assessment import Assessment, AuditContext, Measure, MeasuredRisk, ReportSection
from raikit.audit.policy import DEFAULT_LIMITS, Limits
from raikit.audit.robustness._adversarial import ATTACKS, TEXT_KINDS
from raikit.audit.robustness._decisions import Scored, score
from raikit.audit.robustness._perturbation import PERTURBATIONS, perturbation_kind
from raikit.audit.robustness._steps import (
    DEFAULT_EPSILONS,
    adversarial_sweep,
    bias_auc_table,
    brittle_groups,
    finding,
    perturb_context,
    perturbation_sweep,
    tabular_counterfactuals,
    targets,
    text_counterfactuals,
)
from raikit.audit.robustness.result import RobustnessResult, RobustnessSettings
from raikit.audit.types import Finding, Interval
from raikit.models.errors import ConfigError, DataError, close_matches_hint
from raikit.models.settings import (
    BootstrapReplicates,
    ConfidenceLevel,
    Count,
    DecisionThreshold,
    Device,
    MinGroupSize,
    PositiveInt,
    Seed,
    Settings,
)

if TYPE_CHECKING:
    from raikit.audit.groups import Grouping

__all__ = ["DEFAULT_EPSILONS", "RobustnessConfig", "RobustnessResult", "assess_robustness"]


class RobustnessConfig(Settings):
    """What the robustness audit runs and with which settings.

    ``epsilons``: radii of the sweep (``None``: :data:`DEFAULT_EPSILONS` for the model's
    input kind); ``perturbations``: names from
    :data:`raikit.audit.robustness._perturbation.PERTURBATIONS`
    (``None``: every one for the input kind); ``lexicon``: a lexicon YAML file (``None``:
    the shipped one); ``proxies``: columns changed alongside the attribute (``None``: the
    strong proxies :func:`raikit.audit.proxies.strong_proxies` finds); ``text``: the text column
    of a model that is not a raikit checkpoint; ``threshold``: decision threshold on
    P(positive) (inside an audit, the audit's).
    """

    sensitive: tuple[str, ...] = ()
    label: str | None = None
    text: str | None = None
    epsilons: tuple[float, ...] | None = None
    attacks: tuple[str, ...] = ("fgsm", "pgd_linf", "pgd_l2")
    pgd_steps: PositiveInt = 10
    perturbations: tuple[str, ...] | None = None
    lexicon: str | None = None
    templates_per_set: Count = 2
    proxies: tuple[str, ...] | None = None
    threshold: DecisionThreshold = 0.5
    seed: Seed = 0
    n_bootstrap: BootstrapReplicates = 1000
    confidence_level: ConfidenceLevel = 0.95
    min_group_size: MinGroupSize = 30
    max_attack_rows: PositiveInt = 1000
    max_perturbation_rows: PositiveInt = 5000
    batch_size: PositiveInt = 256
    device: Device = "auto"

    @model_validator(mode="after")
    def _known_names(self) -> Self:
        for epsilon in self.epsilons or ():
            if epsilon < 0:
                raise ConfigError(f"epsilon must be a number >= 0; got {epsilon} instead")
        for attack in self.attacks:
            if attack not in ATTACKS:
                hint = close_matches_hint(attack, ATTACKS)
                raise ConfigError(f"unknown attack '{attack}'{hint} (known: {', '.join(ATTACKS)})")
        for name in self.perturbations or ():
            if name not in PERTURBATIONS:
                hint = close_matches_hint(name, PERTURBATIONS)
                raise ConfigError(
                    f"unknown perturbation '{name}'{hint} (known: {', '.join(PERTURBATIONS)})"
                )
        return self


def assess_robustness(
    predictor,
    frame: pd.DataFrame,
    config: RobustnessConfig,
    *,
    progress: bool = False,
    limits: Limits = DEFAULT_LIMITS,
    grouping: Grouping | None = None,
) -> RobustnessResult:
    """Measure counterfactual, perturbation and adversarial robustness, per group.

    Parameters
    ----------
    predictor : Predictor
        The model; adversarial attacks need a torch module behind it
        (:func:`raikit.audit.torch_model.torch_model`), the other tests only ``predict_proba``.
    frame : pandas.DataFrame
        The audited rows: the model's inputs, the sensitive columns and (optionally) the label.
    config : RobustnessConfig
        What to run; every setting is recorded in the result.
    progress : bool
        Show a progress bar on stderr during the attacks.
    limits : Limits
        The policy's limits; a counterfactual flip rate above its
        ``max_counterfactual_flip_rate`` is a finding.
    grouping : Grouping, optional
        How the sensitive columns form groups (:mod:`raikit.audit.groups`), fitted on all the
        data when ``frame`` is part of it; by default fitted on ``frame``.

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
    from raikit.audit.groups import fit_groups
    from raikit.audit.robustness._lexicon import load_lexicon
    from raikit.audit.torch_model import torch_model

    missing = [c for c in (*config.sensitive, config.label) if c and c not in frame.columns]
    if missing:
        hint = close_matches_hint(missing[0], frame.columns)
        raise DataError(f"column '{missing[0]}' not found in the data{hint}")
    frame = frame.reset_index(drop=True)
    if grouping is None:
        grouping = fit_groups(frame[list(config.sensitive)])
    elif grouping.names != list(config.sensitive):
        raise DataError(
            f"the grouping was fitted on {grouping.names}, not on {list(config.sensitive)}"
        )
    model = torch_model(predictor)
    text_column = config.text
    if model is not None:
        input_kind = model.input_kind
        features = model.feature_columns
        if input_kind in TEXT_KINDS:
            text_column = model.inputs["text"]
    else:
        input_kind = "text" if text_column else "tabular"
        features = [c for c in frame.columns if c != config.label]
    kind = perturbation_kind(input_kind)
    if text_column is not None and text_column not in frame.columns:
        raise DataError(f"text column '{text_column}' not found in the data")
    names = (
        list(config.perturbations)
        if config.perturbations is not None
        else [n for n, p in PERTURBATIONS.items() if p.kind == kind]
    )
    wrong = [n for n in names if PERTURBATIONS[n].kind != kind]
    if wrong:
        raise ConfigError(
            f"perturbation '{wrong[0]}' applies to {PERTURBATIONS[wrong[0]].kind} inputs; "
            f"this model reads {kind} inputs"
        )
    lexicon = load_lexicon(config.lexicon) if kind == "text" else None
    rng = np.random.default_rng(config.seed)
    classes = list(predictor.classes)
    y_true = targets(frame, config.label, classes)
    original: Scored = score(predictor, frame, config.threshold)
    findings: list[Finding] = []

    counterfactual, text_results, used_proxies = [], [], None
    if kind == "tabular":
        counterfactual, found, used_proxies = tabular_counterfactuals(
            predictor, frame, config, features, original, rng, grouping
        )
        findings.extend(found)
    elif kind == "text":
        text_results = text_counterfactuals(
            predictor, frame, text_column, lexicon, config, original, rng
        )
    for item in counterfactual:
        for stat in [item.overall, *item.groups]:
            rate = stat.flip_rate.value
            if rate is not None and rate > limits.max_counterfactual_flip_rate and not stat.small:
                variant = "with its proxies" if item.proxies else "alone"
                findings.append(
                    finding(
                        "warning",
                        "counterfactual_flips",
                        f"changing '{item.attribute}' {variant} flips {rate:.1%} of decisions "
                        f"({stat.name})",
                    )
                )
    for item in text_results:
        rate = item.overall.flip_rate.value
        if rate is not None and rate > limits.max_counterfactual_flip_rate:
            findings.append(
                finding(
                    "warning",
                    "counterfactual_flips",
                    f"swapping identity terms flips {rate:.1%} of decisions ({item.source})",
                )
            )

    bias = []
    if y_true is not None and len(classes) == 2:
        bias = bias_auc_table(frame, y_true, original.proba, grouping, text_column, lexicon)

    context = perturb_context(frame, model, kind, features, config, text_column)
    perturbations = perturbation_sweep(
        predictor, frame, y_true, names, context, config, rng, grouping
    )
    findings.extend(
        brittle_groups(
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
            finding(
                "info",
                "adversarial_not_run",
                "adversarial attacks need gradients: this model has no torch module behind it",
            )
        )
    elif config.attacks:
        adversarial, found = adversarial_sweep(model, frame, y_true, config, progress, grouping)
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


def _run(context: AuditContext, config: RobustnessConfig) -> RobustnessResult:
    # The decisions tested are the audit's: its threshold applies.
    config = config.replace(
        label=config.label or context.label,
        sensitive=config.sensitive or tuple(context.sensitive),
        threshold=context.threshold,
    )
    # The audit's grouping applies when the test is over the audit's sensitive columns.
    same_columns = config.sensitive == tuple(context.sensitive)
    return assess_robustness(
        context.predictor,
        context.audited,
        config,
        progress=context.progress,
        limits=context.limits,
        grouping=context.grouping if same_columns else None,
    )


def _measures(result: RobustnessResult) -> list[Measure]:
    measures = []
    rate = result.max_counterfactual_flip_rate()
    if rate is not None:
        measures.append(Measure("counterfactual_flip_rate", "model", Interval(value=rate)))
    if result.adversarial is not None:
        measures.extend(
            Measure(
                "robust_accuracy",
                f"{point.attack} at epsilon {point.epsilon:g}",
                point.robust_accuracy,
            )
            for point in result.adversarial.points
        )
    return measures


def _risks(result: RobustnessResult, limits: Limits) -> list[MeasuredRisk]:
    risks = []
    rate = result.max_counterfactual_flip_rate()
    if rate is not None:
        limit = limits.max_counterfactual_flip_rate
        likelihood = 4 if rate > 2 * limit else 3 if rate > limit else 1
        basis = (
            f"measured: changing only the protected attribute flips up to {100 * rate:.1f}% of "
            f"decisions in a group ({'above' if rate > limit else 'within'} the limit {limit:g})"
        )
        title = "Decisions change with who a person is"
        risks.append(MeasuredRisk("bias", title, likelihood, basis, from_decisions=True))
    adversarial = result.adversarial
    if adversarial is None:
        return risks
    swept = sorted({p.epsilon for p in adversarial.points if p.attack == "pgd_linf"} - {0.0})
    epsilon = limits.robustness_epsilon
    if epsilon is None and swept:
        epsilon = swept[0]
    robust = result.robust_accuracy("pgd_linf", epsilon) if epsilon is not None else None
    if robust is None:
        return risks
    drop = adversarial.clean_accuracy - robust
    limit = limits.max_robust_accuracy_drop
    likelihood = 4 if drop > 2 * limit else 3 if drop > limit else 1
    basis = (
        f"measured: a PGD attack (L-inf, epsilon {epsilon:g}) lowers accuracy from "
        f"{adversarial.clean_accuracy:.3f} to {robust:.3f}"
    )
    title = "Small crafted input changes manipulate decisions"
    kinds = ("risk:security", "threat:adversarial_input")
    return [*risks, MeasuredRisk("security", title, likelihood, basis, kinds, from_decisions=True)]


ASSESSMENT = Assessment(
    name="robustness",
    title="Robustness (counterfactual, perturbation, adversarial)",
    concern="security",
    needs="model",
    result_type=RobustnessResult,
    run=_run,
    config_type=RobustnessConfig,
    metrics=("counterfactual_flip_rate", "robust_accuracy"),
    measures=_measures,
    risks=_risks,
    report=ReportSection(html=("_robustness.html.j2",), markdown=("_robustness.md.j2",)),
)
