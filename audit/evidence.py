"""The evidence bundle: every result of an audit plus the provenance needed to trust it."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from raikit.audit.explain.result import ExplanationResult
from raikit.audit.fairness import FairnessResult
from raikit.audit.impact import ImpactAssessment
from raikit.audit.mitigation import MitigationResult
from raikit.audit.performance import PerformanceResult
from raikit.audit.pii import PiiResult
from raikit.audit.policy import GateResult
from raikit.audit.privacy import MembershipInferenceResult
from raikit.audit.robustness import RobustnessResult
from raikit.audit.types import Finding, Frozen
from raikit.models.errors import DataError

SCHEMA_VERSION = "1.0"


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


class ModelInfo(Frozen):
    """What was audited: a raikit checkpoint or a file of predictions."""

    kind: str
    path: str
    files_sha256: dict[str, str]
    architecture: str | None = None
    training: dict | None = None


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


class Evidence(Frozen):
    """The machine-readable result of one audit; the report and gates read only this."""

    schema_version: str = SCHEMA_VERSION
    title: str
    data: DataInfo
    model: ModelInfo
    provenance: Provenance
    performance: PerformanceResult | None = None
    fairness: FairnessResult | None = None
    impact: ImpactAssessment | None = None
    gate: GateResult | None = None
    mitigation: MitigationResult | None = None
    pii: PiiResult | None = None
    membership_inference: MembershipInferenceResult | None = None
    explanations: ExplanationResult | None = None
    findings: list[Finding] = []
    robustness: RobustnessResult | None = None

    def all_findings(self) -> list[Finding]:
        """Findings of the bundle and of every section, in report order."""
        found = list(self.findings)
        for section in (self.performance, self.fairness, self.mitigation):
            if section is not None:
                found.extend(section.findings)
        if self.pii is not None:
            found.extend(self.pii.all_findings())
        if self.membership_inference is not None:
            found.extend(self.membership_inference.findings)
        if self.explanations is not None:
            found.extend(self.explanations.findings)
        if self.robustness is not None:
            found.extend(self.robustness.findings)
        return found


def save_evidence(evidence: Evidence, path: Path) -> None:
    """Write ``evidence`` as indented JSON (UTF-8, keys in schema order)."""
    path.write_text(evidence.model_dump_json(indent=2) + "\n", encoding="utf-8")


def load_evidence(path: Path) -> Evidence:
    """Read and validate an evidence file; a bad file raises ``DataError`` naming it."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"evidence file '{path}' not found") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"evidence file '{path}' is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise DataError(f"evidence file '{path}' does not hold a JSON object")
    version = raw.get("schema_version")
    if version != SCHEMA_VERSION:
        raise DataError(
            f"evidence file '{path}' has schema_version {version!r}; "
            f"this raikit reads {SCHEMA_VERSION!r}"
        )
    try:
        return Evidence.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise DataError(f"evidence file '{path}' is invalid at '{where}': {first['msg']}") from None
