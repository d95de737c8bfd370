"""``run_audit``: score the data, run every assessment and assemble the evidence bundle."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from raikit.audit.evidence import DataInfo, Evidence, ModelInfo, Provenance
from raikit.audit.types import Finding
from raikit.models.errors import ConfigError, DataError
from raikit.models.provenance import sha256_file
from raikit.models.schema import Schema, binarize_labels, label_text, validate_frame

if TYPE_CHECKING:
    from raikit.audit.explain import ExplainConfig
    from raikit.audit.pii import ScanConfig
    from raikit.audit.predictor import Predictor
    from raikit.audit.privacy import MembershipConfig
    from raikit.audit.robustness import RobustnessConfig
    from raikit.models.data import LoadedTable

PREDICTION_COLUMNS = ("y_true", "y_pred", "y_score")
ROW_CHOICES = ("auto", "all", "test")


@dataclass(frozen=True)
class AuditConfig:
    """What to audit and how.

    ``rows``: ``"auto"`` audits only the held-out test split when the data is the model's own
    training data (same sha256), otherwise every row; ``"test"`` insists on the test split;
    ``"all"`` audits every row.
    """

    label: str
    sensitive: tuple[str, ...]
    positive_label: str | None = None
    rows: str = "auto"
    threshold: float = 0.5
    seed: int = 0
    n_bootstrap: int = 1000
    confidence_level: float = 0.95
    min_group_size: int = 30
    title: str | None = None

    def __post_init__(self) -> None:
        if self.rows not in ROW_CHOICES:
            raise ConfigError(f"rows must be one of {', '.join(ROW_CHOICES)}; got '{self.rows}'")
        if not 0 < self.threshold < 1:
            raise ConfigError(f"threshold must be between 0 and 1; got {self.threshold}")
        if not 0.5 <= self.confidence_level < 1:
            raise ConfigError(f"confidence level must be in [0.5, 1); got {self.confidence_level}")
        if self.n_bootstrap < 100:
            raise ConfigError(f"n_bootstrap must be at least 100; got {self.n_bootstrap}")
        if self.min_group_size < 1:
            raise ConfigError(f"min_group_size must be at least 1; got {self.min_group_size}")


def run_audit(
    table: LoadedTable,
    config: AuditConfig,
    predictor: Predictor | None = None,
    pii: ScanConfig | None = None,
    membership: MembershipConfig | None = None,
    explain: ExplainConfig | None = None,
    robustness: RobustnessConfig | None = None,
) -> Evidence:
    """Audit ``predictor`` on ``table``, or, without a predictor, a table of predictions.

    A predictions table holds ``y_true``, ``y_pred``, optionally ``y_score`` (probability of
    the positive label) and the sensitive columns; ``config.label`` then names the
    ``y_true`` column.

    With ``pii`` (a :class:`raikit.audit.pii.ScanConfig`), every row of the table is also scanned
    for personal data and its re-identification risk measured (``Evidence.pii``).

    With ``membership`` (a :class:`raikit.audit.privacy.MembershipConfig`) and a model, the model is
    attacked by membership inference on its own training data (``Evidence.membership_inference``).

    With ``explain`` (a :class:`raikit.audit.explain.ExplainConfig`), the model's decisions on the
    audited rows are attributed to its inputs (``Evidence.explanations``).

    With ``robustness`` (a :class:`raikit.audit.robustness.RobustnessConfig`), the model's
    counterfactual, perturbation and adversarial robustness is measured on the audited rows
    (``Evidence.robustness``); its label and sensitive columns default to the audit's.

    Returns
    -------
    Evidence
        Performance, fairness and provenance of the audited rows.
    """
    from raikit.audit.fairness import FairnessConfig, assess_fairness
    from raikit.audit.groups import fit_groups
    from raikit.audit.performance import assess_performance

    needs_model = {
        "explanations": explain,
        "a membership attack": membership,
        "robustness tests": robustness,
    }
    asked = [name for name, option in needs_model.items() if option is not None]
    if predictor is None and asked:
        raise ConfigError(f"{' and '.join(asked)} need a model, not a predictions file")
    frame = table.frame
    validate_frame(
        frame, Schema(label=config.label, sensitive=config.sensitive), source=table.source
    )
    # Groups are fitted once on the whole table, so every concern shows the same groups.
    grouping = fit_groups(frame[list(config.sensitive)])
    findings: list[Finding] = []
    if predictor is None:
        rows_note, y_true, y_pred, y_score, classes = _read_predictions(table, config)
        audited = frame
        model_info = ModelInfo(
            kind="predictions-file", path=table.source, files_sha256={table.source: table.sha256}
        )
    else:
        audited, rows_note, row_findings = select_rows(table, config, predictor)
        findings.extend(row_findings)
        y_true, y_pred, y_score, classes = _score(audited, config, predictor)
        model_info = describe_model(predictor)
        findings.extend(_model_findings(model_info))

    performance = assess_performance(
        y_true,
        y_pred,
        classes,
        y_score=y_score,
        n_bootstrap=config.n_bootstrap,
        confidence_level=config.confidence_level,
        seed=config.seed,
    )
    fairness = None
    if len(classes) == 2:
        sensitive_frame = audited[list(config.sensitive)].reset_index(drop=True)
        fairness = assess_fairness(
            y_true,
            y_pred,
            sensitive_frame,
            positive_label=classes[1],
            config=FairnessConfig(
                min_group_size=config.min_group_size,
                n_bootstrap=config.n_bootstrap,
                confidence_level=config.confidence_level,
                seed=config.seed,
            ),
            grouping=grouping,
        )
    else:
        findings.append(
            Finding(
                concern="fairness",
                severity="warning",
                code="multiclass_not_assessed",
                message=f"group fairness is assessed for binary decisions; this model has "
                f"{len(classes)} classes",
            )
        )

    pii_result = None
    if pii is not None:
        from raikit.audit.pii import scan_table

        pii_result = scan_table(frame, pii, source=table.source)
    membership_result = None
    if membership is not None:
        from raikit.audit.privacy import assess_membership_inference

        membership_result = assess_membership_inference(
            predictor, table, config.sensitive, membership, grouping=grouping
        )
    explanations = None
    if explain is not None:
        from raikit.audit.explain import assess_explanations, reference_rows

        explanations = assess_explanations(
            predictor,
            audited,
            label=config.label,
            sensitive=config.sensitive,
            reference=reference_rows(predictor, frame, table.sha256),
            config=explain,
            grouping=grouping,
        )
    robustness_result = None
    if robustness is not None:
        from raikit.audit.robustness import assess_robustness

        robustness_result = assess_robustness(
            predictor,
            audited,
            replace(
                robustness,
                label=robustness.label or config.label,
                sensitive=robustness.sensitive or tuple(config.sensitive),
            ),
            grouping=grouping if robustness.sensitive in ((), tuple(config.sensitive)) else None,
        )
    positive = classes[1] if len(classes) == 2 else None
    return Evidence(
        title=config.title or f"Audit of {model_info.path} on {table.source}",
        data=DataInfo(
            source=table.source,
            sha256=table.sha256,
            n_rows_total=len(frame),
            n_rows_audited=len(audited),
            rows=rows_note,
            label=config.label,
            positive_label=positive,
            sensitive=list(config.sensitive),
        ),
        model=model_info,
        provenance=Provenance.now(config.seed, asdict(config)),
        performance=performance,
        fairness=fairness,
        pii=pii_result,
        membership_inference=membership_result,
        explanations=explanations,
        robustness=robustness_result,
        findings=findings,
    )


def select_rows(
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


def _score(
    frame: pd.DataFrame, config: AuditConfig, predictor: Predictor
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
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
    if len(classes) == 2:
        y_pred = (y_score[:, 1] >= config.threshold).astype(np.int64)
    else:
        y_pred = y_score.argmax(axis=1)
    return y_true, y_pred, y_score, classes


def _read_predictions(
    table: LoadedTable, config: AuditConfig
) -> tuple[str, np.ndarray, np.ndarray, np.ndarray | None, list[str]]:
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
    return "all rows", y_true, y_pred, y_score, [str(negative), str(positive)]


def describe_model(predictor: Predictor) -> ModelInfo:
    """What was audited: kind, path, file hashes, architecture and the training record's gist."""
    path = predictor.path
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    checkpoint = getattr(predictor, "checkpoint", None)
    record = getattr(checkpoint, "record", None)
    config = getattr(checkpoint, "config", {}) or {}
    training = None
    if record:
        training = {
            key: record.get(key)
            for key in ("data", "split", "hyperparameters", "best_epoch", "test", "privacy")
        }
        if "mitigation" in record:  # how a `rai mitigate` model was made (not its figures)
            training["mitigation"] = {
                k: v for k, v in record["mitigation"].items() if k in _MITIGATION_KEYS
            }
    return ModelInfo(
        kind=predictor.kind,
        path=str(path),
        files_sha256={p.name: sha256_file(p) for p in files},
        architecture=config.get("architecture"),
        training=training,
    )


_MITIGATION_KEYS = (
    "method",
    "stage",
    "constraint",
    "parameter",
    "strength",
    "sensitive",
    "needs_sensitive_at_prediction",
    "randomised",
    "base_model",
)


def _model_findings(model: ModelInfo) -> list[Finding]:
    mitigation = (model.training or {}).get("mitigation") or {}
    findings = []
    if mitigation.get("needs_sensitive_at_prediction"):
        columns = ", ".join(f"'{c}'" for c in mitigation.get("sensitive", []))
        findings.append(
            Finding(
                concern="mitigation",
                severity="warning",
                code="sensitive_at_prediction",
                message=f"this model ({mitigation.get('method')}) reads {columns} at prediction "
                "time and treats groups differently: using a protected attribute in decisions "
                "is unlawful in many domains (credit, employment, housing); check before "
                "deploying",
            )
        )
    return findings + _privacy_findings(model)


def _privacy_findings(model: ModelInfo) -> list[Finding]:
    privacy = (model.training or {}).get("privacy") or {}
    if model.training is not None and not privacy.get("differentially_private"):
        return [
            Finding(
                concern="privacy",
                severity="info",
                code="no_dp",
                message="the model was trained without differential privacy: no formal "
                "bound limits what it reveals about its training rows",
            )
        ]
    return []
