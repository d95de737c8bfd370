"""Explanations that can be trusted: captum attributions, what they say, and how far they hold.

:func:`assess_explanations` attributes the predicted class of a seeded sample of rows:

* tabular MLPs: Integrated Gradients on the encoded (scaled, one-hot) inputs, summed back to
  the user's columns; a predictor without gradients gets Feature Ablation (or Kernel SHAP)
  over its raw columns through ``predict_proba``;
* text models (RNN, Hugging Face transformers): Layer Integrated Gradients on the token
  embedding layer, sub-word scores merged back to words;
* image CNNs: Integrated Gradients, with gradient saliency beside it for single images.

From those it reports global importance (mean |attribution| with bootstrap intervals), the
reliance on each sensitive column and its proxies (:mod:`raikit.audit.proxies`) overall and per
group, local explanations of confident errors and borderline rows per group, and the quality of the
attributions (IG convergence delta, captum ``infidelity`` and ``sensitivity_max``, a deletion
curve against random removal). :func:`explain_rows` explains chosen rows only.

In the audit: the ``explanations`` assessment (:data:`ASSESSMENT`, in
:mod:`raikit.audit.registry`), measuring the ``transparency`` concern; it needs a model
(gradients when it has a torch module); its quality measures set the transparency risk and its
reliance on protected attributes a bias risk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, get_args

import numpy as np
import pandas as pd
from pydantic import model_validator
from typing_extensions import Self

from raikit.audit.assessment import Assessment, AuditContext, MeasuredRisk, ReportSection
from raikit.audit.explain._disclosure import MIN_VALUE_ROWS, Disclosure
from raikit.audit.explain._findings import IMAGE_RELIANCE, explanation_findings, finding
from raikit.audit.explain._ig import IGSettings
from raikit.audit.explain._local import as_map, local_explanation, row_meta, y_true_codes
from raikit.audit.explain._summary import (
    Bootstrap,
    choose_rows,
    global_importance,
    group_importance,
    reliance,
    unit_matrix,
)
from raikit.audit.explain.result import (
    DeletionCurve,
    ExplanationQuality,
    ExplanationResult,
    FeatureImportance,
    FeatureScore,
    GroupImportance,
    GroupReliance,
    LocalExplanation,
    ProxyReliance,
    RowExplanations,
    SensitiveReliance,
    TokenScore,
)
from raikit.audit.groups import Grouping, fit_groups
from raikit.audit.types import Finding
from raikit.models.errors import ConfigError, DataError, ModelError
from raikit.models.settings import (
    BootstrapReplicates,
    ConfidenceLevel,
    Count,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    Seed,
    Settings,
)

if TYPE_CHECKING:
    from raikit.audit.policy import Limits

__all__ = [
    "METHODS",
    "MIN_VALUE_ROWS",
    "DeletionCurve",
    "ExplainConfig",
    "ExplanationQuality",
    "ExplanationResult",
    "FeatureImportance",
    "FeatureScore",
    "GroupImportance",
    "GroupReliance",
    "LocalExplanation",
    "ProxyReliance",
    "RowExplanations",
    "SensitiveReliance",
    "TokenScore",
    "assess_explanations",
    "explain_rows",
    "reference_rows",
]

Method = Literal["auto", "integrated-gradients", "feature-ablation", "kernel-shap"]
Baseline = Literal["mean", "zeros"]
METHODS = get_args(Method)
BASELINES = get_args(Baseline)
TOP_TEXT_FEATURES = 20
TOP_IMAGE_FEATURES = 10
MAX_REFERENCE_ROWS = 5000


class ExplainConfig(Settings):
    """How explanations are computed; every setting is recorded in the result.

    ``n_steps`` is where IG starts; rows whose convergence delta exceeds ``tolerance`` of
    ``|f(x) - f(baseline)|`` are recomputed with doubled steps up to ``max_steps``.
    ``internal_batch_size`` bounds the rows x steps in one forward pass; ``batch_rows`` the
    rows attributed at a time (at most ``internal_batch_size``, since captum evaluates at least
    one step of every row together). ``baseline`` (tabular IG): ``"mean"`` of the reference rows'
    encoded inputs or ``"zeros"``.
    """

    n_rows: PositiveInt = 300
    method: Method = "auto"
    baseline: Baseline = "mean"
    n_steps: PositiveInt = 16
    max_steps: PositiveInt = 128
    tolerance: NonNegativeFloat = 0.05
    internal_batch_size: PositiveInt = 512
    batch_rows: PositiveInt = 64
    n_bootstrap: BootstrapReplicates = 500
    confidence_level: ConfidenceLevel = 0.95
    n_local_per_group: Count = 1
    quality_rows: PositiveInt = 16
    n_perturb_samples: PositiveInt = 5
    sensitivity_radius: PositiveFloat = 0.02
    n_random_orders: PositiveInt = 5
    kernel_shap_samples: PositiveInt = 200
    seed: Seed = 0
    progress: bool = False

    @model_validator(mode="after")
    def _steps_grow(self) -> Self:
        if self.max_steps < self.n_steps:
            raise ConfigError(
                f"max_steps must be at least n_steps ({self.n_steps}); got {self.max_steps} instead"
            )
        return self

    def ig_settings(self) -> IGSettings:
        return IGSettings(
            n_steps=self.n_steps,
            max_steps=self.max_steps,
            tolerance=self.tolerance,
            internal_batch_size=self.internal_batch_size,
            batch_rows=self.batch_rows,
            baseline=self.baseline,
        )


def reference_rows(predictor, frame: pd.DataFrame, sha256: str | None) -> pd.DataFrame | None:
    """The model's training rows when ``frame`` is its own training table, else ``None``."""
    checkpoint = getattr(predictor, "checkpoint", None)
    record = getattr(checkpoint, "record", None) or {}
    split = getattr(checkpoint, "split", None) or {}
    if sha256 is None or record.get("data", {}).get("sha256") != sha256 or not split.get("train"):
        return None
    return frame.iloc[split["train"]]


def _engine(predictor, frame: pd.DataFrame, reference, note: str, label, config: ExplainConfig):
    from raikit.audit.torch_model import torch_model

    model = torch_model(predictor)
    agnostic = config.method in ("feature-ablation", "kernel-shap")
    if model is not None and not agnostic:
        if model.input_kind == "tabular":
            from raikit.audit.explain._ig import TabularIG

            return TabularIG(model, reference, note, config.ig_settings())
        if model.input_kind in ("words", "hf-tokenizer"):
            from raikit.audit.explain._text import TextLIG

            return TextLIG(model, config.ig_settings())
        if model.input_kind == "image":
            from raikit.audit.explain._ig import ImageIG

            return ImageIG(model, config.ig_settings())
        raise ModelError(f"explanations of {model.input_kind} models are not supported")
    if model is not None and model.input_kind != "tabular":
        raise ConfigError(f"{config.method} works on tabular columns, not {model.input_kind} input")
    if config.method == "integrated-gradients":
        raise ConfigError("integrated-gradients needs a torch model; this predictor has none")
    from raikit.audit.explain._agnostic import Agnostic

    if model is not None:
        columns = model.feature_columns
    else:  # the columns a predictor says it reads (a scikit-learn model), else all but the label
        columns = getattr(predictor, "feature_columns", None) or [
            c for c in frame.columns if c != label
        ]
    method = "feature-ablation" if config.method == "auto" else config.method
    return Agnostic(
        predictor,
        columns,
        reference,
        note,
        frame,
        method=method,
        n_samples=config.kernel_shap_samples,
        seed=config.seed,
    )


def _reference(frame: pd.DataFrame, reference: pd.DataFrame | None, seed: int):
    if reference is None or len(reference) == 0:
        reference, what = frame, "audited rows"
    else:
        what = "training rows"
    if len(reference) > MAX_REFERENCE_ROWS:
        reference = reference.sample(n=MAX_REFERENCE_ROWS, random_state=seed)
    return reference, f"{len(reference):,} {what}"


def _disclosure(engine, frame: pd.DataFrame, *, count_rare: bool = True) -> Disclosure:
    return Disclosure(frame, getattr(engine, "text_column", None), count_rare=count_rare)


def _masked_words(features, by_group, disclosure: Disclosure):
    """Global word importance and per-group shares with the words passed through disclosure."""
    shown = {f.feature: disclosure.word(f.feature)[0] for f in features}
    features = [f.model_copy(update={"feature": shown[f.feature]}) for f in features]
    masked_groups = []
    for group in by_group:
        shares: dict[str, float] = {}
        for word, share in group.shares.items():
            name = shown[word] if word in shown else disclosure.word(word)[0]
            shares[name] = shares.get(name, 0.0) + share
        masked_groups.append(group.model_copy(update={"shares": shares}))
    return features, masked_groups


def _masking_findings(disclosure: Disclosure) -> list[Finding]:
    if disclosure.n_masked == 0:
        return []
    return [finding("info", "values_masked", disclosure.note())]


def assess_explanations(
    predictor,
    frame: pd.DataFrame,
    *,
    label: str | None = None,
    sensitive: tuple[str, ...] | list[str] = (),
    reference: pd.DataFrame | None = None,
    config: ExplainConfig | None = None,
    grouping: Grouping | None = None,
) -> ExplanationResult:
    """Attribute a seeded sample of ``frame`` and summarise what the attributions say.

    Parameters
    ----------
    predictor : Predictor
        Any predictor; a raikit checkpoint is attributed with gradients, anything else with
        Feature Ablation over ``frame``'s columns (all but ``label``).
    frame : pandas.DataFrame
        The audited rows (the model's input columns, ``label`` and ``sensitive``).
    label : str, optional
        Label column: with it, confidently wrong rows are explained too.
    sensitive : sequence of str
        Sensitive columns whose reliance (direct and through proxies) is measured, per group
        (:mod:`raikit.audit.groups`).
    reference : pandas.DataFrame, optional
        Rows the tabular baseline is the mean of (the training rows; see
        :func:`reference_rows`); the audited rows when omitted.
    config : ExplainConfig, optional
        Sample size, IG steps, batch sizes, bootstrap and quality settings.
    grouping : Grouping, optional
        How ``sensitive`` forms groups, fitted on all the data when ``frame`` is part of it;
        by default fitted on ``frame`` (never on the sample alone).

    Returns
    -------
    ExplanationResult
        With the baseline, rows sampled, seed, steps and batch size it was computed with.
    """
    config = config or ExplainConfig()
    sensitive = list(sensitive)
    missing = [c for c in sensitive if c not in frame.columns]
    if missing:
        raise DataError(f"sensitive column(s) {', '.join(missing)} not found in the data")
    if len(frame) == 0:
        raise DataError("no rows to explain")
    if grouping is None:
        grouping = fit_groups(frame[sensitive])
    elif grouping.names != sensitive:
        raise DataError(f"the grouping was fitted on {grouping.names}, not on {sensitive}")
    rng = np.random.default_rng(config.seed)
    n = min(config.n_rows, len(frame))
    sample = frame.iloc[np.sort(rng.choice(len(frame), size=n, replace=False))]
    reference, note = _reference(frame, reference, config.seed)
    engine = _engine(predictor, sample, reference, note, label, config)
    classes = list(predictor.classes)
    probabilities = np.asarray(predictor.predict_proba(sample), dtype=np.float64)
    target = probabilities.argmax(axis=1)
    attributions = engine.attribute(sample, target, config.progress)

    groups = grouping.attributes(sample)
    names, matrix = unit_matrix(attributions, engine.kind)
    bootstrap = Bootstrap(config.n_bootstrap, config.confidence_level, config.seed)
    limit = {"text": TOP_TEXT_FEATURES, "image": TOP_IMAGE_FEATURES}.get(engine.kind)
    features = global_importance(names, matrix, bootstrap, limit)
    findings: list[Finding] = []
    relied: list = []
    by_group: list = []
    if engine.kind == "image" and sensitive:
        findings.append(finding("info", "reliance_not_assessed", IMAGE_RELIANCE))
    elif sensitive:
        top = len(names) if engine.kind == "tabular" else 10
        by_group = group_importance(names, matrix, groups, top)
        relied = reliance(
            attributions, engine.kind, names, matrix, sample, frame, groups, bootstrap
        )

    disclosure = _disclosure(engine, frame)
    if engine.kind == "text":
        features, by_group = _masked_words(features, by_group, disclosure)
    y_true = y_true_codes(sample, label, classes)
    sample_labels = grouping.labels(sample)
    local = [
        local_explanation(
            engine,
            attributions,
            position,
            kind,
            why,
            row_meta(sample, position, probabilities, y_true, classes, sample_labels),
            disclosure,
        )
        for position, kind, why, _ in choose_rows(
            probabilities, y_true, groups[0] if groups else None, config.n_local_per_group
        )
    ]
    from raikit.audit.explain._quality import measure_quality

    quality_rows = np.sort(rng.choice(n, size=min(config.quality_rows, n), replace=False))
    quality = measure_quality(
        engine,
        attributions,
        quality_rows,
        n_perturb_samples=config.n_perturb_samples,
        sensitivity_radius=config.sensitivity_radius,
        n_random_orders=config.n_random_orders,
        seed=config.seed,
    )
    findings.extend(explanation_findings(engine, quality, relied, config))
    findings.extend(_masking_findings(disclosure))
    if np.isin(probabilities, (0.0, 1.0)).all():
        findings.append(
            finding(
                "info",
                "hard_decisions",
                "the model's probabilities are all 0 or 1: an attribution is non-zero only "
                "where changing that input alone flips the decision",
            )
        )
    is_ig = attributions.delta is not None
    image_shape = getattr(engine, "shape", None) if engine.kind == "image" else None
    return ExplanationResult(
        input_kind=engine.kind,
        method=engine.method,
        target="the predicted class of each row",
        baselines=engine.baselines,
        n_rows_total=len(frame),
        n_rows_sampled=n,
        seed=config.seed,
        n_steps=config.n_steps if is_ig else None,
        n_steps_max_used=attributions.steps_used,
        internal_batch_size=config.internal_batch_size if is_ig else None,
        n_bootstrap=config.n_bootstrap,
        confidence_level=config.confidence_level,
        features=features,
        by_group=by_group,
        reliance=relied,
        local=local,
        quality=quality,
        image_shape=list(image_shape) if image_shape else None,
        mean_attribution_map=as_map(matrix.mean(axis=0), image_shape) if image_shape else None,
        n_values_masked=disclosure.n_masked,
        findings=findings,
    )


def explain_rows(
    predictor,
    frame: pd.DataFrame,
    rows: list[int] | None = None,
    *,
    target: str | None = None,
    label: str | None = None,
    reference: pd.DataFrame | None = None,
    sensitive: tuple[str, ...] | list[str] = (),
    config: ExplainConfig | None = None,
    count_rare: bool = True,
) -> RowExplanations:
    """Explain the given rows of ``frame`` (positions; every row when ``None``).

    ``target`` names the class to attribute; by default each row's predicted class. ``label``
    is left out of the columns a model-agnostic method attributes (and shown as the actual).
    The rows' values are shown under the disclosure rule of
    :mod:`raikit.audit.explain._disclosure`: a category or word held by fewer than
    :data:`MIN_VALUE_ROWS` rows of ``frame``, or that looks like personal data, is masked;
    ``count_rare=False`` (the rows are the caller's own sentences) masks only the latter.
    """
    config = config or ExplainConfig()
    positions = list(range(len(frame))) if rows is None else list(rows)
    bad = [p for p in positions if not 0 <= p < len(frame)]
    if bad:
        raise DataError(f"row(s) {bad[:5]} out of range: the data has {len(frame)} rows")
    if not positions:
        raise DataError("no rows to explain")
    chosen = frame.iloc[positions]
    classes = list(predictor.classes)
    if target is not None and target not in classes:
        raise ConfigError(f"target class '{target}' is not one of the model's classes {classes}")
    reference, note = _reference(frame, reference, config.seed)
    engine = _engine(predictor, chosen, reference, note, label, config)
    probabilities = np.asarray(predictor.predict_proba(chosen), dtype=np.float64)
    targets = (
        probabilities.argmax(axis=1)
        if target is None
        else np.full(len(chosen), classes.index(target))
    )
    attributions = engine.attribute(chosen, targets, config.progress)
    y_true = y_true_codes(chosen, label, classes)
    # Groups as the whole data forms them; a sensitive column the data lacks is not shown.
    grouping = fit_groups(frame[[c for c in sensitive if c in frame.columns]])
    chosen_labels = grouping.labels(chosen)
    disclosure = _disclosure(engine, frame, count_rare=count_rare)
    explained = []
    for i, position in enumerate(positions):
        meta = row_meta(chosen, i, probabilities, y_true, classes, chosen_labels)
        meta["row"] = position
        local = local_explanation(engine, attributions, i, "chosen", "chosen row", meta, disclosure)
        explained.append(local)
    return RowExplanations(
        input_kind=engine.kind,
        method=engine.method,
        target=target or "the predicted class of each row",
        baselines=engine.baselines,
        n_steps=config.n_steps if attributions.delta is not None else None,
        n_steps_max_used=attributions.steps_used,
        internal_batch_size=config.internal_batch_size if attributions.delta is not None else None,
        rows=explained,
        n_values_masked=disclosure.n_masked,
        findings=_masking_findings(disclosure),
    )


def _run(context: AuditContext, config: ExplainConfig) -> ExplanationResult:
    table = context.table
    return assess_explanations(
        context.predictor,
        context.audited,
        label=context.label,
        sensitive=context.sensitive,
        reference=reference_rows(context.predictor, table.frame, table.sha256),
        config=config.replace(progress=config.progress or context.progress),
        grouping=context.grouping,
    )


def _risks(result: ExplanationResult, limits: Limits) -> list[MeasuredRisk]:
    title = "Explanations of decisions mislead the people relying on them"
    deletion = result.quality.deletion
    relative = result.quality.convergence_delta_relative
    if deletion is not None and deletion.area_between <= 0:
        basis = "measured: removing the most attributed inputs hurts no more than random removal"
        risks = [MeasuredRisk("transparency", title, 4, basis)]
    elif relative is not None and relative > 0.05:
        basis = f"measured: attributions miss completeness by {100 * relative:.1f}%"
        risks = [MeasuredRisk("transparency", title, 3, basis)]
    else:
        area = f"{deletion.area_between:.3f}" if deletion is not None else "n/a"
        basis = f"measured: attributions pass the deletion test (area {area}) and are complete"
        risks = [MeasuredRisk("transparency", title, 1, basis)]
    if not result.reliance:
        return risks
    shares = []
    for item in result.reliance:
        own = item.sensitive_share.value if item.sensitive_share is not None else 0.0
        shares.append((max(own or 0.0, item.proxy_share.value or 0.0), item.attribute))
    share, attribute = max(shares)
    likelihood = 4 if share >= 0.25 else 3 if share >= 0.1 else 1
    basis = f"measured: {100 * share:.0f}% of the attribution falls on '{attribute}' or its proxies"
    title = "Decisions lean on a protected attribute or a proxy"
    return [*risks, MeasuredRisk("bias", title, likelihood, basis)]


ASSESSMENT = Assessment(
    name="explanations",
    title="Explanations (feature attributions)",
    concern="transparency",
    needs="model",
    result_type=ExplanationResult,
    run=_run,
    config_type=ExplainConfig,
    risks=_risks,
    report=ReportSection(html=("_explanations.html.j2",), markdown=("_explanations.md.j2",)),
)
