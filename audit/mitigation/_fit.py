"""How each mitigation method fits and saves its model (registered in ``_mitigation_methods``).

Each function takes the prepared context, the config (``strength`` already defaulted) and an
empty output directory, writes a model :func:`raikit.audit.predictor.load_predictor` can load, and
returns the JSON state stored under ``mitigation`` in its ``training.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from raikit.models.errors import DataError, ModelError

if TYPE_CHECKING:
    from raikit.audit.mitigation import MitigationConfig
    from raikit.audit.mitigation._methods import Context

WEIGHT_COLUMN = "__raikit_sample_weight__"
GROUP_COLUMN = "__raikit_group__"
REDUCTION_MAX_EPOCHS = 10
# Lagrange multipliers beyond ~1 flip the disparity on every data set tried; 11 points up to
# 1.0 step by 0.2 (the fairlearn default, 2.0 in 10 points, steps over the fair region).
GRID_LIMIT = 1.0


def _precomputed_scores(scores: np.ndarray) -> Any:
    """A prefit estimator for ThresholdOptimizer whose X holds row positions into ``scores``."""
    from sklearn.base import BaseEstimator, ClassifierMixin

    class PrecomputedScores(ClassifierMixin, BaseEstimator):
        def __init__(self, scores: np.ndarray | None = None) -> None:
            self.scores = scores

        def fit(self, X, y, **kwargs):
            return self

        def predict_proba(self, X) -> np.ndarray:
            positive = self.scores[np.asarray(X, dtype=np.int64)[:, 0]]
            return np.column_stack([1 - positive, positive])

        def predict(self, X) -> np.ndarray:
            return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)

    estimator = PrecomputedScores(scores)
    estimator.fitted_ = True
    return estimator


def _state(context: Context, config: MitigationConfig, **extra: Any) -> dict:
    from raikit.audit.mitigation._methods import get_method

    method = get_method(config.method)
    return {
        "method": config.method,
        "stage": method.stage,
        "constraint": config.constraint,
        "parameter": method.parameter,
        "strength": config.strength,
        "sensitive": context.sensitive,
        "grouping": context.grouping.to_dict(),
        "needs_sensitive_at_prediction": method.needs_sensitive is not None,
        "needs_sensitive_because": method.needs_sensitive,
        "randomised": method.randomised,
        "seed": config.seed,
        "classes": context.classes,
        "base_model": str(context.model_path),
        **extra,
    }


def _record(context: Context, features: list[str], hyperparameters: dict) -> dict:
    from raikit.models.provenance import package_versions, utc_now

    return {
        "created_at": utc_now(),
        "data": {
            "source": context.table.source,
            "sha256": context.table.sha256,
            "n_rows": len(context.frame),
            "schema": {
                "label": context.label,
                "sensitive": context.sensitive,
                "features": features,
                "classes": context.classes,
            },
        },
        "split": {
            "seed": hyperparameters.get("seed"),
            "stratified_on": context.label,
            "sizes": {name: len(rows) for name, rows in context.split.items()},
            "file": "split.json",
        },
        "hyperparameters": hyperparameters,
        "privacy": {"differentially_private": False},
        "packages": package_versions(),
    }


def _base_config(context: Context, method: str) -> dict:
    config = getattr(getattr(context.base, "checkpoint", None), "config", None) or {}
    if context.base_spec is None or config.get("inputs", {}).get("kind") != "tabular":
        raise ModelError(
            f"method '{method}' retrains the model, so --model must be a raikit checkpoint "
            f"written by `rai train`; '{context.model_path}' is a {context.base.kind}"
        )
    return config


def _estimator(context: Context, config: MitigationConfig) -> Any:
    from raikit.models.fair_training import TorchMLPClassifier

    spec = context.base_spec
    return TorchMLPClassifier(
        hidden=tuple(spec.hidden),
        dropout=spec.dropout,
        epochs=config.epochs or min(spec.epochs, REDUCTION_MAX_EPOCHS),
        batch_size=config.batch_size or spec.batch_size,
        learning_rate=spec.learning_rate,
        weight_decay=spec.weight_decay,
        seed=config.seed,
    )


def _moment(constraint: str) -> Any:
    from fairlearn.reductions import DemographicParity, EqualizedOdds, TruePositiveRateParity

    return {
        "demographic_parity": DemographicParity,
        "equalized_odds": EqualizedOdds,
        "true_positive_rate_parity": TruePositiveRateParity,
    }[constraint]()


def _hash_columns(context: Context, features: list[str] | None) -> list[str]:
    columns = list(features) if features else [c for c in context.frame.columns]
    columns = [c for c in columns if c != context.label]
    return columns + [c for c in context.sensitive if c not in columns]


def _check_both_classes(context: Context, rows: np.ndarray) -> None:
    """fairlearn's ThresholdOptimizer needs both classes in every group; say which lacks one."""
    groups, labels = context.groups[rows], context.y[rows]
    for group in sorted(set(groups.tolist())):
        present = np.unique(labels[groups == group])
        if len(present) < 2:
            raise DataError(
                f"group '{group}' has only '{context.classes[present[0]]}' labels among its "
                f"{int((groups == group).sum())} training rows; threshold_optimizer needs both "
                "classes in every group: choose other sensitive columns or another method"
            )


def threshold_optimizer(context: Context, config: MitigationConfig, out_dir: Path) -> dict:
    """Group thresholds on the base model's scores, fitted on the training rows."""
    import warnings

    from fairlearn.postprocessing import ThresholdOptimizer

    from raikit.audit.mitigation.mitigated import save_mitigated

    scores = context.base.predict_proba(context.frame)[:, 1]
    train = context.rows("train")
    _check_both_classes(context, train)
    optimizer = ThresholdOptimizer(
        estimator=_precomputed_scores(scores),
        constraints=config.constraint,
        objective="accuracy_score",
        prefit=True,
        predict_method="predict_proba",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optimizer.fit(train[:, None], context.y[train], sensitive_features=context.groups[train])
    thresholds = {}
    for group, entry in optimizer.interpolated_thresholder_.interpolation_dict.items():
        thresholds[str(group)] = {
            "p0": float(entry.p0),
            "operation0": entry.operation0.operator,
            "threshold0": float(entry.operation0.threshold),
            "p1": float(entry.p1),
            "operation1": entry.operation1.operator,
            "threshold1": float(entry.operation1.threshold),
        }
        if "p_ignore" in entry:
            thresholds[str(group)]["p_ignore"] = float(entry.p_ignore)
            thresholds[str(group)]["prediction_constant"] = float(entry.prediction_constant)
    base_config = getattr(getattr(context.base, "checkpoint", None), "config", None) or {}
    features = base_config.get("features")
    state = _state(
        context,
        config,
        architecture=f"{base_config.get('architecture', context.base.kind)} + threshold_optimizer",
        hash_columns=_hash_columns(context, features),
        thresholds=thresholds,
    )
    hyper = {"base": str(context.model_path), "fitted_on": "train split"}
    save_mitigated(
        out_dir,
        state,
        _record(context, features or [], hyper),
        context.split,
        base_path=context.base.path,
    )
    return state


def _reduction_inputs(context: Context, method: str) -> tuple[dict, np.ndarray]:
    from raikit.models.preprocess import TabularPreprocessor

    config = _base_config(context, method)
    preprocessor = TabularPreprocessor.from_dict(config["inputs"]["preprocessor"])
    return config, preprocessor.transform(context.frame[config["features"]]).astype(np.float64)


def exponentiated_gradient(context: Context, config: MitigationConfig, out_dir: Path) -> dict:
    """A randomised ensemble of MLPs under the constraint (Agarwal et al., 2018)."""
    import warnings

    from fairlearn.reductions import ExponentiatedGradient

    from raikit.audit.mitigation.mitigated import save_mitigated

    base_config, inputs = _reduction_inputs(context, config.method)
    train = context.rows("train")
    reduction = ExponentiatedGradient(
        _estimator(context, config),
        constraints=_moment(config.constraint),
        eps=config.strength,
        max_iter=config.max_iter,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reduction.fit(inputs[train], context.y[train], sensitive_features=context.groups[train])
    weights = reduction.weights_.to_numpy(dtype=np.float64)
    kept = [i for i, w in enumerate(weights) if w > 0]
    members = [reduction.predictors_[i] for i in kept]
    state = _state(
        context,
        config,
        architecture="mlp ensemble (exponentiated_gradient)",
        features=base_config["features"],
        preprocessor=base_config["inputs"]["preprocessor"],
        arch_params=members[0].arch_params_,
        n_members=len(members),
        weights=[float(weights[i]) for i in kept],
        hash_columns=_hash_columns(context, base_config["features"]),
        max_iter=config.max_iter,
        epochs=members[0].epochs,
    )
    hyper = {**members[0].get_params(), "eps": config.strength, "max_iter": config.max_iter}
    save_mitigated(
        out_dir,
        state,
        _record(context, base_config["features"], hyper),
        context.split,
        modules=[m.module_ for m in members],
    )
    return state


def grid_search(context: Context, config: MitigationConfig, out_dir: Path) -> dict:
    """The best MLP of a grid of Lagrange multipliers, saved as a plain raikit checkpoint."""
    import warnings

    from fairlearn.reductions import GridSearch

    from raikit.models.checkpoint import model_config, save_checkpoint

    base_config, inputs = _reduction_inputs(context, config.method)
    train = context.rows("train")
    search = GridSearch(
        _estimator(context, config),
        constraints=_moment(config.constraint),
        grid_size=config.grid_size,
        grid_limit=GRID_LIMIT,
        constraint_weight=config.strength,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search.fit(inputs[train], context.y[train], sensitive_features=context.groups[train])
    best = search.predictors_[search.best_idx_]
    best_config = model_config(
        architecture="mlp",
        arch_params=best.arch_params_,
        task="classification",
        label=base_config["label"],
        classes=base_config["classes"],
        inputs=base_config["inputs"],
    )
    hyper = {**best.get_params(), "grid_size": config.grid_size, "grid_limit": GRID_LIMIT}
    record = _record(context, base_config["features"], hyper)
    save_checkpoint(out_dir, best.module_, best_config, record, context.split)
    return _state(context, config, grid_size=config.grid_size, best_index=int(search.best_idx_))


def _train_spec(context: Context, config: MitigationConfig, method: str, **changes: Any) -> Any:
    _base_config(context, method)
    spec = context.base_spec
    exclude = tuple(spec.exclude) + (tuple(spec.sensitive) if spec.exclude_sensitive else ())
    # A base model mitigated before carries its own weights/groups settings; each method
    # sets the ones it needs.
    mitigation = {"sample_weight_column": None, "group_column": None, "fairness_penalty": 0.0}
    return spec.replace(
        sensitive=tuple(context.sensitive),
        exclude=exclude,
        epochs=config.epochs or spec.epochs,
        batch_size=config.batch_size or spec.batch_size,
        seed=config.seed,
        **{**mitigation, **changes},
    )


def _train(context: Context, spec: Any, frame: pd.DataFrame, out_dir: Path) -> None:
    from raikit.models.data import LoadedTable
    from raikit.models.train import train

    # Same source and sha256: the data is the user's; the weights column is derived from it.
    table = LoadedTable(frame, context.table.source, context.table.sha256, context.table.spec)
    train(table, spec, out_dir, force=True, progress=False)


def reweighing(context: Context, config: MitigationConfig, out_dir: Path) -> dict:
    """Retrain with Kamiran-Calders weights on the training rows (the split is the base's)."""
    from raikit.models.fair_training import reweighing_weights

    spec = _train_spec(context, config, config.method, sample_weight_column=WEIGHT_COLUMN)
    train = context.rows("train")
    weights = np.ones(len(context.frame))
    weights[train] = reweighing_weights(context.groups[train], context.y[train], config.strength)
    frame = context.frame.assign(**{WEIGHT_COLUMN: weights})
    _train(context, spec, frame, out_dir)
    by_cell = {
        f"{group} / {context.classes[label]}": float(weights[train][mask][0])
        for group in np.unique(context.groups[train])
        for label in (0, 1)
        if (mask := (context.groups[train] == group) & (context.y[train] == label)).any()
    }
    return _state(context, config, weights_by_group_and_label=by_cell)


def fairness_penalty(context: Context, config: MitigationConfig, out_dir: Path) -> dict:
    """Retrain with ``weight * fairness gap`` added to the loss (see
    ``raikit.models.fair_training``).
    """
    spec = _train_spec(
        context,
        config,
        config.method,
        fairness_penalty=config.strength,
        fairness_constraint=config.constraint,
        group_column=GROUP_COLUMN,
    )
    _train(context, spec, context.frame.assign(**{GROUP_COLUMN: context.groups}), out_dir)
    return _state(context, config)


def correlation_remover(context: Context, config: MitigationConfig, out_dir: Path) -> dict:
    """Decorrelate the encoded features from the groups (fairlearn), then train an MLP."""
    from fairlearn.preprocessing import CorrelationRemover

    from raikit.audit.mitigation.mitigated import one_hot, remove_correlation, save_mitigated
    from raikit.models.preprocess import fit_preprocessor

    base_config = _base_config(context, config.method)
    features = [f for f in base_config["features"] if f not in context.sensitive]
    train = context.rows("train")
    preprocessor = fit_preprocessor(
        context.frame.iloc[train][features], max_categories=context.base_spec.max_categories
    )
    inputs = preprocessor.transform(context.frame[features]).astype(np.float64)
    categories = sorted(str(g) for g in np.unique(context.groups))
    sensitive = one_hot(context.groups, categories)
    width = inputs.shape[1]
    remover = CorrelationRemover(
        sensitive_feature_ids=list(range(width, width + len(categories))), alpha=config.strength
    )
    remover.fit(np.hstack([inputs, sensitive])[train])
    mean, beta = np.asarray(remover.sensitive_mean_), np.asarray(remover.beta_)
    decorrelated = remove_correlation(inputs, sensitive, mean, beta, config.strength)
    estimator = _estimator(context, config).fit(decorrelated[train], context.y[train])
    state = _state(
        context,
        config,
        architecture="correlation_remover + mlp",
        features=features,
        preprocessor=preprocessor.to_dict(),
        arch_params=estimator.arch_params_,
        n_members=1,
        correlation_remover={
            "categories": categories,
            "mean": mean.tolist(),
            "beta": beta.tolist(),
            "alpha": config.strength,
        },
        hash_columns=_hash_columns(context, features),
    )
    record = _record(context, features, estimator.get_params())
    save_mitigated(out_dir, state, record, context.split, modules=[estimator.module_])
    return state
