"""``raikit.audit.audit``: audit any model on any table in one call, from Python.

It wires what ``rai audit`` wires (a table, a predictor, the registered checks, the policy and
the impact assessment) and returns the :class:`~raikit.audit.evidence.Evidence`; nothing is
printed or written. Models are wrapped by the adapter registry
(:func:`raikit.audit.predictor.as_predictor`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raikit.models.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from raikit.audit.evidence import Evidence
    from raikit.audit.impact import ImpactAssessment
    from raikit.audit.policy import Policy
    from raikit.audit.predictor import Predictor
    from raikit.models.data import LoadedTable

#: Checks that rebuild or re-train the model from its training record (recipe and split).
NEEDS_TRAINING_RECIPE = ("membership_inference", "mitigation")
#: The audit's shared settings a check's own config receives when the caller gives none.
SHARED_SETTINGS = ("seed", "n_bootstrap", "confidence_level", "min_group_size", "threshold")
IN_MEMORY_DATA = "<in-memory DataFrame>"


def audit(
    model: Any,
    data: pd.DataFrame | str | os.PathLike[str] | LoadedTable,
    *,
    label: str | None = None,
    sensitive: Sequence[str] | str = (),
    checks: Sequence[str] | Mapping[str, Any] | None = None,
    policy: Policy | str | os.PathLike[str] | None = None,
    impact: ImpactAssessment | str | os.PathLike[str] | None = None,
    seed: int = 0,
    feature_columns: Sequence[str] | None = None,
    classes: Sequence[str] | None = None,
    text: str | None = None,
    positive_label: str | None = None,
    rows: str = "auto",
    threshold: float = 0.5,
    n_bootstrap: int = 1000,
    confidence_level: float = 0.95,
    min_group_size: int = 30,
    title: str | None = None,
    progress: bool = False,
) -> Evidence:
    """Audit ``model`` on ``data`` and return the evidence.

    Parameters
    ----------
    model : path, model object or None
        A raikit checkpoint or ``rai mitigate`` directory; a Hugging Face sequence-classification
        directory (give ``text``); a fitted scikit-learn classifier or Pipeline; a
        ``torch.nn.Module`` from a float tensor of ``feature_columns`` to logits over
        ``classes``; a ``transformers`` text-classification pipeline (give ``text``); any
        :class:`~raikit.audit.predictor.Predictor`; or ``None`` when ``data`` is a table of
        predictions (``y_true``, ``y_pred``, optionally ``y_score`` = probability of the
        positive label, and the sensitive columns).
    data : pandas.DataFrame, path or built-in dataset name
        The rows to audit the model on (label, sensitive and input columns).
    label : str, optional
        Label column. Default: the one the checkpoint was trained on, else the built-in
        dataset's, else ``y_true`` for a predictions table.
    sensitive : sequence of str
        Sensitive columns; groups are formed from them (and their intersection).
    checks : names, or mapping of name to config, optional
        Registered checks (:func:`raikit.audit.registry.assessments`): ``performance``,
        ``fairness``, ``slices``, ``pii``, ``explanations``, ``robustness``,
        ``membership_inference``, ``mitigation``. A check given without config gets its
        defaults with this call's ``seed``, ``n_bootstrap``, ``confidence_level``,
        ``min_group_size`` and ``threshold``.
        Default: ``performance``, and ``fairness`` when ``sensitive`` is given.
    policy : Policy or path of a policy.yaml, optional
        Limits for findings and risk levels; the evidence then carries the gate's result.
    impact : ImpactAssessment or path of an impact.yaml, optional
        The societal-impact assessment to include.
    seed : int
        Seeds every resampling and sample.
    feature_columns, classes, text
        What an in-memory model reads and scores (see the adapters,
        :func:`raikit.audit.predictor.list_adapters`); an option the model's adapter does not
        read is refused.
    positive_label, rows, threshold, n_bootstrap, confidence_level, min_group_size, title
        As :class:`raikit.audit.runner.AuditConfig`.
    progress : bool
        Let long steps show a progress bar on stderr.

    Returns
    -------
    Evidence
        Every result, with its findings and provenance; render it with
        :func:`raikit.reports.render`.

    Raises
    ------
    ConfigError
        For an unknown check, a check the model cannot support (membership inference and
        mitigation need a raikit checkpoint with its training record), or a missing option.
    DataError, ModelError
        When the data or model cannot be used as given.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from raikit.audit import audit
    >>> from raikit.models.data import load_table
    >>> frame = load_table("arrests").frame
    >>> X, y = frame[["age", "checks"]], frame["released"]
    >>> evidence = audit(LogisticRegression().fit(X, y), frame, label="released",
    ...                  sensitive=["colour"], n_bootstrap=100)
    >>> evidence.model.path
    '<in-memory sklearn LogisticRegression>'
    """
    from raikit.audit.predictor import as_predictor
    from raikit.audit.runner import AuditConfig, run_audit

    # What can be checked without the data or the model fails first, in a second.
    loaded_policy, loaded_impact = _policy(policy), _impact(impact)
    sensitive = (sensitive,) if isinstance(sensitive, str) else tuple(sensitive)
    chosen = _check_names(checks, sensitive)
    options = {"feature_columns": feature_columns, "classes": classes, "text": text}
    for name in ("feature_columns", "classes"):
        if isinstance(options[name], str):
            raise ConfigError(f"{name} must be a list of names; got the string '{options[name]}'")
    given = [name for name, value in options.items() if value is not None]
    if model is None and given:
        raise ConfigError(f"{given[0]} describes a model; model is None (a predictions table)")

    table = _table(data)
    predictor = None if model is None else as_predictor(model, **options)
    if predictor is not None:
        _refuse_what_needs_a_recipe(chosen, predictor)
    config = AuditConfig(
        label=label or _default_label(predictor, table),
        sensitive=sensitive,
        positive_label=positive_label,
        rows=rows,
        threshold=threshold,
        seed=seed,
        n_bootstrap=n_bootstrap,
        confidence_level=confidence_level,
        min_group_size=min_group_size,
        title=title,
    )
    return run_audit(
        table,
        config,
        predictor,
        _with_defaults(chosen, config),
        policy=loaded_policy,
        impact=loaded_impact,
        progress=progress,
    )


def _table(data: Any) -> LoadedTable:
    import pandas as pd

    from raikit.models.data import (
        LoadedTable,
        check_finite,
        check_unique_columns,
        frame_sha256,
        load_table,
    )

    if isinstance(data, LoadedTable):
        return data
    if isinstance(data, pd.DataFrame):
        check_unique_columns(data.columns, IN_MEMORY_DATA)
        check_finite(data, IN_MEMORY_DATA)
        return LoadedTable(frame=data, source=IN_MEMORY_DATA, sha256=frame_sha256(data))
    if isinstance(data, (str, os.PathLike)):
        return load_table(data)
    raise ConfigError(
        f"data must be a pandas DataFrame, a file path or a built-in dataset name; "
        f"got a {type(data).__name__}"
    )


def _default_label(predictor: Predictor | None, table: LoadedTable) -> str:
    from raikit.audit.runner import recorded_label

    if predictor is None:
        return "y_true"
    found = recorded_label(predictor) or (table.spec.label if table.spec is not None else None)
    if found is None:
        raise ConfigError("give label='COLUMN': the column holding each row's true class")
    return found


def _check_names(
    checks: Sequence[str] | Mapping[str, Any] | None, sensitive: tuple[str, ...]
) -> dict[str, Any]:
    """The checks as a mapping of name to config (``None``: defaults); unknown names refused."""
    from raikit.audit.registry import assessment

    if checks is None:
        checks = ("performance", "fairness") if sensitive else ("performance",)
    elif isinstance(checks, str):
        checks = (checks,)
    chosen = dict(checks) if isinstance(checks, Mapping) else dict.fromkeys(checks)
    for name in chosen:
        assessment(name)  # a ConfigError naming the registered checks
    return chosen


def _with_defaults(checks: Mapping[str, Any], config: Any) -> dict[str, Any]:
    """Each check's config; one not given is built with the audit's shared settings."""
    from raikit.audit.registry import assessment

    chosen = {}
    for name, options in checks.items():
        config_type = assessment(name).config_type
        if options is None and config_type is not None:
            options = _default_config(name, config_type, config)
        chosen[name] = options
    return chosen


def _default_config(name: str, config_type: Any, config: Any) -> Any:
    if dataclasses.is_dataclass(config_type):
        declared = {f.name for f in dataclasses.fields(config_type)}
    else:
        declared = set(getattr(config_type, "model_fields", {}))
    shared = {key: getattr(config, key) for key in SHARED_SETTINGS if key in declared}
    try:
        return config_type(**shared)
    except TypeError:
        raise ConfigError(
            f"check '{name}' has no default settings: pass checks={{'{name}': "
            f"{config_type.__name__}(...)}}"
        ) from None


def _refuse_what_needs_a_recipe(checks: Mapping[str, Any], predictor: Predictor) -> None:
    checkpoint = getattr(predictor, "checkpoint", None)
    if getattr(checkpoint, "record", None) and getattr(checkpoint, "split", None):
        return
    for name in checks:
        if name in NEEDS_TRAINING_RECIPE:
            raise ConfigError(
                f"{name} needs the training recipe: a raikit checkpoint with its training record "
                f"(training.json, split.json); {predictor.path} has none"
            )


def _policy(policy: Any) -> Policy | None:
    if policy is None or not isinstance(policy, (str, os.PathLike)):
        return policy
    from raikit.audit.policy import load_policy

    return load_policy(Path(policy))


def _impact(impact: Any) -> ImpactAssessment | None:
    if impact is None or not isinstance(impact, (str, os.PathLike)):
        return impact
    from raikit.audit.impact import load_impact

    return load_impact(Path(impact))
