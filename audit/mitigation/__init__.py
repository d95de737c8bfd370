"""Bias mitigation: fit a fairer model with one of fairlearn's methods, and measure the cost.

Public surface: :func:`mitigate` (one method), :func:`sweep` (several methods and strengths),
:class:`MitigationConfig`, :func:`list_methods`, and the result types
:class:`MitigationPoint` / :class:`MitigationResult` (stored on the evidence, rendered as the
report's "mitigation" section). Each model's effect is measured by the independent audit code
(:func:`raikit.audit.fairness.assess_fairness`) on the held-out test split. torch and fairlearn are
imported inside the functions, so reading results stays light.

In the audit: the ``mitigation`` assessment (:data:`ASSESSMENT`, in
:mod:`raikit.audit.registry`), measuring the ``bias`` concern; it needs a raikit checkpoint and
writes the mitigated models (:class:`SweepRun`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from pydantic import Field, model_validator
from typing_extensions import Self

from raikit.audit.assessment import Assessment, AuditContext, ReportSection
from raikit.audit.types import Finding, Frozen, Interval
from raikit.models.errors import ConfigError
from raikit.models.settings import BootstrapReplicates, PositiveInt, Seed, Settings

if TYPE_CHECKING:
    from raikit.models.data import LoadedTable

__all__ = [
    "CONSTRAINTS",
    "TARGET_DISPARITY",
    "MitigationConfig",
    "MitigationPoint",
    "MitigationResult",
    "list_methods",
    "mitigate",
    "pareto_front",
    "sweep",
]

CONSTRAINTS = ("demographic_parity", "equalized_odds", "true_positive_rate_parity")
#: The disparity each constraint targets, as :func:`assess_fairness` names it.
TARGET_DISPARITY = {
    "demographic_parity": "demographic_parity_difference",
    "equalized_odds": "equalized_odds_difference",
    "true_positive_rate_parity": "equal_opportunity_difference",
}


class MitigationPoint(Frozen):
    """One model of a comparison: how it was made and what it does on the test rows."""

    name: str
    method: str
    stage: str
    parameter: str | None = None
    value: float | None = None
    accuracy: Interval
    disparities: dict[str, Interval]
    needs_sensitive_at_prediction: bool = False
    randomised: bool = False
    pareto: bool = False
    #: Why its decisions on the test rows are degenerate, if they are: then never on the front.
    degenerate: str | None = None
    model_path: str | None = None
    seconds: float = 0.0


class MitigationResult(Frozen):
    """Before/after figures of one or more mitigations, the baseline first."""

    label: str
    sensitive: list[str]
    constraint: str
    target_disparity: str
    positive_label: str
    rows: str
    n_rows: int
    points: list[MitigationPoint]
    findings: list[Finding] = []


class MitigationConfig(Settings):
    """What to mitigate and how.

    Parameters
    ----------
    method : str
        A registered method (see :func:`list_methods`).
    constraint : str
        ``demographic_parity``, ``equalized_odds`` or ``true_positive_rate_parity``.
    sensitive : tuple of str
        Sensitive column(s); several are combined into intersectional groups.
    label : str or None
        Label column; defaults to the base model's.
    strength : float or None
        The method's parameter (see :func:`list_methods`); ``None`` takes its default.
    epochs : int or None
        Training epochs of retrained models; ``None``: the base model's (at most 10 for the
        fairlearn reductions and the correlation remover, which fit many models).
    batch_size : int or None
        Mini-batch size of retrained models; ``None``: the base model's.
    max_iter : int
        ExponentiatedGradient iterations.
    grid_size : int
        GridSearch grid points (at least 2).
    seed : int
        Seed of training and of randomised decisions.
    n_bootstrap : int
        Bootstrap replicates of the disparity intervals.
    """

    method: str
    constraint: str
    sensitive: tuple[str, ...]
    label: str | None = None
    strength: float | None = None
    epochs: PositiveInt | None = None
    batch_size: PositiveInt | None = None
    max_iter: PositiveInt = 20
    grid_size: Annotated[int, Field(ge=2)] = 11
    seed: Seed = 0
    n_bootstrap: BootstrapReplicates = 200

    @model_validator(mode="after")
    def _method_fits(self) -> Self:
        from raikit.audit.mitigation._methods import get_method

        if self.constraint not in CONSTRAINTS:
            raise ConfigError(
                f"unknown constraint '{self.constraint}'; use one of: {', '.join(CONSTRAINTS)}"
            )
        if not self.sensitive:
            raise ConfigError("give at least one --sensitive column to mitigate over")
        method = get_method(self.method)
        if self.constraint not in method.constraints:
            raise ConfigError(
                f"method '{self.method}' targets {' or '.join(method.constraints)} only; "
                f"got constraint '{self.constraint}'"
            )
        if self.strength is not None:
            method.check_strength(self.strength)
        return self


def list_methods() -> list:
    """Every registered mitigation method (name, stage, constraints, parameter, default)."""
    from raikit.audit.mitigation._methods import METHODS

    return list(METHODS.values())


def pareto_front(points: list[tuple[float, float | None]]) -> list[bool]:
    """Which ``(accuracy, disparity)`` points no other point beats on both (ties kept).

    A point with an undefined disparity is never on the front.
    """
    flags = []
    for accuracy, disparity in points:
        if disparity is None:
            flags.append(False)
            continue
        dominated = any(
            other_disparity is not None
            and other_accuracy >= accuracy
            and other_disparity <= disparity
            and (other_accuracy > accuracy or other_disparity < disparity)
            for other_accuracy, other_disparity in points
        )
        flags.append(not dominated)
    return flags


def mitigate(
    table: LoadedTable,
    model: Path,
    config: MitigationConfig,
    out_dir: Path,
    *,
    force: bool = False,
    progress: bool = False,
) -> MitigationResult:
    """Fit ``config.method`` around/instead of the model at ``model``; save it to ``out_dir``.

    The saved model loads with :func:`raikit.audit.predictor.load_predictor` (so ``rai audit``
    audits it); its ``training.json`` records how it was made and the before/after figures returned.
    With ``progress``, a bar on stderr names the method while it fits.

    Returns
    -------
    MitigationResult
        Two points, the base model and the mitigated one, on the test split.
    """
    from tqdm.auto import tqdm

    from raikit.audit.mitigation._methods import fit_and_measure, prepare_context
    from raikit.models.files import staged_directory

    context = prepare_context(table, Path(model), config)
    points = [context.baseline_point()]
    with (
        tqdm(total=1, desc="mitigation", unit="model", disable=not progress) as bar,
        staged_directory(Path(out_dir), overwrite=force) as staging,
    ):
        bar.set_postfix_str(config.method)
        points.append(fit_and_measure(context, config, staging, model_path=Path(out_dir)))
        bar.update()
    return context.result(points)


def sweep(
    table: LoadedTable,
    model: Path,
    config: MitigationConfig,
    out_dir: Path,
    *,
    methods: tuple[str, ...] = (),
    force: bool = False,
    progress: bool = False,
) -> MitigationResult:
    """Run several methods at several strengths; each model is saved under ``out_dir/models``.

    ``config.method`` and ``config.strength`` are ignored: the sweep runs every registered
    method that supports ``config.constraint`` (or only ``methods``) at its sweep strengths.
    With ``progress``, a bar on stderr names the model being fitted.

    Returns
    -------
    MitigationResult
        The baseline and one point per model, Pareto-optimal points flagged.
    """
    from tqdm.auto import tqdm

    from raikit.audit.mitigation._methods import (
        METHODS,
        fit_and_measure,
        get_method,
        prepare_context,
    )
    from raikit.models.checkpoint import prepare_output_dir
    from raikit.models.files import staged_directory

    chosen = [get_method(name) for name in methods] or [
        m for m in METHODS.values() if config.constraint in m.constraints
    ]
    runs = [
        config.replace(method=method.name, strength=strength)
        for method in chosen
        for strength in method.sweep
    ]  # MitigationConfig validates every (method, constraint, strength) before anything runs
    context = prepare_context(table, Path(model), config)
    models_dir = Path(out_dir) / "models"
    prepare_output_dir(models_dir, force=force)
    points = [context.baseline_point()]
    with tqdm(runs, desc="mitigation sweep", unit="model", disable=not progress) as bar:
        for run in bar:
            name = f"{run.method}-{run.strength:g}" if run.strength is not None else run.method
            bar.set_postfix_str(name)
            target = models_dir / name
            with staged_directory(target, overwrite=force) as staging:
                points.append(fit_and_measure(context, run, staging, model_path=target))
    return context.result(points)


class SweepRun(Settings):
    """A sweep as a check of an audit: its settings, where its models go, which methods."""

    config: MitigationConfig
    out_dir: Path
    methods: tuple[str, ...] = ()
    force: bool = False


def _run(context: AuditContext, run: SweepRun) -> MitigationResult:
    return sweep(
        context.table,
        context.predictor.path,
        run.config,
        run.out_dir,
        methods=run.methods,
        force=run.force,
        progress=context.progress,
    )


ASSESSMENT = Assessment(
    name="mitigation",
    title="Bias mitigation",
    concern="bias",
    needs="model",
    result_type=MitigationResult,
    run=_run,
    config_type=SweepRun,
    report=ReportSection(html=("_mitigation.html.j2",), markdown=("_mitigation.md.j2",)),
)
