"""The ``rai`` command line: parses options and calls the library; nothing else lives here.

Every ``RaikitError`` becomes one line on stderr and exit code 2; an unexpected error becomes
one line and exit code 3 (set ``RAIKIT_DEBUG=1`` for the traceback).
"""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from models.errors import ConfigError, OutputError, RaikitError

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 3

app = typer.Typer(
    name="rai",
    help="raikit: train models, audit them for fairness and privacy, and report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _command(function: Callable[..., Any]) -> Callable[..., Any]:
    """Register ``function`` as a command that turns errors into one line and an exit code."""

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
                raise
            typer.echo(
                f"error: unexpected {type(exc).__name__}: {exc} "
                "(set RAIKIT_DEBUG=1 to see the traceback)",
                err=True,
            )
            raise typer.Exit(EXIT_INTERNAL_ERROR) from None

    return app.command()(wrapper)


def _refuse_overwrite(paths: list[Path], force: bool) -> None:
    existing = [str(p) for p in paths if p.exists()]
    if existing and not force:
        raise OutputError(f"{', '.join(existing)} already exist(s); pass --force to overwrite")


def _say(message: str) -> None:
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
ForceOption = Annotated[bool, typer.Option("--force", help="Overwrite existing outputs.")]


@_command
def datasets() -> None:
    """List the built-in datasets with their rows, label and sensitive columns."""
    from models.datasets import list_datasets

    rows = [("name", "rows", "task", "label (positive)", "sensitive", "description")]
    for spec in list_datasets():
        label = f"{spec.label} ({spec.positive_label})" if spec.positive_label else spec.label
        rows.append(
            (
                spec.name,
                f"{spec.n_rows:,}",
                spec.task,
                label,
                ", ".join(spec.sensitive) or "-",
                spec.description,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        typer.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row[:5], widths, strict=True))
            + "  "
            + row[5]
        )


@_command
def train(
    data: DataOption,
    label: Annotated[str, typer.Option(help="Label column.")],
    out: Annotated[Path, typer.Option(help="Checkpoint directory to create.")],
    sensitive: SensitiveOption = [],  # noqa: B006 - typer reads the default, never mutates it
    arch: Annotated[str, typer.Option(help="Architecture (mlp).")] = "mlp",
    exclude: Annotated[list[str], typer.Option(help="Column not to use as a feature.")] = [],  # noqa: B006
    exclude_sensitive: Annotated[
        bool, typer.Option(help="Do not feed the sensitive columns to the model.")
    ] = False,
    positive_label: Annotated[
        str | None, typer.Option(help="Positive class of a binary label.")
    ] = None,
    epochs: Annotated[int, typer.Option(help="Most training epochs.")] = 30,
    batch_size: Annotated[int, typer.Option(help="Mini-batch size.")] = 128,
    learning_rate: Annotated[float, typer.Option("--lr", help="Adam learning rate.")] = 1e-3,
    hidden: Annotated[str, typer.Option(help="Hidden layer sizes, comma-separated.")] = "64,32",
    seed: SeedOption = 0,
    force: ForceOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Train a classifier on a table and write its checkpoint and training record."""
    from models.data import load_table
    from models.train import TrainSpec
    from models.train import train as train_model

    try:
        hidden_sizes = tuple(int(size) for size in hidden.split(",") if size.strip())
    except ValueError:
        raise ConfigError(f"--hidden must be comma-separated integers; got '{hidden}'") from None
    spec = TrainSpec(
        label=label,
        sensitive=tuple(sensitive),
        exclude=tuple(exclude),
        exclude_sensitive=exclude_sensitive,
        positive_label=positive_label,
        arch=arch,
        hidden=hidden_sizes,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
    )
    table = load_table(data)
    checkpoint = train_model(table, spec, out, force=force, progress=not quiet)
    test = checkpoint.record["test"]
    _say(
        f"test accuracy {test['accuracy']:.3f} on {checkpoint.record['split']['sizes']['test']} "
        f"held-out rows; best epoch {checkpoint.record['best_epoch']}"
    )
    typer.echo(f"model: {checkpoint.path}")


@_command
def audit(
    out: Annotated[Path, typer.Option(help="Directory for evidence.json and report.html.")],
    sensitive: SensitiveOption = [],  # noqa: B006
    model: Annotated[Path | None, typer.Option(help="Model directory (from `rai train`).")] = None,
    data: Annotated[
        str | None, typer.Option(help="Data to audit the model on: file or built-in name.")
    ] = None,
    predictions: Annotated[
        str | None,
        typer.Option(
            help="Audit a predictions file instead of a model: columns y_true, y_pred, "
            "optional y_score, and the sensitive columns."
        ),
    ] = None,
    label: Annotated[
        str | None, typer.Option(help="Label column (y_true with --predictions).")
    ] = None,
    positive_label: Annotated[str | None, typer.Option(help="Positive class.")] = None,
    rows: Annotated[
        str,
        typer.Option(
            help="auto: the test split when the data is the model's training data; all; test."
        ),
    ] = "auto",
    threshold: Annotated[float, typer.Option(help="Decision threshold on P(positive).")] = 0.5,
    n_bootstrap: Annotated[int, typer.Option(help="Bootstrap replicates for CIs.")] = 1000,
    min_group_size: Annotated[int, typer.Option(help="Groups smaller than this are flagged.")] = 30,
    seed: SeedOption = 0,
    force: ForceOption = False,
) -> None:
    """Audit a model (or a predictions file): evidence.json + report.html."""
    from audit.predictor import load_predictor
    from audit.runner import AuditConfig, run_audit
    from models.data import load_table

    if (model is None) == (predictions is None):
        raise ConfigError("give either --model (with --data) or --predictions")
    if model is not None and data is None:
        raise ConfigError("--model needs --data (the rows to audit it on)")
    if not sensitive:
        raise ConfigError("give at least one --sensitive column")
    if model is not None and label is None:
        raise ConfigError("--label is required with --model")
    evidence_path, report_path = out / "evidence.json", out / "report.html"
    _refuse_overwrite([evidence_path, report_path], force)
    config = AuditConfig(
        label=label or "y_true",
        sensitive=tuple(sensitive),
        positive_label=positive_label,
        rows=rows,
        threshold=threshold,
        seed=seed,
        n_bootstrap=n_bootstrap,
        min_group_size=min_group_size,
    )
    predictor = load_predictor(model) if model is not None else None
    table = load_table(data if model is not None else predictions)
    evidence = run_audit(table, config, predictor)
    _write_outputs(evidence, out)


@_command
def report(
    evidence: Annotated[Path, typer.Argument(help="evidence.json written by `rai audit`.")],
    out: Annotated[Path, typer.Option(help="HTML file to write.")] = Path("report.html"),
    force: ForceOption = False,
) -> None:
    """Re-render the HTML report from an evidence file alone."""
    from audit.evidence import load_evidence
    from reports import render

    _refuse_overwrite([out], force)
    html = render(load_evidence(evidence), "html")
    _write_text(out, html)
    typer.echo(f"report: {out}")


@_command
def demo(
    out: Annotated[Path, typer.Option(help="Directory for the model, evidence and report.")] = Path(
        "demo-output"
    ),
    force: ForceOption = False,
) -> None:
    """Train on carData/Arrests, audit by colour and sex, and write the report."""
    from audit.predictor import load_predictor
    from audit.runner import AuditConfig, run_audit
    from models.data import load_table
    from models.train import TrainSpec
    from models.train import train as train_model

    started = time.perf_counter()
    model_dir = out / "model"
    _refuse_overwrite([model_dir, out / "evidence.json", out / "report.html"], force)
    _say("demo: police decisions to release arrestees (carData::Arrests, Toronto, 5,226 rows)")
    table = load_table("arrests")
    spec = TrainSpec(label="released", sensitive=("colour", "sex"), seed=0)
    train_model(table, spec, model_dir, force=force)
    config = AuditConfig(
        label="released",
        sensitive=("colour", "sex"),
        seed=0,
        title="Demo audit: release decisions in carData::Arrests",
    )
    evidence = run_audit(table, config, load_predictor(model_dir))
    _write_outputs(evidence, out)
    _say(f"demo finished in {time.perf_counter() - started:.1f} s")


def _write_outputs(evidence: Any, out: Path) -> None:
    from audit.evidence import save_evidence
    from reports import render

    html = render(evidence, "html")
    out.mkdir(parents=True, exist_ok=True)
    save_evidence(evidence, out / "evidence.json")
    _write_text(out / "report.html", html)
    for finding in evidence.all_findings():
        if finding.severity != "info":
            _say(f"{finding.severity}: {finding.message}")
    typer.echo(f"evidence: {out / 'evidence.json'}")
    typer.echo(f"report: {out / 'report.html'}")


def _write_text(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write '{path}': {exc.strerror}") from None


def main() -> None:
    """Entry point of the ``rai`` console script."""
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
