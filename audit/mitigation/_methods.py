"""The mitigation methods behind :mod:`raikit.audit.mitigation`, one registry entry each.

Every method reads a :class:`Context` (the data, the base model, labels, groups, the split),
writes a loadable model into an empty directory and returns its state; the effect is then
measured on the test split with :func:`raikit.audit.fairness.assess_fairness`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from raikit.audit.types import Finding, Interval
from raikit.models.errors import ConfigError, DataError, ModelError, close_matches_hint
from raikit.models.files import write_file

if TYPE_CHECKING:
    from raikit.audit.groups import Grouping
    from raikit.audit.mitigation import MitigationConfig, MitigationPoint, MitigationResult
    from raikit.models.data import LoadedTable


@dataclass(frozen=True)
class Method:
    """A mitigation method: its stage, the constraints it targets and its one parameter."""

    name: str
    description: str
    stage: str
    constraints: tuple[str, ...]
    parameter: str | None
    default: float | None
    bounds: tuple[float, float] | None
    sweep: tuple[float | None, ...]
    needs_sensitive: str | None
    randomised: bool
    fit: Callable[[Context, MitigationConfig, Path], dict]

    def check_strength(self, strength: float) -> None:
        if self.parameter is None:
            raise ConfigError(f"method '{self.name}' takes no --strength")
        low, high = self.bounds
        if not low <= strength <= high:
            raise ConfigError(
                f"--strength of '{self.name}' is its {self.parameter}, which must be in "
                f"[{low:g}, {high:g}]; got {strength:g}"
            )


@dataclass
class Context:
    """Everything a method needs, prepared and validated once."""

    table: LoadedTable
    model_path: Path
    base: Any
    base_spec: Any
    label: str
    sensitive: list[str]
    classes: list[str]
    y: np.ndarray
    grouping: Grouping
    groups: np.ndarray
    split: dict[str, list[int]]
    constraint: str
    seed: int
    n_bootstrap: int

    @property
    def frame(self) -> pd.DataFrame:
        return self.table.frame

    def rows(self, part: str) -> np.ndarray:
        return np.asarray(self.split[part], dtype=np.int64)

    def measure(self, name: str, method: Method | None, y_pred: np.ndarray, **extra) -> Any:
        from raikit.audit.fairness import FairnessConfig, assess_fairness
        from raikit.audit.mitigation import MitigationPoint
        from raikit.models.degenerate import confusion_matrix, degenerate_reason

        test = self.rows("test")
        y_true = self.y[test]
        fairness = assess_fairness(
            y_true,
            y_pred,
            self.frame.iloc[test][self.sensitive].reset_index(drop=True),
            positive_label=self.classes[1],
            config=FairnessConfig(n_bootstrap=self.n_bootstrap, seed=self.seed),
            grouping=self.grouping,
        )
        attribute = next(a for a in fairness.attributes if a.columns == self.sensitive)
        return MitigationPoint(
            name=name,
            method=method.name if method else "baseline",
            stage=method.stage if method else "baseline",
            parameter=method.parameter if method else None,
            accuracy=Interval(value=float(np.mean(y_true == y_pred))),
            disparities=attribute.disparities,
            needs_sensitive_at_prediction=bool(method and method.needs_sensitive),
            randomised=bool(method and method.randomised),
            degenerate=degenerate_reason(confusion_matrix(y_true, y_pred, 2), self.classes),
            **extra,
        )

    def baseline_point(self) -> MitigationPoint:
        test = self.frame.iloc[self.rows("test")]
        y_pred = (self.base.predict_proba(test)[:, 1] >= 0.5).astype(np.int64)
        return self.measure("baseline", None, y_pred, model_path=str(self.model_path))

    def result(self, points: list[MitigationPoint]) -> MitigationResult:
        from raikit.audit.mitigation import TARGET_DISPARITY, MitigationResult, pareto_front

        target = TARGET_DISPARITY[self.constraint]
        # A degenerate model is no trade-off: it is neither on the front nor beats a point.
        flags = pareto_front(
            [
                (p.accuracy.value, None if p.degenerate else p.disparities[target].value)
                for p in points
            ]
        )
        points = [p.model_copy(update={"pareto": f}) for p, f in zip(points, flags, strict=True)]
        return MitigationResult(
            label=self.label,
            sensitive=self.sensitive,
            constraint=self.constraint,
            target_disparity=target,
            positive_label=self.classes[1],
            rows=f"test split of {self.table.source}",
            n_rows=len(self.split["test"]),
            points=points,
            findings=_findings(points, target, self.sensitive),
        )


def _findings(points: list, target: str, sensitive: list[str]) -> list[Finding]:
    columns = ", ".join(f"'{c}'" for c in sensitive)
    findings = []
    baseline = points[0].disparities[target].value
    for point in points:
        if point.degenerate:
            findings.append(
                Finding(
                    concern="mitigation",
                    severity="critical" if point is points[0] else "warning",
                    code="degenerate_model",
                    message=f"'{point.name}' is degenerate on the test rows: {point.degenerate}; "
                    "its low disparity is no achievement, and it is not a trade-off point",
                )
            )
    for point in points[1:]:
        if point.needs_sensitive_at_prediction:
            findings.append(
                Finding(
                    concern="mitigation",
                    severity="warning",
                    code="sensitive_at_prediction",
                    message=f"'{point.name}' reads {columns} at prediction time and treats groups "
                    "differently: using a protected attribute in decisions is unlawful in many "
                    "domains (credit, employment, housing); check before deploying",
                )
            )
        value = point.disparities[target].value
        if value is not None and baseline is not None and value > baseline:
            findings.append(
                Finding(
                    concern="mitigation",
                    severity="warning",
                    code="disparity_not_reduced",
                    message=f"'{point.name}' has a larger {target} than the baseline "
                    f"({value:.3f} > {baseline:.3f}) on the test rows",
                )
            )
    if any(p.randomised for p in points):
        findings.append(
            Finding(
                concern="mitigation",
                severity="info",
                code="randomised_decisions",
                message="randomised models decide positive with a probability; the draw is "
                "seeded by a hash of each row, so the same row always gets the same decision",
            )
        )
    return findings


def prepare_context(table: LoadedTable, model_path: Path, config: MitigationConfig) -> Context:
    """Load the base model, check the columns, encode labels and groups, and split the rows."""
    from raikit.audit.groups import fit_groups
    from raikit.audit.predictor import load_predictor
    from raikit.models.train import TrainSpec, split_indices

    base = load_predictor(model_path)
    record = getattr(getattr(base, "checkpoint", None), "record", None) or {}
    hyper = dict(record.get("hyperparameters") or {})
    label = config.label or hyper.get("label")
    if label is None:
        raise ConfigError("give --label: the base model's training record does not name one")
    frame = table.frame
    for column in config.sensitive:
        if column not in frame.columns:
            hint = close_matches_hint(column, frame.columns)
            raise DataError(f"sensitive column '{column}' not found in {table.source}{hint}")
    if label not in frame.columns:
        needs = (
            f"constraint '{config.constraint}' needs true labels (it compares error rates "
            "within each label)"
            if config.constraint != "demographic_parity"
            else f"method '{config.method}' needs true labels (it fits to them)"
        )
        raise DataError(
            f"{needs}, but label column '{label}' is not in {table.source}; "
            "pass the labelled data (and --label COLUMN)"
        )
    classes = [str(c) for c in base.classes]
    if len(classes) != 2:
        raise ModelError(f"mitigation needs a binary classifier; this model has classes {classes}")
    labels = frame[label].map(_text)
    unknown = sorted(set(labels.dropna().unique()) - set(classes))
    if labels.isna().any() or unknown:
        raise DataError(
            f"label '{label}' must hold only the model's classes {classes}; "
            f"found {unknown[:5] or 'missing values'}"
        )
    y = (labels == classes[1]).to_numpy(dtype=np.int64)
    known = set(TrainSpec.model_fields)
    spec_args = {k: tuple(v) if isinstance(v, list) else v for k, v in hyper.items() if k in known}
    base_spec = TrainSpec(**{**spec_args, "label": label}) if hyper else None
    split_spec = base_spec or TrainSpec(label=label, seed=config.seed)
    # The groups every method mitigates over, as the audit forms them (age bands, a missing
    # value its own group, several columns intersected); saved with models that need them.
    grouping = fit_groups(frame[list(config.sensitive)])
    groups = grouping.attributes(frame, intersections=True, min_groups=2)[-1]
    return Context(
        table=table,
        model_path=model_path,
        base=base,
        base_spec=base_spec,
        label=label,
        sensitive=list(config.sensitive),
        classes=classes,
        y=y,
        grouping=grouping,
        groups=groups.row_labels(),
        split=split_indices(y, split_spec),
        constraint=config.constraint,
        seed=config.seed,
        n_bootstrap=config.n_bootstrap,
    )


def _text(value: Any) -> str:
    from raikit.models.schema import label_text

    return label_text(value)


def fit_and_measure(
    context: Context, config: MitigationConfig, out_dir: Path, model_path: Path | None = None
) -> MitigationPoint:
    """Fit ``config.method``, save it to ``out_dir``, reload it and measure it on the test rows.

    ``model_path`` is where the model will live, when ``out_dir`` is its staging directory.
    """
    import json

    from raikit.audit.predictor import load_predictor

    method = get_method(config.method)
    strength = config.strength if config.strength is not None else method.default
    config = config.replace(strength=strength)
    started = time.perf_counter()
    state = method.fit(context, config, out_dir)
    seconds = time.perf_counter() - started
    # Measured through the saved files, exactly as `rai audit` would load them.
    mitigated = load_predictor(out_dir)
    test = context.frame.iloc[context.rows("test")]
    y_pred = (mitigated.predict_proba(test)[:, 1] >= 0.5).astype(np.int64)
    name = method.name if strength is None else f"{method.name} ({method.parameter}={strength:g})"
    point = context.measure(
        name,
        method,
        y_pred,
        value=strength,
        model_path=str(model_path or out_dir),
        seconds=round(seconds, 2),
    )
    record_path = out_dir / "training.json"
    record = json.loads(record_path.read_text(encoding="utf-8"))
    baseline = context.baseline_point()
    record["mitigation"] = {
        **{k: v for k, v in state.items() if k not in ("preprocessor", "correlation_remover")},
        "before": baseline.model_dump(mode="json"),
        "after": point.model_dump(mode="json"),
    }
    write_file(record_path, json.dumps(record, indent=2) + "\n")
    return point


def get_method(name: str) -> Method:
    """The registered method called ``name``; an unknown name raises ``ConfigError``."""
    try:
        return METHODS[name]
    except KeyError:
        hint = close_matches_hint(name, METHODS)
        raise ConfigError(
            f"unknown mitigation method '{name}' (known: {', '.join(METHODS)}){hint}"
        ) from None


METHODS: dict[str, Method] = {}


def register_method(method: Method, *, force: bool = False) -> None:
    """Add a method to the registry; an existing name is refused unless ``force``."""
    if method.name in METHODS and not force:
        raise ValueError(f"mitigation method '{method.name}' is already registered")
    METHODS[method.name] = method


def _register_builtins() -> None:
    from raikit.audit.mitigation import _fit as fit

    every = ("demographic_parity", "equalized_odds", "true_positive_rate_parity")
    for method in (
        Method("threshold_optimizer", "fairlearn ThresholdOptimizer: group-specific thresholds "
               "on the model's scores", "post-processing", every, None, None, None, (None,),
               "it applies group-specific thresholds", True, fit.threshold_optimizer),
        Method("exponentiated_gradient", "fairlearn ExponentiatedGradient: a randomised "
               "ensemble of MLPs", "in-training", every, "eps", 0.01, (1e-4, 1.0),
               (0.01, 0.05), None, True, fit.exponentiated_gradient),
        Method("grid_search", "fairlearn GridSearch: the best MLP of a grid of Lagrange "
               "multipliers", "in-training", every, "constraint_weight", 0.5, (0.0, 1.0),
               (0.5, 0.9), None, False, fit.grid_search),
        Method("fairness_penalty", "MLP with a fairness penalty added to its loss",
               "in-training", every, "weight", 1.0, (0.0, 1000.0), (1.0, 5.0), None, False,
               fit.fairness_penalty),
        Method("reweighing", "Kamiran-Calders reweighing of the training rows",
               "pre-processing", ("demographic_parity",), "strength", 1.0, (0.0, 1.0),
               (1.0,), None, False, fit.reweighing),
        Method("correlation_remover", "fairlearn CorrelationRemover: features decorrelated "
               "from the sensitive groups", "pre-processing", ("demographic_parity",),
               "alpha", 1.0, (0.0, 1.0), (1.0,), "it decorrelates the features from the groups",
               False, fit.correlation_remover),
    ):  # fmt: skip
        register_method(method)


_register_builtins()
