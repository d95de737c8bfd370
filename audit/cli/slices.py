"""`rai slices`: the subgroups a model (or a predictions file) treats worse than the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from raikit.audit.cli._app import (
    ForceOption,
    OutOption,
    SensitiveOption,
    handle_errors,
    refuse_overwrite,
    write_outputs,
)
from raikit.models.errors import ConfigError

SliceColumnOption = Annotated[
    list[str],
    typer.Option(
        "--column",
        help="Another categorical or numeric (binned) column to slice by (repeat).",
    ),
]


@handle_errors
def slices(
    out: OutOption,
    sensitive: SensitiveOption = [],  # noqa: B006
    column: SliceColumnOption = [],  # noqa: B006
    model: Annotated[Path | None, typer.Option(help="Model directory (from `rai train`).")] = None,
    data: Annotated[
        str | None, typer.Option(help="Data to audit the model on: file or built-in name.")
    ] = None,
    predictions: Annotated[
        str | None,
        typer.Option(
            help="A predictions file instead of a model: columns y_true, y_pred and the "
            "columns to slice by."
        ),
    ] = None,
    label: Annotated[
        str | None, typer.Option(help="Label column (y_true with --predictions).")
    ] = None,
    positive_label: Annotated[str | None, typer.Option(help="Positive class.")] = None,
    metric: Annotated[
        str,
        typer.Option(
            help="error_rate, false_positive_rate, false_negative_rate or selection_rate."
        ),
    ] = "error_rate",
    depth: Annotated[int, typer.Option(help="Most conditions in a slice (1 to 3).")] = 3,
    min_slice_size: Annotated[int, typer.Option(help="Fewest rows in a slice.")] = 30,
    fdr_level: Annotated[
        float, typer.Option(help="False discovery rate of the reported slices.")
    ] = 0.05,
    fdr_method: Annotated[
        str, typer.Option(help="bh (Benjamini-Hochberg) or by (Benjamini-Yekutieli).")
    ] = "bh",
    max_slices: Annotated[int, typer.Option(help="Most slices listed, worst first.")] = 20,
    rows: Annotated[
        str, typer.Option(help="auto: the test split of the model's own data; all; test.")
    ] = "auto",
    threshold: Annotated[float, typer.Option(help="Decision threshold on P(positive).")] = 0.5,
    force: ForceOption = False,
) -> None:
    """Find the slices (up to 3 conditions) where the model does worse than on the rest."""
    from raikit.audit.predictor import load_predictor
    from raikit.audit.runner import AuditConfig, recorded_label, run_audit
    from raikit.audit.slices import SliceConfig
    from raikit.models.data import load_table

    if (model is None) == (predictions is None):
        raise ConfigError("give either --model (with --data) or --predictions")
    if model is not None and data is None:
        raise ConfigError("--model needs --data (the rows to audit it on)")
    config = SliceConfig(
        columns=tuple(column),
        metric=metric,
        depth=depth,
        min_slice_size=min_slice_size,
        fdr_level=fdr_level,
        fdr_method=fdr_method,
        max_slices=max_slices,
    )
    if not sensitive and not column:
        raise ConfigError("give the columns to slice by: --sensitive or --column (repeat)")
    refuse_overwrite([out / "evidence.json", out / "report.html"], force)
    predictor = load_predictor(model) if model is not None else None
    table = load_table(data if model is not None else predictions)
    if label is None and predictor is not None:
        label = table.spec.label if table.spec is not None else recorded_label(predictor)
    settings = AuditConfig(
        label=label or "y_true",
        sensitive=tuple(sensitive),
        positive_label=positive_label,
        rows=rows,
        threshold=threshold,
        title=f"Subgroups of {predictor.path if predictor else table.source}",
    )
    evidence = run_audit(table, settings, predictor, {"slices": config}, progress=True)
    result = evidence.result("slices")
    if result is not None:
        typer.echo(
            f"{result.n_tested} slices tested, {result.n_discovered} worse than the rest "
            f"(false discovery rate {result.fdr_level:g}), {result.n_folded} folded"
        )
        for item in result.slices[:10]:
            typer.echo(
                f"  {item.label} ({item.size} rows): {result.metric} "
                f"{item.metric.value:.3f} [{item.metric.lower:.3f}, {item.metric.upper:.3f}], "
                f"worse by {item.gap.value:.3f} [{item.gap.lower:.3f}, {item.gap.upper:.3f}], "
                f"q = {item.q_value:.2g}"
            )
    write_outputs(evidence, out, force)
