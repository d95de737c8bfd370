"""What an assessment is: the one shape every concern package exports to the registry.

An :class:`Assessment` names a check, says what it needs (the data, the model's predictions or
the model itself), runs on an :class:`AuditContext` and returns a frozen, serialisable result.
It also says how the result is judged and shown, as plain functions and data:

* ``measures(result)``: the figures a policy can gate on (``thresholds`` in ``policy.yaml``
  name them by ``metric``), each with its subject and interval;
* ``risks(result, limits)``: what the result says about the likelihood of its concern's risks,
  read against the policy's limits;
* ``report``: the template partials that show it (none: the report shows its figures as a
  table).

Assessments never print, render, read CLI options or exit (see ``raikit.audit.registry`` for the
table of them and ``raikit.audit.runner.run_audit`` for the loop).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from raikit.audit.types import Interval

if TYPE_CHECKING:
    import pandas as pd

    from raikit.audit.groups import Grouping
    from raikit.audit.policy import Limits
    from raikit.audit.predictor import Predictor
    from raikit.audit.types import Frozen
    from raikit.models.data import LoadedTable

__all__ = [
    "Assessment",
    "AuditContext",
    "Measure",
    "MeasuredRisk",
    "NotApplicable",
    "ReportSection",
    "Scores",
]

Needs = Literal["data", "predictions", "model"]


class NotApplicable(Exception):
    """Raised by ``run`` when the check does not apply to this model or data (not an error).

    The runner records it as a warning finding with ``code`` and goes on.
    """

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Scores:
    """The model's decisions on the audited rows: labels as class indices, probabilities."""

    y_true: np.ndarray
    y_pred: np.ndarray
    y_score: np.ndarray | None
    classes: list[str]

    @property
    def positive_label(self) -> str | None:
        return self.classes[1] if len(self.classes) == 2 else None


@dataclass(frozen=True)
class AuditContext:
    """Everything an assessment may read; built once per audit by ``run_audit``.

    Attributes
    ----------
    table : LoadedTable
        The whole data as loaded (membership attacks need the model's training rows too).
    audited : pandas.DataFrame
        The rows audited (the held-out test split of the model's own data, or all rows).
    label : str or None
        Label column; ``None`` for a data-only audit (a PII scan).
    sensitive : tuple of str
        Sensitive columns.
    grouping : Grouping or None
        How the sensitive columns form groups, fitted once on the whole table
        (:mod:`raikit.audit.groups`); ``None`` without sensitive columns.
    predictor : Predictor or None
        The model; ``None`` when auditing a predictions table or data alone.
    scores : Scores or None
        Decisions on ``audited``; ``None`` for a data-only audit.
    seed, n_bootstrap, confidence_level, min_group_size, threshold
        The audit's shared settings.
    limits : Limits
        The policy's limits (the defaults where the user gave none).
    progress : bool
        Whether long steps may show a progress bar on stderr.
    """

    table: LoadedTable
    audited: pd.DataFrame
    label: str | None
    sensitive: tuple[str, ...]
    grouping: Grouping | None
    predictor: Predictor | None
    scores: Scores | None
    seed: int
    n_bootstrap: int
    confidence_level: float
    min_group_size: int
    threshold: float
    limits: Limits
    progress: bool = False


@dataclass(frozen=True)
class Measure:
    """One figure a policy threshold can gate on: ``metric`` of ``subject``."""

    metric: str
    subject: str
    value: Interval


@dataclass(frozen=True)
class MeasuredRisk:
    """What a measurement says about the likelihood (1-5) of a risk of its concern.

    ``measures`` names the declared risks of ``impact.yaml`` it speaks to, and the only ones it
    may move: ``"risk:<concern>"`` for the ``risks`` entries of a concern, ``"threat:<name>"``
    for a security threat (``privacy_leakage``, ``data_misuse``, ``adversarial_input``, ...).
    Empty: the concern's own ``risks`` entries. A misuse scenario is measured by nothing.
    """

    concern: str
    title: str
    #: ``None``: the measurement cannot carry a verdict (e.g. the model is degenerate).
    likelihood: int | None
    basis: str
    measures: tuple[str, ...] = ()
    #: Read from the model's decisions: a degenerate model makes a low figure meaningless.
    from_decisions: bool = False

    def declared_kinds(self) -> tuple[str, ...]:
        """The kinds of declared risk this measurement may move."""
        return self.measures or (f"risk:{self.concern}",)


@dataclass(frozen=True)
class ReportSection:
    """Template partials (in ``reports/templates``) that show an assessment's result."""

    html: tuple[str, ...] = ()
    markdown: tuple[str, ...] = ()


def _no_measures(result: Any) -> list[Measure]:
    return []


def _no_risks(result: Any, limits: Limits) -> list[MeasuredRisk]:
    return []


@dataclass(frozen=True)
class Assessment:
    """One registered check.

    Attributes
    ----------
    name : str
        Key of its result in ``Evidence.results`` and of ``run_audit(checks=...)``.
    title : str
        What it measures, in the report's words.
    concern : str
        The societal concern it measures (a name in ``raikit.audit.impact.concerns``).
    needs : {"data", "predictions", "model"}
        ``data``: the rows alone; ``predictions``: decisions (a model or a predictions
        table); ``model``: a model to query (and, for some, its training record).
    result_type : type
        The frozen pydantic model ``run`` returns.
    run : callable
        ``run(context, config) -> result``; ``config`` is an instance of ``config_type``.
    config_type : type or None
        Its validated settings (a :class:`raikit.models.settings.Settings` model), built with
        defaults when the caller gives none; ``None`` when the audit's shared settings are all
        it reads.
    metrics : tuple of str
        The names of the figures ``measures`` returns: what a ``policy.yaml`` threshold may
        name (a policy naming any other metric is refused when it is read).
    measures, risks : callable
        See the module docstring.
    report : ReportSection
        How the report shows it.
    on_request : bool
        Measured only when the audit is given what it compares with (the comparison: a
        baseline model), so its absence leaves no gap in its concern's coverage.
    """

    name: str
    title: str
    concern: str
    needs: Needs
    result_type: type[Frozen]
    run: Callable[[AuditContext, Any], Frozen]
    config_type: Callable[..., Any] | None
    metrics: tuple[str, ...] = ()
    measures: Callable[[Any], list[Measure]] = _no_measures
    risks: Callable[[Any, Limits], list[MeasuredRisk]] = _no_risks
    report: ReportSection = field(default_factory=ReportSection)
    on_request: bool = False
