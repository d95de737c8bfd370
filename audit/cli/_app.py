"""Shared wiring of the ``rai`` commands: the typer app, error mapping, output helpers.

Every ``RaikitError`` becomes one line on stderr and exit code 2; an unexpected error (a bug in
raikit) becomes one line and exit code 3, with its traceback when ``RAIKIT_DEBUG=1``.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from raikit.models.errors import RaikitError
from raikit.models.files import refuse_existing, write_file, write_files

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 3

app = typer.Typer(
    name="rai",
    help="raikit: train models, audit them for fairness and privacy, and report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _options(
    threads: Annotated[
        int | None,
        typer.Option(
            "--threads",
            min=1,
            help="CPU threads for torch (default: 1 for small models, all cores for large "
            "ones); same as RAIKIT_THREADS.",
        ),
    ] = None,
) -> None:
    """raikit: train models, audit them for fairness and privacy, and report."""
    from raikit.models.threads import set_threads

    set_threads(threads)


def handle_errors(function: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a command so that errors become one line on stderr and an exit code."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except RaikitError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(EXIT_USER_ERROR) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get("RAIKIT_DEBUG") == "1":
                traceback.print_exc(file=sys.stderr)
                raise typer.Exit(EXIT_INTERNAL_ERROR) from None
            typer.echo(
                f"error: unexpected {type(exc).__name__}: {exc} "
                "(set RAIKIT_DEBUG=1 to see the traceback)",
                err=True,
            )
            raise typer.Exit(EXIT_INTERNAL_ERROR) from None

    return wrapper


def refuse_overwrite(paths: list[Path], force: bool) -> None:
    """Fail early on outputs that exist (the write checks again, atomically)."""
    refuse_existing(paths, overwrite=force)


def say(message: str) -> None:
    typer.echo(message, err=True)


DataOption = Annotated[
    str,
    typer.Option(
        "--data", help="CSV/Parquet/JSONL file or built-in dataset name (see `rai datasets`)."
    ),
]
SensitiveOption = Annotated[
    list[str], typer.Option("--sensitive", help="Sensitive column (repeat for several).")
]
SeedOption = Annotated[int, typer.Option(help="Random seed (splits, bootstrap).")]
OutOption = Annotated[Path, typer.Option(help="Directory for evidence.json and report.html.")]
ForceOption = Annotated[bool, typer.Option("--force", help="Overwrite existing outputs.")]


def write_outputs(evidence: Any, out: Path, force: bool) -> None:
    """Write evidence.json and report.html into ``out``: both files, or neither."""
    from raikit.audit.evidence import dump_evidence
    from raikit.reports import render

    html = render(evidence, "html")
    write_files(
        {out / "evidence.json": dump_evidence(evidence), out / "report.html": html}, overwrite=force
    )
    for finding in evidence.all_findings():
        if finding.severity != "info":
            say(f"{finding.severity}: {finding.message}")
    typer.echo(f"evidence: {out / 'evidence.json'}")
    typer.echo(f"report: {out / 'report.html'}")


def write_text(path: Path, text: str | bytes, *, force: bool = True) -> None:
    """Write one output file atomically; an existing one only with ``force``."""
    write_file(path, text, overwrite=force)
