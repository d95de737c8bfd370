"""The evidence bundle: every result of an audit plus the provenance needed to trust it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, SerializeAsAny, ValidationError, model_validator

from raikit.audit.impact import ImpactAssessment
from raikit.audit.impact.risk import Risk
from raikit.audit.impact.verdicts import LEVEL_LABELS, ConcernVerdict, Verdicts
from raikit.audit.policy import GateResult
from raikit.audit.reproduce import Reproduction
from raikit.audit.types import Finding, Frozen, Interval
from raikit.models.errors import ConfigError, DataError
from raikit.models.files import write_file

# The evidence schema is what reports read: they import this module and nothing else of raikit.
__all__ = [
    "LEVEL_LABELS",
    "READABLE_VERSIONS",
    "SCHEMA_VERSION",
    "TrainingRecord",
    "ConcernVerdict",
    "ConfigError",
    "DataError",
    "DataInfo",
    "Evidence",
    "Finding",
    "Frozen",
    "Interval",
    "MitigationRecord",
    "ModelInfo",
    "OneRunAudit",
    "PrivacyRecord",
    "Provenance",
    "Reproduction",
    "Risk",
    "Section",
    "UnregisteredResult",
    "Verdicts",
    "load_evidence",
    "dump_evidence",
    "save_evidence",
    "upgrade",
]

#: Relative agreement between a recorded ε and the ε recomputed from its mechanism (the record
#: rounds ε to 6 decimals; accountants agree far closer than this).
EPSILON_TOLERANCE = 1e-4

#: 2.1: ``reproduction`` (a re-run of the audit, ``rai reproduce``); 2.0: every assessment's
#: result under ``results`` (keyed by its registered name) and how the report shows it under
#: ``sections``; 1.0 kept each result in a top-level field of its own.
SCHEMA_VERSION = "2.1"
READABLE_VERSIONS = ("1.0", "2.0", SCHEMA_VERSION)
_V1_SECTIONS = (
    "performance",
    "fairness",
    "mitigation",
    "pii",
    "membership_inference",
    "explanations",
    "robustness",
)


class DataInfo(Frozen):
    """What data was audited."""

    source: str
    sha256: str
    n_rows_total: int
    n_rows_audited: int
    rows: str
    label: str | None
    positive_label: str | None
    sensitive: list[str]


class OneRunAudit(Frozen):
    """The one-run privacy audit of training (``rai train --audit-canaries``), as recorded.

    ``epsilon_lower_bound`` holds with ``confidence`` at ``delta``; ``verdict`` compares it
    with ``claimed_epsilon`` (``inconclusive``: even all guesses right could not have exceeded
    the claim, ``largest_detectable_epsilon`` being the most these canaries can show).
    """

    method: str
    canaries: int
    canaries_included: int
    canary_kind: str
    seed: int
    score: str
    guesses: int
    correct_guesses: int
    guess_shares: list[float]
    confidence: float
    delta: float
    epsilon_lower_bound: float
    largest_detectable_epsilon: float
    claimed_epsilon: float | None
    verdict: Literal["consistent", "inconsistent", "inconclusive", "no_guarantee"]
    note: str


class PrivacyRecord(Frozen):
    """The training record's privacy section: whether DP-SGD ran, and the guarantee it gives.

    ``history`` holds the accountant's ``[noise_multiplier, sample_rate, steps]`` entries, from
    which the audit recomputes ε at ``delta`` (``epsilon_recomputed``): a record whose
    ``epsilon`` disagrees is not trusted.
    """

    differentially_private: bool
    mechanism: str | None = None
    accountant: str | None = None
    epsilon: float | None = None
    delta: float | None = None
    delta_rule: str | None = None
    target_epsilon: float | None = None
    noise_multiplier: float | None = None
    sample_rate: float | None = None
    expected_batch_size: float | None = None
    steps: int | None = None
    epochs: int | None = None
    max_grad_norm: float | None = None
    engine: str | None = None
    engine_fallback_reason: str | None = None
    n_train_rows: int | None = None
    example_level: bool | None = None
    secure_rng: bool | None = None
    guarantee: str | None = None
    budget_spent: bool | None = None
    module_changes: list[str] = []
    history: list[tuple[float, float, int]] = []
    epsilon_recomputed: float | None = None
    one_run_audit: OneRunAudit | None = None

    def epsilon_matches(self) -> bool | None:
        """Whether the recorded ε is the one its mechanism gives (``None``: not recomputed)."""
        if self.epsilon is None or self.epsilon_recomputed is None:
            return None
        return abs(self.epsilon - self.epsilon_recomputed) <= EPSILON_TOLERANCE * max(
            1.0, self.epsilon_recomputed
        )

    def epsilon_bound(self) -> float | None:
        """The ε a verdict may rely on: the larger of the recorded and the recomputed one."""
        values = [e for e in (self.epsilon, self.epsilon_recomputed) if e is not None]
        return max(values) if values else None


class MitigationRecord(Frozen):
    """How a ``rai mitigate`` model was made (its figures are in the mitigation result)."""

    method: str
    stage: str | None = None
    constraint: str | None = None
    parameter: str | None = None
    strength: float | None = None
    sensitive: list[str] = []
    needs_sensitive_at_prediction: bool = False
    randomised: bool = False
    base_model: str | None = None


class TrainingRecord(Frozen):
    """The gist of the model's ``training.json``: its data, split, settings, test figures,
    privacy guarantee and, for a mitigated model, how it was made."""

    data: dict[str, Any] | None = None
    split: dict[str, Any] | None = None
    hyperparameters: dict[str, Any] = {}
    best_epoch: int | None = None
    test: dict[str, Any] | None = None
    privacy: PrivacyRecord = PrivacyRecord(differentially_private=False)
    mitigation: MitigationRecord | None = None


class ModelInfo(Frozen):
    """What was audited: a raikit checkpoint or a file of predictions."""

    kind: str
    path: str
    files_sha256: dict[str, str]
    architecture: str | None = None
    training: TrainingRecord | None = None
    #: Why its decisions on the audited rows are degenerate (one class, or nearly), if they are.
    degenerate: str | None = None

    @property
    def dp(self) -> PrivacyRecord | None:
        """The DP guarantee of training, or ``None`` when the model was trained without one."""
        privacy = self.training.privacy if self.training is not None else None
        return privacy if privacy is not None and privacy.differentially_private else None


class Provenance(Frozen):
    """Versions, seed and configuration that reproduce the evidence."""

    raikit_version: str
    python_version: str
    packages: dict[str, str]
    seed: int
    config: dict
    created_at: str

    @classmethod
    def now(cls, seed: int, config: dict) -> Provenance:
        """The provenance of evidence made now: installed versions, ``seed``, ``config``.

        ``config`` is stored as its JSON round trip, so a saved bundle reads back equal.
        """
        from raikit.models.provenance import package_versions, raikit_version, utc_now

        return cls(
            raikit_version=raikit_version(),
            python_version=package_versions(())["python"],
            packages=package_versions(),
            seed=seed,
            config=json.loads(json.dumps(config, default=str)),
            created_at=utc_now(),
        )


class Section(Frozen):
    """How the report shows one result: its title, its concern and its template partials.

    Stored with the evidence, so rendering never needs the code that made the result; a result
    without partials is shown as a table of its figures.
    """

    title: str
    concern: str
    html: list[str] = []
    markdown: list[str] = []


class UnregisteredResult(Frozen):
    """A result of an assessment this raikit does not have registered: kept as read."""

    model_config = ConfigDict(frozen=True, extra="allow")
    findings: list[Finding] = []


class Evidence(Frozen):
    """The machine-readable result of one audit; the report and gates read only this.

    ``results`` maps each assessment's registered name to its result, in the order they ran;
    ``sections`` says how the report shows each; ``reproduction`` how a re-run of the audit
    compared (``None``: never reproduced); ``verdicts`` holds what the audit concluded (risk
    register, concern statuses, framework coverage), judged when the evidence was made.
    """

    schema_version: str = SCHEMA_VERSION
    title: str
    data: DataInfo
    model: ModelInfo
    provenance: Provenance
    results: dict[str, SerializeAsAny[Frozen]] = {}
    sections: dict[str, Section] = {}
    impact: ImpactAssessment | None = None
    gate: GateResult | None = None
    reproduction: Reproduction | None = None
    findings: list[Finding] = []
    verdicts: Verdicts | None = None

    @model_validator(mode="before")
    @classmethod
    def _typed_results(cls, raw: Any) -> Any:
        # Each stored result is validated as its assessment's result type.
        if not isinstance(raw, dict) or not isinstance(raw.get("results"), dict):
            return raw
        from raikit.audit.registry import registered_result_type

        results = {}
        for name, value in raw["results"].items():
            result_type = registered_result_type(name) or UnregisteredResult
            results[name] = (
                value if isinstance(value, Frozen) else result_type.model_validate(value)
            )
        return {**raw, "results": results}

    def result(self, name: str) -> Any:
        """The result of the assessment ``name``, or ``None`` when it did not run."""
        return self.results.get(name)

    def with_result(self, name: str, result: Frozen | None) -> Evidence:
        """A copy with ``result`` as the result of the registered assessment ``name``.

        ``None`` removes it. The section (how the report shows it) comes from the registry, and
        the verdicts are judged anew.
        """
        from raikit.audit.impact.verdicts import with_verdicts
        from raikit.audit.registry import section_of

        results = {k: v for k, v in self.results.items() if k != name}
        sections = {k: v for k, v in self.sections.items() if k != name}
        if result is not None:
            results[name], sections[name] = result, section_of(name)
        return with_verdicts(self.model_copy(update={"results": results, "sections": sections}))

    def all_findings(self) -> list[Finding]:
        """Findings of the bundle and of every result, in report order."""
        found = list(self.findings)
        if self.reproduction is not None:
            found.extend(self.reproduction.findings)
        for result in self.results.values():
            if hasattr(result, "all_findings"):
                found.extend(result.all_findings())
            else:
                found.extend(getattr(result, "findings", []))
        return found


def upgrade(raw: dict) -> dict:
    """Evidence JSON of an older readable schema, in the current schema's layout."""
    if raw.get("schema_version") == "2.0":  # 2.1 only added a field
        return {**raw, "schema_version": SCHEMA_VERSION}
    if raw.get("schema_version") != "1.0":
        return raw
    from raikit.audit.registry import section_of

    moved = {k: raw[k] for k in _V1_SECTIONS if raw.get(k) is not None}
    rest = {k: v for k, v in raw.items() if k not in _V1_SECTIONS}
    return {
        **rest,
        "schema_version": SCHEMA_VERSION,
        "results": moved,
        "sections": {name: section_of(name).model_dump() for name in moved},
    }


def dump_evidence(evidence: Evidence) -> str:
    """``evidence`` as indented JSON text (keys in schema order)."""
    return evidence.model_dump_json(indent=2) + "\n"


def save_evidence(evidence: Evidence, path: Path, *, overwrite: bool = True) -> None:
    """Write ``evidence`` to ``path`` atomically (UTF-8 JSON, :func:`dump_evidence`)."""
    write_file(Path(path), dump_evidence(evidence), overwrite=overwrite)


def load_evidence(path: Path) -> Evidence:
    """Read and validate an evidence file; a bad file raises ``DataError`` naming it."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"evidence file '{path}' not found") from None
    except IsADirectoryError:
        raise DataError(f"evidence file '{path}' is a directory; give evidence.json") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"evidence file '{path}' is not valid JSON: {exc}") from None
    except RecursionError:
        raise DataError(f"evidence file '{path}' is not valid JSON: nested too deeply") from None
    if not isinstance(raw, dict):
        raise DataError(f"evidence file '{path}' does not hold a JSON object")
    version = raw.get("schema_version")
    if version not in READABLE_VERSIONS:
        raise DataError(
            f"evidence file '{path}' has schema_version {version!r}; "
            f"this raikit reads {', '.join(map(repr, READABLE_VERSIONS))}"
        )
    try:
        evidence = Evidence.model_validate(upgrade(raw))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise DataError(f"evidence file '{path}' is invalid at '{where}': {first['msg']}") from None
    if evidence.verdicts is None:  # an older schema: judged with this raikit's rules
        from raikit.audit.impact.verdicts import with_verdicts

        evidence = with_verdicts(evidence)
    return evidence
