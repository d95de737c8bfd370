"""`rai datasets` and `rai train`: the training side."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from audit.cli._app import DataOption, ForceOption, SeedOption, SensitiveOption, handle_errors, say
from models.errors import ConfigError


@handle_errors
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


@handle_errors
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
    say(
        f"test accuracy {test['accuracy']:.3f} on {checkpoint.record['split']['sizes']['test']} "
        f"held-out rows; best epoch {checkpoint.record['best_epoch']}"
    )
    typer.echo(f"model: {checkpoint.path}")
