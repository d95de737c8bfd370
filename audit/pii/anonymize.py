"""A de-identified copy of a table, with presidio-anonymizer, from the hits of one scan.

A column the scan classes as a direct identifier (one identifying type in most rows: a name,
e-mail or phone column) has every value replaced, as one span of its dominant type: NER misses
some names and patterns miss some phone formats, and a missed value left in clear in such a
column is the very identifier the copy is meant to remove. Other columns (free text) have
their detected spans replaced and keep the rest of their words. Each distinct value is
anonymised once and mapped back to its rows. The input frame is never modified; the caller
writes the copy where it chooses.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from raikit.models.errors import ConfigError, OutputError
from raikit.models.files import write_file

if TYPE_CHECKING:
    from raikit.audit.pii import TableHits
    from raikit.audit.pii.mondrian import DeidentificationResult

OPERATORS = ("replace", "mask", "hash", "redact")
# Numbers keep their last four characters (as on a receipt); the rest become a type tag.
DEFAULT_OPERATORS = {
    "US_SSN": "mask",
    "CREDIT_CARD": "mask",
    "PHONE_NUMBER": "mask",
    "IBAN_CODE": "mask",
    "US_BANK_NUMBER": "mask",
    "DEFAULT": "replace",
}


def _operator_config(entity: str, name: str):
    from presidio_anonymizer.entities import OperatorConfig

    from raikit.audit.pii._mask import mask_value

    if name == "mask":
        # The report's masking: separators kept, at most the last four characters shown.
        return OperatorConfig(
            "custom", {"lambda": lambda text: mask_value(text, entity, max_chars=10_000)}
        )
    if name == "replace":
        return OperatorConfig("replace", {"new_value": f"<{entity}>"})
    if name == "hash":
        return OperatorConfig("hash", {"hash_type": "sha256"})
    return OperatorConfig("redact", {})


def parse_operators(items: list[str]) -> dict[str, str]:
    """Parse ``ENTITY=operator`` items (``--operator PERSON=hash``) over the defaults."""
    chosen = dict(DEFAULT_OPERATORS)
    for item in items:
        entity, sep, name = item.partition("=")
        if not sep or name not in OPERATORS or not entity:
            raise ConfigError(
                f"operator must look like ENTITY=one of {', '.join(OPERATORS)}; got '{item}'"
            )
        chosen[entity.strip().upper()] = name
    return chosen


def anonymize_frame(
    frame: pd.DataFrame,
    hits: TableHits,
    operators: dict[str, str] | None = None,
    *,
    direct_identifiers: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Return a de-identified copy of ``frame``: identifier columns whole, other spans alone.

    Every non-empty value of a direct-identifier column is replaced as one span of the
    column's dominant entity type, whether or not the scan found anything in that value (NER
    misses names, patterns miss phone formats). In the other columns each detected span is
    replaced and the rest of the text is kept.

    Parameters
    ----------
    frame : pandas.DataFrame
        The scanned table (left unchanged).
    hits : TableHits
        From :func:`raikit.audit.pii.analyze_table` on the same frame.
    operators : dict, optional
        Entity type (or ``"DEFAULT"``) to ``replace`` (``<PERSON>``), ``mask`` (letters and
        digits starred, at most the last four kept), ``hash`` (presidio's salted sha256, a
        fresh salt per value: it links nothing and is not a pseudonym) or ``redact``;
        :data:`DEFAULT_OPERATORS` otherwise. A direct-identifier column uses the operator of
        its dominant type for every value.
    direct_identifiers : mapping, optional
        Column name to its dominant entity type, for the columns replaced whole; by default
        the columns :func:`raikit.audit.pii.summarise_hits` classes as direct identifiers
        under the default :class:`~raikit.audit.pii.ScanConfig` (pass
        ``direct_identifier_types(result.columns)`` to follow another scan's settings).

    Returns
    -------
    pandas.DataFrame
        Columns with hits hold text; other columns are copied as they are; missing values
        stay missing.

    Examples
    --------
    >>> hits = analyze_table(frame, ScanConfig())  # doctest: +SKIP
    >>> anonymize_frame(frame, hits, {"PERSON": "hash"})  # doctest: +SKIP
    """
    from presidio_anonymizer import AnonymizerEngine
    from presidio_anonymizer.entities import RecognizerResult

    if direct_identifiers is None:
        from raikit.audit.pii import ScanConfig, direct_identifier_types, summarise_hits

        summary = summarise_hits(hits, ScanConfig(model=None), source="<frame>")
        direct_identifiers = direct_identifier_types(summary.columns)
    operators = {**DEFAULT_OPERATORS, **(operators or {})}
    engine = AnonymizerEngine()
    out = frame.copy()
    for col in hits.columns:
        whole = direct_identifiers.get(col.column)
        if not any(col.hits) and whole is None:
            continue
        replaced = list(col.uniques)
        for u, found in enumerate(col.hits):
            text = col.uniques[u]
            if whole is not None:
                if not text.strip():
                    continue
                found = [(whole, 0, len(text), 1.0)]
            elif not found:
                continue
            results = [RecognizerResult(t, s, e, score) for t, s, e, score in found]
            configs = {
                t: _operator_config(t, operators.get(t, operators["DEFAULT"])) for t, *_ in found
            }
            replaced[u] = engine.anonymize(text, results, operators=configs).text
        lookup = np.array(replaced, dtype=object)
        column = lookup[np.where(col.codes >= 0, col.codes, 0)]
        out[col.column] = pd.Series(column, index=frame.index, dtype=object).where(
            col.codes >= 0, frame[col.column]
        )
    return out


def write_table(frame: pd.DataFrame, path: Path, *, overwrite: bool = False) -> None:
    """Write ``frame`` to ``path`` (``.csv``, ``.parquet`` or ``.jsonl``) atomically; an
    existing file is replaced only with ``overwrite``."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".jsonl", ".ndjson"):
        raise OutputError(f"--anonymize '{path}' must end in .csv, .parquet or .jsonl")
    if suffix == ".csv":
        data = frame.to_csv(index=False)
    elif suffix == ".parquet":
        data = frame.to_parquet(index=False)
    else:
        data = frame.to_json(orient="records", lines=True, force_ascii=False)
    write_file(path, data, overwrite=overwrite)


def found_spans(hits: TableHits, columns: list[str]) -> dict[str, list[tuple[str, ...]]]:
    """Per row of each of ``columns``, the text of every span the scan found there."""
    out = {}
    for col in hits.columns:
        if col.column not in columns or not any(col.hits):
            continue
        per_value = [
            tuple(col.uniques[u][s:e] for _, s, e, _ in found) for u, found in enumerate(col.hits)
        ]
        out[col.column] = [per_value[c] if c >= 0 else () for c in col.codes]
    return out


def generalise_copy(
    frame: pd.DataFrame,
    copy: pd.DataFrame,
    hits: TableHits,
    quasi_identifiers: list[str],
    k: int,
    *,
    l_diversity: int | None = None,
    sensitive: list[str] | None = None,
    max_suppression: float = 0.05,
    hierarchies: Mapping[str, Mapping[str, tuple[str, ...]]] | None = None,
    direct_identifiers: Collection[str] = (),
) -> tuple[pd.DataFrame, DeidentificationResult]:
    """Make the de-identified ``copy`` k-anonymous (and l-diverse) on ``quasi_identifiers``.

    The quasi-identifiers are generalised from their values in ``frame`` (a date is
    generalised to its month, not to ``<DATE_TIME>``), except ``direct_identifiers``, whose
    values stay replaced whole (the scan misses some of them), with
    :func:`raikit.audit.pii.mondrian.generalise`; every other column, the sensitive ones
    included, keeps its de-identified value from ``copy``. A generalised value that still shows
    a piece of personal data the scan found becomes ``*``. k and l are then measured again on
    the result, independently of the partitioning.

    Returns
    -------
    (pandas.DataFrame, DeidentificationResult)
        The copy to write and what it reached.
    """
    from raikit.audit.pii.mondrian import DeidentificationResult, generalise
    from raikit.audit.pii.reidentification import assess_reidentification

    hierarchies = hierarchies or {}
    unknown = sorted(set(hierarchies) - set(quasi_identifiers))
    if unknown:
        raise ConfigError(
            f"the hierarchies name {unknown}, not among the quasi-identifiers {quasi_identifiers}"
        )
    source = copy.copy()
    restored = [c for c in quasi_identifiers if c not in direct_identifiers]
    source[restored] = frame[restored]
    done = generalise(
        source,
        quasi_identifiers,
        k,
        l_diversity=l_diversity,
        sensitive=sensitive,
        max_suppression=max_suppression,
        hierarchies=hierarchies,
        found=found_spans(hits, quasi_identifiers),
    )
    after = assess_reidentification(done.frame, quasi_identifiers, sensitive, k_threshold=k)
    result = DeidentificationResult(
        method="mondrian",
        target_k=k,
        target_l=l_diversity,
        max_suppression=max_suppression,
        quasi_identifiers=list(quasi_identifiers),
        generalisation=done.generalisation,
        n_rows=len(frame),
        rows_suppressed=done.rows_suppressed,
        information_loss=round(done.information_loss, 6),
        information_loss_by_column={
            c: round(v, 6) for c, v in done.information_loss_by_column.items()
        },
        after=after,
        findings=done.findings,
    )
    return done.frame, result
