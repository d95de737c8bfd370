"""`rai distill` and `rai compress`: smaller models made from a trained one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from raikit.audit.cli._app import ForceOption, SeedOption, handle_errors, say
from raikit.audit.cli.train import (
    AccountantOption,
    DeltaOption,
    DPOption,
    MaxGradNormOption,
    MaxPhysicalBatchSizeOption,
    NoiseMultiplierOption,
    TargetEpsilonOption,
    _privacy_spec,
    _say_privacy,
    hidden_layer_sizes,
)
from raikit.models.errors import ConfigError

# The teacher's recipe fields a student keeps: it reads the same columns for the same label.
_COLUMN_FIELDS = (
    "label",
    "sensitive",
    "exclude",
    "exclude_sensitive",
    "positive_label",
    "text",
    "min_frequency",
    "max_categories",
    "max_length",
    "validation_fraction",
    "test_fraction",
)


@handle_errors
def distill(
    teacher: Annotated[Path, typer.Option(help="Teacher model directory (from `rai train`).")],
    out: Annotated[Path, typer.Option(help="Student checkpoint directory to create.")],
    data: Annotated[
        str | None, typer.Option(help="Training data (default: the teacher's, same split).")
    ] = None,
    arch: Annotated[
        str, typer.Option(help="Student architecture: mlp, cnn, rnn, transformer, encoder.")
    ] = "mlp",
    hidden: Annotated[
        str, typer.Option(help="MLP hidden sizes, comma-separated ('' = logistic regression).")
    ] = "16",
    cnn_hidden: Annotated[int, typer.Option(help="CNN fully connected width.")] = 32,
    cell: Annotated[str, typer.Option(help="Recurrent cell: rnn, lstm or gru.")] = "lstm",
    temperature: Annotated[float, typer.Option(help="Softmax temperature T.")] = 2.0,
    teacher_weight: Annotated[
        float, typer.Option(help="Weight w of the teacher term (0: labels only, 1: teacher only).")
    ] = 0.5,
    unlabelled: Annotated[
        str | None, typer.Option(help="Extra rows (table) that only the teacher labels.")
    ] = None,
    epochs: Annotated[int, typer.Option(help="Most training epochs.")] = 30,
    batch_size: Annotated[int, typer.Option(help="Mini-batch size.")] = 128,
    learning_rate: Annotated[float, typer.Option("--lr", help="AdamW learning rate.")] = 1e-3,
    seed: SeedOption = 0,
    force: ForceOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    dp: DPOption = False,
    target_epsilon: TargetEpsilonOption = None,
    noise_multiplier: NoiseMultiplierOption = None,
    delta: DeltaOption = None,
    max_grad_norm: MaxGradNormOption = 1.0,
    accountant: AccountantOption = "prv",
    max_physical_batch_size: MaxPhysicalBatchSizeOption = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
) -> None:
    """Distil a teacher into a smaller student (Hinton et al. 2015), optionally with DP-SGD."""
    from raikit.models.checkpoint import read_checkpoint
    from raikit.models.distill import Distillation
    from raikit.models.images import load_table_or_images
    from raikit.models.train import TrainSpec
    from raikit.models.train import train as train_model

    hidden_sizes = hidden_layer_sizes(hidden)
    recipe = read_checkpoint(teacher).record.get("hyperparameters") or {}
    if "label" not in recipe:
        raise ConfigError(f"teacher '{teacher}' has no recorded recipe (label, columns)")
    privacy = _privacy_spec(
        dp,
        target_epsilon=target_epsilon,
        noise_multiplier=noise_multiplier,
        delta=delta,
        max_grad_norm=max_grad_norm,
        accountant=accountant,
        max_physical_batch_size=max_physical_batch_size,
    )
    spec = TrainSpec(
        **{k: recipe[k] for k in _COLUMN_FIELDS if k in recipe},
        arch=arch,
        hidden=hidden_sizes,
        cnn_hidden=cnn_hidden,
        cell=cell,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
        privacy=privacy,
        device=device,
        distillation=Distillation(
            teacher=str(teacher),
            temperature=temperature,
            teacher_weight=teacher_weight,
            unlabelled=unlabelled,
        ),
    )
    source = data if data is not None else _teacher_data(teacher)
    table = load_table_or_images(source)
    checkpoint = train_model(table, spec, out, force=force, progress=not quiet)
    record = checkpoint.record
    say(
        f"student test accuracy {record['test']['accuracy']:.3f} on "
        f"{record['split']['sizes']['test']} held-out rows (split: "
        f"{record['distillation']['split']})"
    )
    if record["privacy"]["differentially_private"]:
        _say_privacy(record["privacy"])
        say(f"guarantee: {record['privacy']['guarantee']}")
    for note in record.get("notes", []):
        say(note)
    typer.echo(f"model: {checkpoint.path}")


def _teacher_data(teacher: Path) -> str:
    """The teacher's training data as ``load_table`` reads it (a built-in or a file)."""
    from raikit.models.checkpoint import read_checkpoint

    source = (read_checkpoint(teacher).record.get("data") or {}).get("source")
    if not isinstance(source, str):
        raise ConfigError(f"teacher '{teacher}' does not record its data; pass --data")
    return source


@handle_errors
def compress(
    model: Annotated[Path, typer.Argument(help="Model directory (from `rai train`).")],
    out: Annotated[Path, typer.Option(help="Compressed checkpoint directory to create.")],
    int8: Annotated[
        bool, typer.Option("--int8", help="Dynamic int8 quantisation of the Linear layers.")
    ] = False,
    prune: Annotated[
        float | None,
        typer.Option(help="Magnitude pruning: share of weights set to zero, in [0, 1)."),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(help="Rows to measure accuracy and latency on (default: the model's data)."),
    ] = None,
    force: ForceOption = False,
) -> None:
    """Compress a model (int8 or pruning) into a checkpoint; measure its size and latency."""
    from raikit.models.compress import compress as compress_model

    if int8 == (prune is not None):
        raise ConfigError("give exactly one of --int8 and --prune SPARSITY")
    checkpoint = compress_model(model, out, int8=int8, sparsity=prune, data=data, force=force)
    facts = checkpoint.record["compression"]
    say(
        f"{facts['method']}: weights {facts['size_bytes']:,} bytes (was "
        f"{facts['source']['size_bytes']:,}), {facts['latency_ms_per_row']:.4f} ms per row on "
        f"CPU (was {facts['source']['latency_ms_per_row']:.4f}), test accuracy "
        f"{checkpoint.record['test']['accuracy']:.3f} (was {facts['source']['test_accuracy']:.3f})"
    )
    typer.echo(f"model: {checkpoint.path}")
