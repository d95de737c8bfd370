"""``run_audit``: score the data, run every assessment and assemble the evidence bundle."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import pandas as pd

from raikit.audit.assessment import AuditContext, NotApplicable, Scores
from raikit.audit.evidence import (
    DataInfo,
    Evidence,
    MitigationRecord,
    ModelInfo,
    OneRunAudit,
    PrivacyRecord,
    Provenance,
    TrainingRecord,
)
from raikit.audit.impact.verdicts import with_verdicts
from raikit.audit.policy import limits_from
from raikit.audit.types import Finding
from raikit.models.errors import ConfigError, DataError
from raikit.models.provenance import sha256_file
from raikit.models.schema import Schema, binarize_labels, label_text, validate_frame
from raikit.models.settings import (
    BootstrapReplicates,
    ConfidenceLevel,
    DecisionThreshold,
    MinGroupSize,
    Seed,
    Settings,
)

if TYPE_CHECKING:
    from raikit.audit.impact import ImpactAssessment
    from raikit.audit.policy import Policy
    from raikit.audit.predictor import Predictor
    from raikit.models.data import LoadedTable

PREDICTION_COLUMNS = ("y_true", "y_pred", "y_score")
PREDICTIONS_KIND, DATA_ONLY_KIND = "predictions-file", "none (data scan)"
#: ``ModelInfo.kind`` of an audit that had no model to query.
MODELLESS_KINDS = (PREDICTIONS_KIND, DATA_ONLY_KIND)
RowChoice = Literal["auto", "all", "test"]
ROW_CHOICES = get_args(RowChoice)


class AuditConfig(Settings):
    """What to audit and how.

    ``rows``: ``"auto"`` audits only the held-out test split when the data is the model's own
    training data (same sha256), otherwise every row; ``"test"`` insists on the test split;
    ``"all"`` audits every row.
    """

    label: str
    sensitive: tuple[str, ...] = ()
    positive_label: str | None = None
    rows: RowChoice = "auto"
    threshold: DecisionThreshold = 0.5
    seed: Seed = 0
    n_bootstrap: BootstrapReplicates = 1000
    confidence_level: ConfidenceLevel = 0.95
    min_group_size: MinGroupSize = 30
    title: str | None = None


DEFAULT_CHECKS = ("performance", "fairness")


def run_audit(
    table: LoadedTable,
    config: AuditConfig,
    predictor: Predictor | None = None,
    checks: Mapping[str, Any] | Sequence[str] | None = None,
    *,
    policy: Policy | None = None,
    impact: ImpactAssessment | None = None,
    progress: bool = False,
) -> Evidence:
    """Run registered assessments on ``table`` and assemble the evidence bundle.

    The model is ``predictor``; without one, ``table`` is a table of predictions (``y_true``,
    ``y_pred``, optionally ``y_score`` = probability of the positive label, and the sensitive
    columns; ``config.label`` names the ``y_true`` column), or, for checks that need the data
    alone (``pii``), any table.

    Parameters
    ----------
    table : LoadedTable
        The data, as loaded by :func:`raikit.models.data.load_table`.
    config : AuditConfig
        Shared settings: label, sensitive columns, rows, seed, bootstrap size, ...
    predictor : Predictor, optional
        The model (see :func:`raikit.audit.predictor.load_predictor`).
    checks : mapping of name to config, or names, optional
        The assessments to run (see :func:`raikit.audit.registry.assessments`), each with its
        config (``None``: its defaults); default ``performance`` and ``fairness``.
    policy : Policy, optional
        Whose limits the findings and risk levels read (raikit's defaults otherwise); its gate
        is checked and recorded (``Evidence.gate``).
    impact : ImpactAssessment, optional
        The impact assessment to include (``Evidence.impact``).
    progress : bool
        Let long steps show a progress bar on stderr.

    Returns
    -------
    Evidence
        Every result with its findings and provenance.

    Raises
    ------
    ConfigError
        For an unknown check, or one that needs a model when none is given.
    """
    from raikit.audit.groups import fit_groups
    from raikit.audit.registry import assessment, section_of

    if checks is None:
        checks = DEFAULT_CHECKS
    if not isinstance(checks, Mapping):
        checks = dict.fromkeys(checks)
    chosen = [(assessment(name), options) for name, options in checks.items()]
    wanted = [a for a, _ in chosen]
    needs_model = [a.title.lower() for a in wanted if a.needs == "model"]
    if predictor is None and needs_model:
        raise ConfigError(f"{' and '.join(needs_model)} need a model, not a predictions file")
    data_only = predictor is None and all(a.needs == "data" for a in wanted)
    scores_needed = any(a.needs == "predictions" for a in wanted)
    frame = table.frame
    findings: list[Finding] = []
    scores = None
    if data_only:
        audited, rows_note = frame, "all rows"
        model_info = ModelInfo(kind=DATA_ONLY_KIND, path="-", files_sha256={})
    else:
        if predictor is None or scores_needed:
            validate_frame(
                frame, Schema(label=config.label, sensitive=config.sensitive), source=table.source
            )
        if predictor is None:
            rows_note, scores = _read_predictions(table, config)
            audited = frame
            model_info = ModelInfo(
                kind=PREDICTIONS_KIND,
                path=table.source,
                files_sha256={table.source: table.sha256},
            )
        else:
            audited, rows_note, row_findings = _select_rows(table, config, predictor)
            findings.extend(row_findings)
            if scores_needed:
                scores = _score(audited, config, predictor)
            model_info = describe_model(predictor)
            findings.extend(_model_findings(model_info))
        if scores is not None:
            model_info, degenerate = _degeneracy(model_info, scores)
            findings.extend(degenerate)
    # Groups are fitted once on the whole table, so every concern shows the same groups.
    grouping = fit_groups(frame[list(config.sensitive)]) if config.sensitive else None
    context = AuditContext(
        table=table,
        audited=audited,
        label=None if data_only else config.label,
        sensitive=tuple(config.sensitive),
        grouping=grouping,
        predictor=predictor,
        scores=scores,
        seed=config.seed,
        n_bootstrap=config.n_bootstrap,
        confidence_level=config.confidence_level,
        min_group_size=config.min_group_size,
        threshold=config.threshold,
        limits=limits_from(policy),
        progress=progress,
    )
    results, sections = {}, {}
    for item, options in chosen:
        if options is None and item.config_type is not None:
            options = item.config_type()
        try:
            results[item.name] = item.run(context, options)
        except NotApplicable as reason:
            findings.append(
                Finding(
                    concern=item.concern,
                    severity="warning",
                    code=reason.code,
                    message=str(reason),
                )
            )
            continue
        sections[item.name] = section_of(item.name)
    settings = {
        **config.model_dump(mode="json"),
        "checks": {name: _settings(options) for name, options in checks.items()},
    }
    evidence = Evidence(
        title=config.title or f"Audit of {model_info.path} on {table.source}",
        data=DataInfo(
            source=table.source,
            sha256=table.sha256,
            n_rows_total=len(frame),
            n_rows_audited=len(audited),
            rows=rows_note,
            label=context.label,
            positive_label=_positive_label(scores, predictor),
            sensitive=list(config.sensitive),
        ),
        model=model_info,
        provenance=Provenance.now(config.seed, settings),
        results=results,
        sections=sections,
        findings=findings,
    )
    if impact is not None:
        from raikit.audit.impact import attach_impact

        evidence = attach_impact(evidence, impact)
    if policy is not None:
        from raikit.audit.policy import attach_gate

        return attach_gate(evidence, policy)
    return with_verdicts(evidence, policy)


def _positive_label(scores: Scores | None, predictor: Predictor | None) -> str | None:
    if scores is not None:
        return scores.positive_label
    classes = list(predictor.classes) if predictor is not None else []
    return classes[1] if len(classes) == 2 else None


def _settings(options: Any) -> Any:
    """A check's config as plain JSON data for the provenance."""
    if options is None:
        return None
    if hasattr(options, "model_dump"):
        return options.model_dump(mode="json")
    if dataclasses.is_dataclass(options):  # a config of an assessment registered from outside
        return dataclasses.asdict(options)
    return options


def _select_rows(
    table: LoadedTable, config: AuditConfig, predictor: Predictor
) -> tuple[pd.DataFrame, str, list[Finding]]:
    """The rows to audit (see ``AuditConfig.rows``), how they were chosen, and any finding."""
    record = getattr(getattr(predictor, "checkpoint", None), "record", None) or {}
    split = getattr(getattr(predictor, "checkpoint", None), "split", None) or {}
    own_data = record.get("data", {}).get("sha256") == table.sha256
    if config.rows == "all" or (config.rows == "auto" and not own_data):
        findings = []
        if own_data:
            findings.append(
                Finding(
                    concern="performance",
                    severity="warning",
                    code="training_rows_audited",
                    message="every row was audited, including the rows the model was trained on: "
                    "figures are optimistic",
                )
            )
        note = "all rows" + (" (including training rows)" if own_data else "")
        return table.frame, note, findings
    if not own_data:
        raise DataError(
            f"--rows test needs the model's own training data; {table.source} "
            "does not match the sha256 in its training record"
        )
    test_rows = split.get("test", [])
    frame = table.frame.iloc[test_rows]
    return frame, f"test split ({len(test_rows)} rows held out from training)", []


def _score(frame: pd.DataFrame, config: AuditConfig, predictor: Predictor) -> Scores:
    classes = list(predictor.classes)
    labels = frame[config.label].map(label_text)
    unknown = sorted(set(labels.unique()) - set(classes))
    if unknown:
        raise DataError(
            f"label '{config.label}' holds value(s) {unknown[:5]} the model never "
            f"learned (its classes: {classes})"
        )
    if (
        config.positive_label is not None
        and len(classes) == 2
        and config.positive_label != classes[1]
    ):
        raise ConfigError(
            f"the model's positive label is '{classes[1]}', not '{config.positive_label}'"
        )
    y_true = labels.map({name: i for i, name in enumerate(classes)}).to_numpy(dtype=np.int64)
    y_score = predictor.predict_proba(frame)
    return Scores(y_true, decide(y_score, config.threshold), y_score, classes)


def decide(y_score: np.ndarray, threshold: float) -> np.ndarray:
    """Each row's decision (a class index) from class probabilities ``(n, n_classes)``: the
    positive class when its probability reaches ``threshold`` (two classes), else the likeliest.
    """
    if y_score.shape[1] == 2:
        return (y_score[:, 1] >= threshold).astype(np.int64)
    return y_score.argmax(axis=1)


def _read_predictions(table: LoadedTable, config: AuditConfig) -> tuple[str, Scores]:
    frame = table.frame
    validate_frame(frame, Schema(label=config.label, exclude=("y_pred",)), source=table.source)
    y_true, positive = binarize_labels(frame[config.label], config.positive_label)
    observed = frame[config.label].map(label_text)
    negative = next((v for v in observed.unique() if v != positive), None)
    predicted = frame["y_pred"].map(label_text)
    unknown = sorted(set(predicted.unique()) - set(observed.unique()))
    if unknown:
        raise DataError(
            f"y_pred in {table.source} holds value(s) {unknown[:5]} that {config.label} never takes"
        )
    y_pred = (predicted == positive).to_numpy(dtype=np.int64)
    y_score = None
    if "y_score" in frame.columns:
        scores = pd.to_numeric(frame["y_score"], errors="coerce")
        if scores.isna().any() or not scores.between(0, 1).all():
            raise DataError(
                f"y_score in {table.source} must be probabilities in [0, 1] with no missing values"
            )
        p = scores.to_numpy(dtype=float)
        y_score = np.column_stack([1 - p, p])
    return "all rows", Scores(y_true, y_pred, y_score, [str(negative), str(positive)])


def recorded_label(predictor: Predictor) -> str | None:
    """The label column the model was trained on, as its training record names it."""
    record = getattr(getattr(predictor, "checkpoint", None), "record", None) or {}
    return record.get("data", {}).get("schema", {}).get("label")


def describe_model(predictor: Predictor) -> ModelInfo:
    """What was audited: kind, path, file hashes, architecture and the training record's gist.

    A predictor that describes itself (``describe()``: a model given in memory has no files)
    is taken at its word.
    """
    describe = getattr(predictor, "describe", None)
    if callable(describe):
        return describe()
    path = Path(predictor.path)
    checkpoint = getattr(predictor, "checkpoint", None)
    record = getattr(checkpoint, "record", None)
    config = getattr(checkpoint, "config", {}) or {}
    training = None
    if record:
        keys = ("data", "split", "hyperparameters", "best_epoch", "test", "privacy")
        gist = {key: record[key] for key in keys if record.get(key) is not None}
        if "mitigation" in record:  # how a `rai mitigate` model was made (not its figures)
            gist["mitigation"] = {
                k: v for k, v in record["mitigation"].items() if k in MitigationRecord.model_fields
            }
        training = TrainingRecord.model_validate(gist)
        if training.privacy.differentially_private:
            privacy = training.privacy
            update = {"epsilon_recomputed": _recompute_epsilon(privacy)}
            training = training.model_copy(update={"privacy": privacy.model_copy(update=update)})
    return ModelInfo(
        kind=predictor.kind,
        path=str(path),
        files_sha256=_files_sha256(predictor),
        architecture=config.get("architecture"),
        training=training,
    )


def _files_sha256(predictor: Predictor) -> dict[str, str]:
    """sha256 of the model's files, and of the files of the base model it loads, if any.

    A mitigated model's base is inside its folder; its files are keyed by their path there
    (``base/model.safetensors``), so a change to the base changes the evidence.
    """
    path = Path(predictor.path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file())
    else:  # a Predictor of one's own may name no file at all ("<my model>")
        files = [path] if path.is_file() else []
    hashes = {p.name: sha256_file(p) for p in files}
    base = getattr(predictor, "base", None)
    if base is not None:
        where = Path(base.path).relative_to(path.resolve())
        folder = where if Path(base.path).is_dir() else where.parent
        for name, digest in describe_model(base).files_sha256.items():
            hashes[(folder / name).as_posix()] = digest
    return hashes


def _recompute_epsilon(privacy: PrivacyRecord) -> float | None:
    """ε of the recorded mechanism (history, δ, accountant), or ``None`` when it cannot be had."""
    from raikit.models.privacy import epsilon_from_history

    if not privacy.history or privacy.delta is None or privacy.accountant is None:
        return None
    try:
        return epsilon_from_history(privacy.history, privacy.delta, privacy.accountant)
    except (ValueError, KeyError):  # an accountant raikit does not know, a malformed history
        return None


def _degeneracy(model: ModelInfo, scores: Scores) -> tuple[ModelInfo, list[Finding]]:
    """The model described with its degeneracy on the audited rows, and the finding saying so."""
    from raikit.models.degenerate import confusion_matrix, degenerate_reason

    confusion = confusion_matrix(scores.y_true, scores.y_pred, len(scores.classes))
    reason = degenerate_reason(confusion, scores.classes)
    if reason is None:
        return model, []
    finding = Finding(
        concern="performance",
        severity="critical",
        code="degenerate_model",
        message=f"the model is degenerate on the audited rows: {reason}; such a model shows "
        "no disparity and resists every attack, so its fairness and robustness figures cannot "
        "show a low risk",
    )
    return model.model_copy(update={"degenerate": reason}), [finding]


def _model_findings(model: ModelInfo) -> list[Finding]:
    mitigation = model.training.mitigation if model.training is not None else None
    findings = []
    if mitigation is not None and mitigation.needs_sensitive_at_prediction:
        columns = ", ".join(f"'{c}'" for c in mitigation.sensitive)
        findings.append(
            Finding(
                concern="mitigation",
                severity="warning",
                code="sensitive_at_prediction",
                message=f"this model ({mitigation.method}) reads {columns} at prediction "
                "time and treats groups differently: using a protected attribute in decisions "
                "is unlawful in many domains (credit, employment, housing); check before "
                "deploying",
            )
        )
    return findings + _privacy_findings(model) + _one_run_findings(model)


def _one_run_findings(model: ModelInfo) -> list[Finding]:
    """What the one-run audit of training (``rai train --audit-canaries``) says, if it ran."""
    privacy = model.training.privacy if model.training is not None else None
    audit = privacy.one_run_audit if privacy is not None else None
    if audit is None:
        return []
    tampered = _recompute_one_run(audit)
    if tampered is not None:
        return [tampered]
    proven = (
        f"the one-run audit proves epsilon >= {audit.epsilon_lower_bound:.2f} "
        f"({audit.confidence:.0%} confidence, {audit.canaries:,} canaries)"
    )
    if audit.verdict == "inconsistent":
        severity, code = "critical", "dp_guarantee_violated_one_run"
        message = (
            f"{proven}, more than the claimed epsilon {audit.claimed_epsilon:g}: the DP "
            "guarantee does not hold (a bug in training or in its accounting)"
        )
    elif audit.verdict == "inconclusive":
        severity, code = "info", "one_run_audit_inconclusive"
        message = (
            f"the one-run audit cannot test the claimed epsilon {audit.claimed_epsilon:g}: "
            f"its {audit.canaries:,} canaries can show at most epsilon "
            f"{audit.largest_detectable_epsilon:.2f} (insert more canaries)"
        )
    elif audit.verdict == "no_guarantee":
        severity, code = "info", "one_run_audit_without_dp"
        message = f"{proven} for a training run without differential privacy"
    else:
        return []
    return [Finding(concern="privacy", severity=severity, code=code, message=message)]


def _recompute_one_run(audit: OneRunAudit) -> Finding | None:
    """A critical finding when the recorded bound or verdict is not what its counts give."""
    from raikit.models.canaries import (
        GUESS_SHARES,
        largest_detectable_epsilon,
        one_run_epsilon_bound,
        one_run_verdict,
    )

    m, r, v = audit.canaries, audit.guesses, audit.correct_guesses
    if 0 <= v <= r <= m and audit.guess_shares == list(GUESS_SHARES):
        significance = (1 - audit.confidence) / len(GUESS_SHARES)
        bound = one_run_epsilon_bound(m, r, v, audit.delta, significance)
        largest = largest_detectable_epsilon(m, audit.delta, audit.confidence)
        verdict = one_run_verdict(bound, largest, audit.claimed_epsilon)
        if abs(bound - audit.epsilon_lower_bound) <= 1e-5 and verdict == audit.verdict:
            return None
    return Finding(
        concern="privacy",
        severity="critical",
        code="one_run_record_inconsistent",
        message=f"the training record's one-run audit ({v} of {r} guesses right on {m} "
        f"canaries) does not give its recorded bound {audit.epsilon_lower_bound:.3g} and "
        f"verdict '{audit.verdict}': the record is wrong or was edited",
    )


def _privacy_findings(model: ModelInfo) -> list[Finding]:
    dp = model.dp
    if model.training is not None and dp is None:
        return [
            Finding(
                concern="privacy",
                severity="info",
                code="no_dp",
                message="the model was trained without differential privacy: no formal "
                "bound limits what it reveals about its training rows",
            )
        ]
    if dp is None:
        return []
    matches = dp.epsilon_matches()
    if matches is None:
        return [
            Finding(
                concern="privacy",
                severity="warning",
                code="dp_record_unverifiable",
                message="the training record's epsilon cannot be recomputed (no accountant "
                "history, delta or known accountant): the DP guarantee rests on the record alone",
            )
        ]
    if not matches:
        return [
            Finding(
                concern="privacy",
                severity="critical",
                code="dp_record_inconsistent",
                message=f"the training record claims epsilon {dp.epsilon:g}, but its mechanism "
                f"(noise, sampling rate, steps, delta, {dp.accountant}) gives "
                f"{dp.epsilon_recomputed:.6g}: the record is wrong or was edited",
            )
        ]
    return []
