"""Reproduction of an audit: re-run it from its recorded inputs and compare every figure.

:func:`reproduce` checks the recorded data and model by sha256, re-runs
:func:`raikit.audit.runner.run_audit` with the recorded configuration, seed and policy, and
compares the two evidences (:func:`compare_evidence`, pure: :func:`compare_figures` and
:func:`compare_packages`). The :class:`Reproduction` it returns, attached to the evidence
(:func:`attach_reproduction`), is what measures the "impact on science" concern.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raikit.audit.types import Finding, Frozen
from raikit.models.errors import ConfigError, DataError, ModelError

if TYPE_CHECKING:
    from raikit.audit.assessment import MeasuredRisk
    from raikit.audit.evidence import Evidence
    from raikit.audit.runner import AuditConfig

__all__ = [
    "DEFAULT_TOLERANCE",
    "FigureChange",
    "FigureComparison",
    "PackageChange",
    "Reproduction",
    "attach_reproduction",
    "compare_evidence",
    "compare_figures",
    "compare_packages",
    "reproduce",
    "reproduction_risks",
]

#: Relative and absolute difference up to which a re-run figure still counts as reproduced.
DEFAULT_TOLERANCE = 1e-6
#: The risk a reproduction measures (the "science" concern's own declared risks).
IRREPRODUCIBLE_RISK = "Audit figures that do not reproduce"
# Checks whose recorded settings name files they write: a re-run would write them again.
_WRITES_FILES = {"mitigation": "out_dir", "pii": "anonymized_copy"}
# Keys that name an entry of a list of results (a group, an attribute, a metric).
_NAME_KEYS = ("name", "label", "attribute", "metric", "column")

Figure = bool | int | float | None


class FigureChange(Frozen):
    """A figure whose re-run value is not exactly the recorded one (``None``: null or absent)."""

    path: str
    recorded: Figure
    reproduced: Figure


class FigureComparison(Frozen):
    """Every numeric figure of two evidences compared: exact, within tolerance, or drifted."""

    tolerance: float
    n_figures: int
    n_exact: int
    within_tolerance: list[FigureChange] = []
    drifted: list[FigureChange] = []


class PackageChange(Frozen):
    """A package whose version now differs from the recorded one (``None``: not installed)."""

    package: str
    recorded: str | None
    now: str | None


class Reproduction(Frozen):
    """A re-run of an audit from its recorded inputs, compared figure by figure.

    ``data`` and ``model`` say where the inputs were read; both matched the recorded sha256.
    """

    created_at: str
    data: str
    model: str | None
    figures: FigureComparison
    packages: list[PackageChange] = []
    findings: list[Finding] = []

    @property
    def reproduced(self) -> bool:
        """Whether every figure came out the same, exactly or within the tolerance."""
        return not self.figures.drifted


def _entry_name(item: Any) -> str | None:
    if isinstance(item, dict):
        for key in _NAME_KEYS:
            if isinstance(item.get(key), str):
                return item[key]
    return None


def _figures(value: Any, path: str, out: dict[str, Figure]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _figures(item, f"{path}.{key}" if path else str(key), out)
    elif isinstance(value, list):
        # Entries are named by their group, attribute or metric when those are unique.
        names = [_entry_name(item) for item in value]
        named = None not in names and len(set(names)) == len(names)
        for index, item in enumerate(value):
            _figures(item, f"{path}[{names[index] if named else index}]", out)
    elif value is None or isinstance(value, (bool, int, float)):
        out[path] = value


def _same(a: Figure, b: Figure) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def _close(a: Figure, b: Figure, tolerance: float) -> bool:
    numbers = [x for x in (a, b) if isinstance(x, (int, float)) and not isinstance(x, bool)]
    return len(numbers) == 2 and math.isclose(a, b, rel_tol=tolerance, abs_tol=tolerance)  # type: ignore[arg-type]


def compare_figures(
    recorded: dict, reproduced: dict, tolerance: float = DEFAULT_TOLERANCE
) -> FigureComparison:
    """Compare every numeric figure (numbers, booleans) of two JSON documents.

    A figure is named by its path (``results.performance.accuracy.value``; list entries by
    their ``name``/``label``/``attribute``/``metric``/``column`` when unique, else by index).
    Text is not compared; a figure that is ``null`` on both sides is not counted; one present
    on one side only has drifted.

    Parameters
    ----------
    recorded, reproduced : dict
        The documents, as JSON data.
    tolerance : float
        Relative and absolute difference (``math.isclose``) a figure may differ by and still
        count as reproduced.

    Returns
    -------
    FigureComparison

    Examples
    --------
    >>> c = compare_figures({"a": [{"name": "x", "v": 0.5}]}, {"a": [{"name": "x", "v": 0.6}]})
    >>> c.drifted[0].path, c.drifted[0].recorded, c.drifted[0].reproduced
    ('a[x].v', 0.5, 0.6)
    """
    before: dict[str, Figure] = {}
    after: dict[str, Figure] = {}
    _figures(recorded, "", before)
    _figures(reproduced, "", after)
    n_figures = n_exact = 0
    close, drifted = [], []
    for path in dict.fromkeys([*before, *after]):
        a, b = before.get(path), after.get(path)
        if a is None and b is None:
            continue
        n_figures += 1
        if _same(a, b):
            n_exact += 1
            continue
        change = FigureChange(path=path, recorded=a, reproduced=b)
        (close if _close(a, b, tolerance) else drifted).append(change)
    return FigureComparison(
        tolerance=tolerance,
        n_figures=n_figures,
        n_exact=n_exact,
        within_tolerance=close,
        drifted=drifted,
    )


def compare_packages(recorded: dict[str, str], now: dict[str, str]) -> list[PackageChange]:
    """The recorded packages whose version ``now`` differs (packages recorded only)."""
    return [
        PackageChange(package=name, recorded=version, now=now.get(name))
        for name, version in recorded.items()
        if now.get(name) != version
    ]


def compare_evidence(
    recorded: Evidence,
    reproduced: Evidence,
    tolerance: float = DEFAULT_TOLERANCE,
    *,
    data: str,
    model: str | None,
) -> Reproduction:
    """The :class:`Reproduction` of ``recorded`` by ``reproduced``: figures of the audited data
    and of every result, package versions, and findings saying what did not reproduce."""
    from raikit.models.provenance import utc_now

    fields = {"data", "results"}
    figures = compare_figures(
        recorded.model_dump(mode="json", include=fields),
        reproduced.model_dump(mode="json", include=fields),
        tolerance,
    )
    packages = compare_packages(recorded.provenance.packages, reproduced.provenance.packages)
    findings = []
    if figures.drifted:
        findings.append(
            Finding(
                concern="science",
                severity="warning",
                code="reproduction_drift",
                message=f"{len(figures.drifted)} of {figures.n_figures} figures drifted beyond "
                f"tolerance {tolerance:g} when the audit was re-run from the same data, model, "
                "seed and configuration",
            )
        )
    if packages:
        changed = ", ".join(f"{p.package} {p.recorded} -> {p.now}" for p in packages)
        findings.append(
            Finding(
                concern="science",
                severity="info",
                code="package_versions_differ",
                message=f"the re-run used other package versions than the audit: {changed}",
            )
        )
    return Reproduction(
        created_at=utc_now(),
        data=data,
        model=model,
        figures=figures,
        packages=packages,
        findings=findings,
    )


def reproduce(
    evidence: Evidence,
    data: str | Path | None = None,
    model: str | Path | None = None,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    progress: bool = False,
) -> Reproduction:
    """Re-run the audit of ``evidence`` from its recorded inputs and compare every figure.

    Parameters
    ----------
    evidence : Evidence
        The audit to reproduce (see :func:`raikit.audit.evidence.load_evidence`).
    data, model : str or pathlib.Path, optional
        Where the audited data and model are now (default: the paths the evidence records).
    tolerance : float
        See :func:`compare_figures`.
    progress : bool
        Let long steps show a progress bar on stderr.

    Returns
    -------
    Reproduction

    Raises
    ------
    DataError, ModelError
        When the data or model is not found or is not the audited one (its sha256 differs).
    ConfigError
        When the recorded configuration cannot be re-run (a check that writes files, a check
        this raikit does not have), or ``tolerance`` is not a finite number >= 0.
    """
    from raikit.audit.runner import run_audit

    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise ConfigError(f"tolerance must be a finite number >= 0; got {tolerance}")
    config, checks = _recorded_run(evidence)
    table = _audited_table(evidence, data)
    predictor, model_path = _audited_model(evidence, model)
    policy = evidence.gate.policy if evidence.gate is not None else None
    rerun = run_audit(table, config, predictor, checks, policy=policy, progress=progress)
    return compare_evidence(evidence, rerun, tolerance, data=table.source, model=model_path)


def _recorded_run(evidence: Evidence) -> tuple[AuditConfig, dict[str, Any]]:
    """The audit's configuration and checks, rebuilt from its provenance."""
    from raikit.audit.registry import assessment
    from raikit.audit.runner import AuditConfig

    settings = dict(evidence.provenance.config)
    recorded_checks = settings.pop("checks", None)
    if not isinstance(recorded_checks, dict):
        raise ConfigError("the evidence records no checks to re-run (it predates `rai reproduce`)")
    checks: dict[str, Any] = {}
    for name, options in recorded_checks.items():
        item = assessment(name)
        writes = _WRITES_FILES.get(name)
        if writes and isinstance(options, dict) and options.get(writes) is not None:
            raise ConfigError(
                f"the '{name}' check wrote files ({writes}: {options[writes]}); re-run its "
                "command to reproduce it"
            )
        if options is None or item.config_type is None:
            checks[name] = None
        else:
            validate = getattr(item.config_type, "model_validate", None)
            checks[name] = validate(options) if validate else item.config_type(**options)
    return AuditConfig.model_validate(settings), checks


def _audited_table(evidence: Evidence, data: str | Path | None) -> Any:
    from raikit.models.data import BUILTIN_PREFIX, load_table

    source = str(data) if data is not None else evidence.data.source
    if data is None and not source.startswith(BUILTIN_PREFIX) and not Path(source).exists():
        raise DataError(f"the audited data '{source}' was not found; give its location with --data")
    table = load_table(source)
    if table.sha256 != evidence.data.sha256:
        raise DataError(
            f"data '{source}' is not the audited data: its sha256 {table.sha256[:12]}... "
            f"differs from the recorded {evidence.data.sha256[:12]}..."
        )
    return table


def _audited_model(evidence: Evidence, model: str | Path | None) -> tuple[Any, str | None]:
    """The audited model, loaded and checked file by file; ``None`` when the audit had none."""
    from raikit.audit.predictor import load_predictor
    from raikit.audit.runner import MODELLESS_KINDS, describe_model

    if evidence.model.kind in MODELLESS_KINDS:
        if model is not None:
            raise ConfigError(
                f"the evidence audited no model ({evidence.model.kind}): drop --model"
            )
        return None, None
    path = str(model) if model is not None else evidence.model.path
    if model is None and not Path(path).exists():
        raise ModelError(
            f"the audited model '{path}' was not found; give its location with --model"
        )
    predictor = load_predictor(path)
    recorded, now = evidence.model.files_sha256, describe_model(predictor).files_sha256
    changed = sorted(name for name in {*recorded, *now} if recorded.get(name) != now.get(name))
    if changed:
        raise ModelError(
            f"model '{path}' is not the audited model: {', '.join(changed)} "
            "differ(s) from the recorded sha256"
        )
    return predictor, path


def attach_reproduction(evidence: Evidence, reproduction: Reproduction) -> Evidence:
    """A copy of ``evidence`` with ``reproduction`` (replacing any earlier one), judged anew."""
    from raikit.audit.impact.verdicts import with_verdicts

    return with_verdicts(evidence.model_copy(update={"reproduction": reproduction}))


def reproduction_risks(evidence: Evidence) -> list[MeasuredRisk]:
    """What the evidence's reproduction says of the science concern (nothing without one)."""
    from raikit.audit.assessment import MeasuredRisk

    reproduction = evidence.reproduction
    if reproduction is None:
        return []
    figures = reproduction.figures
    if figures.drifted:
        first = figures.drifted[0]
        basis = (
            f"measured: re-run from the same inputs, seed and configuration, "
            f"{len(figures.drifted)} of {figures.n_figures} figures drifted beyond "
            f"{figures.tolerance:g} (e.g. {first.path}: {first.recorded} recorded, "
            f"{first.reproduced} re-run)"
        )
        return [MeasuredRisk("science", IRREPRODUCIBLE_RISK, 4, basis)]
    basis = (
        f"measured: re-run from the same inputs, seed and configuration, all "
        f"{figures.n_figures} figures reproduced ({figures.n_exact} exactly, "
        f"{len(figures.within_tolerance)} within {figures.tolerance:g})"
    )
    if reproduction.packages:
        basis += f", with {len(reproduction.packages)} package version(s) differing"
    return [MeasuredRisk("science", IRREPRODUCIBLE_RISK, 1, basis)]
