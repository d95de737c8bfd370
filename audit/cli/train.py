"""`rai datasets` and `rai train`: the training side."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from raikit.audit.cli._app import (
    DataOption,
    ForceOption,
    SeedOption,
    SensitiveOption,
    handle_errors,
    say,
)
from raikit.models.errors import ConfigError

if TYPE_CHECKING:
    from raikit.models.privacy import PrivacySpec

# The DP-SGD options, shared by every command that trains (`rai train`, `rai pretrain`).
DPOption = Annotated[bool, typer.Option("--dp", help="Train with DP-SGD (Opacus).")]
TargetEpsilonOption = Annotated[float | None, typer.Option(help="DP budget epsilon.")]
NoiseMultiplierOption = Annotated[float | None, typer.Option(help="DP noise sigma.")]
DeltaOption = Annotated[float | None, typer.Option(help="DP delta (default 1/(10 n)).")]
MaxGradNormOption = Annotated[float, typer.Option(help="DP per-example clip norm.")]
AccountantOption = Annotated[str, typer.Option(help="DP accountant: prv or rdp.")]
MaxPhysicalBatchSizeOption = Annotated[
    int | None, typer.Option(help="DP: largest batch in memory (BatchMemoryManager).")
]

TensorBoardOption = Annotated[
    Path | None,
    typer.Option(help="Write TensorBoard logs here (default: tensorboard/ in --out)."),
]
NoTensorBoardOption = Annotated[
    bool, typer.Option("--no-tensorboard", help="Write no TensorBoard logs.")
]


def _tensorboard_setting(directory: Path | None, off: bool) -> bool | Path:
    """The ``tensorboard`` setting of ``--tensorboard DIR`` / ``--no-tensorboard``."""
    if directory is not None and off:
        raise ConfigError("--tensorboard DIR and --no-tensorboard exclude each other")
    return directory if directory is not None else not off


@handle_errors
def datasets() -> None:
    """List the built-in datasets with their rows, label and sensitive columns."""
    from raikit.models.datasets import list_datasets

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


def hidden_layer_sizes(hidden: str) -> tuple[int, ...]:
    """``--hidden "64,32"`` as layer sizes; an empty string is no hidden layer."""
    try:
        return tuple(int(size) for size in hidden.split(",") if size.strip())
    except ValueError:
        raise ConfigError(f"--hidden must be comma-separated integers; got '{hidden}'") from None


@handle_errors
def train(
    data: DataOption,
    label: Annotated[str, typer.Option(help="Label column.")],
    out: Annotated[Path, typer.Option(help="Checkpoint directory to create.")],
    sensitive: SensitiveOption = [],  # noqa: B006 - typer reads the default, never mutates it
    arch: Annotated[
        str, typer.Option(help="Architecture: mlp, cnn, rnn, transformer, encoder.")
    ] = "mlp",
    exclude: Annotated[list[str], typer.Option(help="Column not to use as a feature.")] = [],  # noqa: B006
    exclude_sensitive: Annotated[
        bool, typer.Option(help="Do not feed the sensitive columns to the model.")
    ] = False,
    positive_label: Annotated[
        str | None, typer.Option(help="Positive class of a binary label.")
    ] = None,
    epochs: Annotated[int, typer.Option(help="Most training epochs.")] = 30,
    batch_size: Annotated[int, typer.Option(help="Mini-batch size.")] = 128,
    learning_rate: Annotated[float, typer.Option("--lr", help="AdamW learning rate.")] = 1e-3,
    hidden: Annotated[str, typer.Option(help="Hidden layer sizes, comma-separated.")] = "64,32",
    seed: SeedOption = 0,
    force: ForceOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    text: Annotated[str | None, typer.Option(help="Text column (rnn, transformer).")] = None,
    task: Annotated[
        str | None, typer.Option(help="classification or regression (mlp, rnn on sequences).")
    ] = None,
    dp: DPOption = False,
    target_epsilon: TargetEpsilonOption = None,
    noise_multiplier: NoiseMultiplierOption = None,
    delta: DeltaOption = None,
    max_grad_norm: MaxGradNormOption = 1.0,
    accountant: AccountantOption = "prv",
    max_physical_batch_size: MaxPhysicalBatchSizeOption = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    distributed: Annotated[
        bool, typer.Option("--distributed", help="DDP/DPDDP; launch with torchrun.")
    ] = False,
    resume: Annotated[
        str | None, typer.Option(help="Continue training this checkpoint (and its accountant).")
    ] = None,
    init: Annotated[str | None, typer.Option(help="Encoder from `rai pretrain` DIR.")] = None,
    pretrained: Annotated[
        str | None, typer.Option(help="Local Hugging Face model dir (default MiniLM-L6).")
    ] = None,
    cell: Annotated[str, typer.Option(help="Recurrent cell: rnn, lstm or gru.")] = "lstm",
    max_length: Annotated[int, typer.Option(help="Tokens per text.")] = 64,
    min_frequency: Annotated[
        int,
        typer.Option(help="Rows a category needs to be kept; rarer ones pool into __other__."),
    ] = 5,
    freeze_embeddings: Annotated[
        bool, typer.Option("--freeze-embeddings", help="Transformer: freeze embeddings.")
    ] = False,
    train_layers: Annotated[
        int | None, typer.Option(help="Transformer: train only the top K encoder layers.")
    ] = None,
    tensorboard: TensorBoardOption = None,
    no_tensorboard: NoTensorBoardOption = False,
    audit_canaries: Annotated[
        int,
        typer.Option(help="One-run privacy audit: insert M canaries, each with probability 1/2."),
    ] = 0,
    audit_confidence: Annotated[
        float, typer.Option(help="Confidence of the one-run epsilon lower bound.")
    ] = 0.95,
) -> None:
    """Train a model (mlp, cnn, rnn, transformer, encoder), optionally with DP-SGD."""
    from raikit.models.images import load_table_or_images
    from raikit.models.train import TrainSpec
    from raikit.models.train import train as train_model

    hidden_sizes = hidden_layer_sizes(hidden)
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
        label=label,
        sensitive=tuple(sensitive),
        exclude=tuple(exclude),
        exclude_sensitive=exclude_sensitive,
        min_frequency=min_frequency,
        positive_label=positive_label,
        arch=arch,
        hidden=hidden_sizes,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
        task=task,
        text=text,
        privacy=privacy,
        device=device,
        distributed=distributed,
        resume=resume,
        init=init,
        pretrained=pretrained,
        cell=cell,
        max_length=max_length,
        freeze_embeddings=freeze_embeddings,
        train_layers=train_layers,
        tensorboard=_tensorboard_setting(tensorboard, no_tensorboard),
        audit_canaries=audit_canaries,
        audit_confidence=audit_confidence,
    )
    table = load_table_or_images(data)
    checkpoint = train_model(table, spec, out, force=force, progress=not quiet)
    if os.environ.get("RANK", "0") != "0":
        return  # under torchrun only rank 0 reports (and writes the checkpoint)
    record = checkpoint.record
    test, held_out = record["test"], record["split"]["sizes"]["test"]
    score = f"accuracy {test['accuracy']:.3f}" if "accuracy" in test else f"RMSE {test['rmse']:.4f}"
    say(f"test {score} on {held_out} held-out rows; best epoch {record['best_epoch']}")
    privacy_record = record["privacy"]
    if privacy_record.get("differentially_private"):
        _say_privacy(privacy_record)
    if "one_run_audit" in privacy_record:
        _say_one_run_audit(privacy_record["one_run_audit"])
    for note in record.get("notes", []):
        say(note)
    typer.echo(f"model: {checkpoint.path}")


@handle_errors
def pretrain(
    data: DataOption,
    text: Annotated[str, typer.Option(help="Text column.")],
    out: Annotated[Path, typer.Option(help="Directory to create.")],
    epochs: Annotated[int, typer.Option(help="Epochs.")] = 3,
    batch_size: Annotated[int, typer.Option(help="Mini-batch size.")] = 32,
    max_length: Annotated[int, typer.Option(help="Tokens per text.")] = 64,
    vocab_size: Annotated[int, typer.Option(help="WordPiece vocabulary size.")] = 4000,
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
    tensorboard: TensorBoardOption = None,
    no_tensorboard: NoTensorBoardOption = False,
) -> None:
    """Pre-train a small encoder as a masked language model (then `rai train --init`)."""
    from raikit.models.data import load_table
    from raikit.models.pretrain import pretrain as run_pretrain

    privacy = _privacy_spec(
        dp,
        target_epsilon=target_epsilon,
        noise_multiplier=noise_multiplier,
        delta=delta,
        max_grad_norm=max_grad_norm,
        accountant=accountant,
        max_physical_batch_size=max_physical_batch_size,
    )
    logs = _tensorboard_setting(tensorboard, no_tensorboard)
    checkpoint = run_pretrain(
        load_table(data),
        text,
        out,
        epochs=epochs,
        batch_size=batch_size,
        max_length=max_length,
        vocab_size=vocab_size,
        seed=seed,
        privacy=privacy,
        force=force,
        progress=not quiet,
        tensorboard=logs,
    )
    record = checkpoint.record
    say(f"masked-token loss by epoch: {[e['mlm_loss'] for e in record['epochs']]}")
    if record["privacy"]["differentially_private"]:
        _say_privacy(record["privacy"])
    for note in record["notes"]:
        say(note)
    typer.echo(f"model: {checkpoint.path}")


def _privacy_spec(dp: bool, **options: object) -> PrivacySpec | None:
    """The DP-SGD settings of a training command (``None`` without ``--dp``)."""
    from raikit.models.privacy import PrivacySpec

    if dp:
        return PrivacySpec(**options)
    if options["target_epsilon"] is not None or options["noise_multiplier"] is not None:
        raise ConfigError("--target-epsilon/--noise-multiplier need --dp")
    return None


def _say_privacy(privacy: dict) -> None:
    """The guarantee in one line (each stretch's noise when a resume changed it), and why
    raikit's fast engine was not used, if it was not."""
    noise = privacy["noise_multiplier"]
    noise = (
        f"{noise:.3f}"
        if noise is not None
        else " then ".join(f"{entry[0]:.3f}" for entry in privacy["history"])
    )
    say(
        f"DP-SGD: epsilon {privacy['epsilon']:.3f} at delta {privacy['delta']:.3g} "
        f"({privacy['accountant']} accountant, noise {noise}, {privacy['steps']} steps, "
        f"clipping by {privacy['engine']})"
    )
    if privacy.get("engine_fallback_reason"):
        say(f"raikit's fast DP engine not used: {privacy['engine_fallback_reason']}")


#: What each verdict of the one-run audit means, in one clause.
ONE_RUN_VERDICTS = {
    "consistent": "consistent with the claimed epsilon",
    "inconsistent": "ABOVE the claimed epsilon: the DP guarantee is violated",
    "inconclusive": "too few canaries to test the claimed epsilon (even all guesses right "
    "could not exceed it)",
    "no_guarantee": "no DP guarantee to compare with",
}


def _say_one_run_audit(audit: dict) -> None:
    """The one-run audit's bound and verdict in one line."""
    say(
        f"one-run audit: epsilon >= {audit['epsilon_lower_bound']:.3f} "
        f"({audit['confidence']:.0%} confidence; {audit['correct_guesses']} of "
        f"{audit['guesses']} guesses right on {audit['canaries']} canaries, "
        f"{audit['canaries_included']} trained on): {ONE_RUN_VERDICTS[audit['verdict']]}"
    )
