"""Result types of the explanations assessment (re-exported by :mod:`raikit.audit.explain`)."""

from __future__ import annotations

from typing import Literal

from raikit.audit.types import Finding, Frozen, Interval

InputKind = Literal["tabular", "text", "image"]
LocalKind = Literal["confident_error", "borderline", "chosen"]


class FeatureImportance(Frozen):
    """Mean absolute attribution of one feature (column, word or pixel) over the sampled rows.

    ``importance`` carries a bootstrap interval over rows; ``share`` is the feature's part of
    the total mean absolute attribution (all features sum to 1).
    """

    feature: str
    importance: Interval
    share: float
    n_rows_present: int


class GroupImportance(Frozen):
    """The share of attribution of each feature within one group of a sensitive column."""

    attribute: str
    group: str
    n_rows: int
    shares: dict[str, float]


class ProxyReliance(Frozen):
    """A proxy of a sensitive column (see :mod:`raikit.audit.proxies`) and the model's reliance on
    it.
    """

    feature: str
    adjusted_mutual_information: float
    share: Interval


class GroupReliance(Frozen):
    """Reliance on a sensitive column and on its proxies within one of its groups."""

    group: str
    n_rows: int
    sensitive_share: float
    proxy_share: float


class SensitiveReliance(Frozen):
    """How much the model's decisions lean on a sensitive column, directly or through proxies.

    ``sensitive_share`` is ``None`` when the model does not read the column (it then can only
    lean on it through its proxies); for text it is the share of attribution on words naming
    the column's groups.
    """

    attribute: str
    model_reads_attribute: bool
    sensitive_share: Interval | None
    proxies: list[ProxyReliance]
    proxy_share: Interval
    by_group: list[GroupReliance]


class TokenScore(Frozen):
    """One word (merged from its sub-word tokens) and its attribution.

    ``masked`` says why ``text`` is masked (see :mod:`raikit.audit.explain._disclosure`);
    ``None`` when it is shown as it is.
    """

    text: str
    score: float
    masked: str | None = None


class FeatureScore(Frozen):
    """One input column of one row: its value as text and its attribution.

    ``masked`` says why ``value`` is masked (a rare category, free text, something that looks
    like personal data; see :mod:`raikit.audit.explain._disclosure`); ``None`` when shown.
    """

    feature: str
    value: str
    score: float
    masked: str | None = None


class LocalExplanation(Frozen):
    """The explanation of one chosen row.

    Exactly one of ``features`` (tabular), ``tokens`` (text) or ``image``/``attribution_map``
    (images; ``saliency_map`` beside it when gradients exist) is filled.
    """

    row: int
    kind: LocalKind
    why: str
    group: dict[str, str]
    predicted: str
    actual: str | None
    probability: float
    features: list[FeatureScore] = []
    tokens: list[TokenScore] = []
    image: list[list[float]] | None = None
    attribution_map: list[list[float]] | None = None
    saliency_map: list[list[float]] | None = None
    convergence_delta: float | None = None


class DeletionCurve(Frozen):
    """Probability of the explained class as the top-k units are removed, vs removed at random.

    ``fractions[i]`` of each row's units are replaced by the baseline; ``attributed[i]`` and
    ``random[i]`` are the mean probabilities; ``area_between`` is the mean of
    ``random - attributed`` over the fractions (positive: the attributions find what matters).
    """

    fractions: list[float]
    attributed: list[float]
    random: list[float]
    n_random_orders: int
    area_between: float


class ExplanationQuality(Frozen):
    """How far the attributions can be trusted."""

    n_rows: int
    convergence_delta_mean: float | None
    convergence_delta_relative: float | None
    infidelity: float | None
    infidelity_perturbation: str
    sensitivity_max: float | None
    sensitivity_radius: float | None
    deletion: DeletionCurve | None


class ExplanationResult(Frozen):
    """Global importance, reliance on sensitive attributes, local explanations, quality."""

    input_kind: InputKind
    method: str
    target: str
    baselines: str
    n_rows_total: int
    n_rows_sampled: int
    seed: int
    n_steps: int | None
    n_steps_max_used: int | None
    internal_batch_size: int | None
    n_bootstrap: int
    confidence_level: float
    features: list[FeatureImportance]
    by_group: list[GroupImportance]
    reliance: list[SensitiveReliance]
    local: list[LocalExplanation]
    quality: ExplanationQuality
    image_shape: list[int] | None = None
    mean_attribution_map: list[list[float]] | None = None
    n_values_masked: int = 0
    findings: list[Finding] = []


class RowExplanations(Frozen):
    """Explanations of chosen rows (``rai explain``), with the settings that produced them."""

    input_kind: InputKind
    method: str
    target: str
    baselines: str
    n_steps: int | None
    n_steps_max_used: int | None
    internal_batch_size: int | None
    rows: list[LocalExplanation]
    n_values_masked: int = 0
    findings: list[Finding] = []
