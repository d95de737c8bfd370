"""Preparing a table for the analyzer and analysing each distinct value once (see audit.pii)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import model_validator
from typing_extensions import Self

from raikit.audit.pii._recognizers import DEFAULT_ENTITIES, DEFAULT_MODEL, EngineSpec, Hit
from raikit.models.errors import ConfigError
from raikit.models.settings import Count, Probability, Settings

MAX_CELL_CHARS = 100_000


class ScanConfig(Settings):
    """What to look for and where to run.

    Parameters
    ----------
    model : str or None
        Installed spaCy model package; None for presidio's ``no_op`` engine (``--no-ner``).
    entities : tuple of str
        Presidio entity types to report.
    score_threshold : float
        Hits scoring below this are dropped (in [0, 1]).
    engine : {"local", "dask"}
        Where the analyzers run; ``n_process`` processes (or LocalCluster workers).
    scheduler : str, optional
        Address of a running Dask scheduler.
    min_column_share : float
        A column where one entity type covers at least this share of rows is an identifier.
    max_locations : int
        Locations kept in the result (all are counted).
    samples_per_entity : int
        Masked samples kept per column and entity type.
    """

    model: str | None = DEFAULT_MODEL
    entities: tuple[str, ...] = DEFAULT_ENTITIES
    score_threshold: Probability = 0.35
    engine: Literal["local", "dask"] = "local"
    n_process: int = 1
    scheduler: str | None = None
    min_column_share: Probability = 0.5
    max_locations: Count = 1000
    samples_per_entity: Count = 3

    @model_validator(mode="after")
    def _known_entities(self) -> Self:
        unknown = sorted(set(self.entities) - set(DEFAULT_ENTITIES))
        if unknown:
            raise ConfigError(
                f"unknown entity type(s) {unknown}; choose from {sorted(DEFAULT_ENTITIES)}"
            )
        return self

    @property
    def spec(self) -> EngineSpec:
        return EngineSpec(model=self.model)


@dataclass
class ColumnHits:
    column: str
    dtype: str
    n_values: int
    codes: np.ndarray  # per row: index into uniques, -1 for missing
    uniques: list[str]
    hits: list[list[Hit]] = field(default_factory=list)
    note: str | None = None
    scanned: bool = True
    word_count: float = 0.0
    n_distinct: int = 0


@dataclass
class TableHits:
    """Per-column distinct values and their hits: the input of summaries and anonymisation."""

    columns: list[ColumnHits]
    n_rows: int
    n_distinct_analyzed: int
    truncated_cells: int


def _cell_text(value: object) -> str | None:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, pd.Timestamp | np.datetime64):
        return pd.Timestamp(value).isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _prepare(series: pd.Series, name: str) -> ColumnHits:
    col = _prepare_values(series, name)
    col.n_distinct = int(series.nunique(dropna=True))
    return col


def _prepare_values(series: pd.Series, name: str) -> ColumnHits:
    dtype = str(series.dtype)
    non_null = int(series.notna().sum())
    if pd.api.types.is_bool_dtype(series):
        return ColumnHits(
            name,
            dtype,
            non_null,
            np.full(len(series), -1),
            [],
            scanned=False,
            note="boolean: cannot hold personal data",
        )
    if pd.api.types.is_datetime64_any_dtype(series):
        codes, uniques = pd.factorize(series)
        return ColumnHits(
            name,
            dtype,
            non_null,
            codes,
            [],
            scanned=False,
            note="dates: a quasi-identifier, not analysed as text",
        )
    if pd.api.types.is_numeric_dtype(series):
        values = series.dropna()
        integral = bool(len(values)) and bool((values == np.floor(values)).all())
        if not integral or float(values.abs().max()) < 1e8:
            return ColumnHits(
                name,
                dtype,
                non_null,
                np.full(len(series), -1),
                [],
                scanned=False,
                note="numbers too short for an identifier",
            )
        series = series.map(lambda v: None if pd.isna(v) else str(int(v)))
    if pd.api.types.infer_dtype(series, skipna=True) != "string":  # text is its own text
        series = series.map(_cell_text)
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    return ColumnHits(name, dtype, non_null, codes, [str(u) for u in uniques])


def analyze_table(
    frame: pd.DataFrame, config: ScanConfig, columns: list[str] | None = None, analyzer=None
) -> TableHits:
    """Find PII in ``frame``: each distinct value of each column is analysed once.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table; it is not modified.
    config : ScanConfig
        Entity types, threshold and engine.
    columns : list of str, optional
        Columns to scan; all when None.
    analyzer : presidio_analyzer.AnalyzerEngine, optional
        A ready engine for a local, single-process scan.

    Returns
    -------
    TableHits
        Distinct values and hits per column; pass it to :func:`summarise_hits` or
        :func:`raikit.audit.pii.anonymize.anonymize_frame`.
    """
    from raikit.audit.pii._exec import run_analysis

    chosen = list(frame.columns) if columns is None else list(columns)
    missing = [c for c in chosen if c not in frame.columns]
    if missing:
        raise ConfigError(f"column(s) {missing} not found; the table has {list(frame.columns)}")
    prepared = [_prepare(frame[c], str(c)) for c in chosen]
    index: dict[str, int] = {}
    truncated = 0
    for col in prepared:
        for value in col.uniques:
            index.setdefault(value[:MAX_CELL_CHARS], len(index))
            truncated += len(value) > MAX_CELL_CHARS
    texts = list(index)
    hits = run_analysis(
        texts,
        config.spec,
        entities=list(config.entities),
        score_threshold=config.score_threshold,
        engine=config.engine,
        n_process=config.n_process,
        scheduler=config.scheduler,
        analyzer=analyzer,
    )
    for col in prepared:
        col.hits = [hits[index[v[:MAX_CELL_CHARS]]] for v in col.uniques]
        if col.uniques:
            counts = np.bincount(col.codes[col.codes >= 0], minlength=len(col.uniques))
            words = np.array([len(v.split()) for v in col.uniques], dtype=float)
            col.word_count = float(np.median(np.repeat(words, counts))) if counts.sum() else 0.0
    return TableHits(prepared, len(frame), len(texts), truncated)
