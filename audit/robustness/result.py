"""Result types of the robustness audit: plain, frozen, JSON-serialisable data."""

from __future__ import annotations

from typing import Literal

from raikit.audit.types import Finding, Frozen, Interval


class FlipStat(Frozen):
    """How often a change flipped the decision, and how far it moved the score.

    ``flip_rate`` and ``mean_score_change`` carry confidence intervals; the score is the
    probability of the positive class (binary) or of the originally decided class.
    """

    name: str
    n: int
    flip_rate: Interval
    mean_score_change: Interval
    small: bool = False


class ProxyChange(Frozen):
    """A proxy of the attribute changed alongside it, and how."""

    feature: str
    adjusted_mutual_information: float
    how: str


class TabularCounterfactual(Frozen):
    """Counterfactual fairness of one sensitive column of a tabular model.

    Every row is re-scored once per other group of ``attribute`` (everything else fixed, or
    with ``proxies`` changed too); ``groups`` are the rows' original groups, and
    ``target_values`` the value the attribute was set to for each target group.
    """

    attribute: str
    variant: Literal["attribute", "attribute_and_proxies"]
    attribute_is_input: bool
    target_values: dict[str, str] = {}
    proxies: list[ProxyChange] = []
    overall: FlipStat
    groups: list[FlipStat]
    transitions: list[FlipStat] = []


class TermSwap(Frozen):
    """Flips caused by replacing one identity term with another."""

    category: str
    term: str
    replacement: str
    n: int
    flip_rate: Interval
    mean_score_change: float


class TextCounterfactual(Frozen):
    """Identity-term swaps on the user's texts or on the lexicon's template sentences."""

    source: Literal["data", "templates"]
    text_column: str
    n_texts: int
    n_texts_with_terms: int
    n_swaps: int
    overall: FlipStat
    categories: list[FlipStat]
    swaps: list[TermSwap]


class BiasAuc(Frozen):
    """Subgroup, BPSN and BNSP AUC of one subgroup (Borkan et al. 2019)."""

    attribute: str
    subgroup: str
    n: int
    n_positive: int
    subgroup_auc: float | None
    bpsn_auc: float | None
    bnsp_auc: float | None


class GroupValue(Frozen):
    """One figure of one group of one sensitive column."""

    attribute: str
    group: str
    n: int
    value: Interval
    small: bool = False


class PerturbationPoint(Frozen):
    """One perturbation at one strength: accuracy drop and flip rate, overall and by group."""

    perturbation: str
    strength: float
    n: int
    accuracy: float | None
    perturbed_accuracy: float | None
    accuracy_drop: float | None
    flip_rate: Interval
    group_flip_rates: list[GroupValue] = []
    group_accuracy_drops: list[GroupValue] = []


class AdversarialPoint(Frozen):
    """Robust accuracy under one attack at one radius, overall and by group."""

    attack: str
    norm: Literal["linf", "l2"]
    epsilon: float
    robust_accuracy: Interval
    groups: list[GroupValue] = []


class AdversarialResult(Frozen):
    """The ε sweep of every attack on a torch model."""

    input_kind: str
    space: str
    epsilon_unit: str
    clip: list[float] | None
    n_rows: int
    target: Literal["labels", "model decisions"]
    steps: int
    step_size: str
    device: str
    clean_accuracy: float
    points: list[AdversarialPoint]


class RobustnessSettings(Frozen):
    """Everything that reproduces the section: seed, radii, strengths, lexicon version."""

    seed: int
    threshold: float
    n_bootstrap: int
    confidence_level: float
    min_group_size: int
    input_kind: str
    sensitive: list[str]
    epsilons: list[float]
    attacks: list[str]
    pgd_steps: int
    max_attack_rows: int
    perturbations: dict[str, list[float]]
    max_perturbation_rows: int
    lexicon_name: str | None = None
    lexicon_version: str | None = None
    lexicon_source: str | None = None
    templates_per_set: int = 0
    proxies: list[str] | None = None


class RobustnessResult(Frozen):
    """Counterfactual, perturbation and adversarial robustness of one model."""

    settings: RobustnessSettings
    counterfactual: list[TabularCounterfactual] = []
    text_counterfactual: list[TextCounterfactual] = []
    bias_aucs: list[BiasAuc] = []
    perturbations: list[PerturbationPoint] = []
    adversarial: AdversarialResult | None = None
    findings: list[Finding] = []

    def max_counterfactual_flip_rate(self) -> float | None:
        """The largest counterfactual flip rate of any group or text set, or None."""
        rates = [
            s.flip_rate.value
            for c in self.counterfactual
            for s in [c.overall, *c.groups]
            if s.flip_rate.value is not None
        ]
        rates += [
            t.overall.flip_rate.value
            for t in self.text_counterfactual
            if t.overall.flip_rate.value is not None
        ]
        return max(rates) if rates else None

    def robust_accuracy(self, attack: str, epsilon: float) -> float | None:
        """Robust accuracy of ``attack`` at the swept radius closest to ``epsilon``, or None."""
        if self.adversarial is None:
            return None
        points = [p for p in self.adversarial.points if p.attack == attack]
        if not points:
            return None
        point = min(points, key=lambda p: abs(p.epsilon - epsilon))
        if abs(point.epsilon - epsilon) > 1e-9 * max(1.0, abs(epsilon)):
            return None
        return point.robust_accuracy.value
