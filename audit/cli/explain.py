"""`rai explain`: why the model decided what it did, for single rows or sentences."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from raikit.audit.cli._app import (
    ForceOption,
    SeedOption,
    handle_errors,
    refuse_overwrite,
    write_text,
)
from raikit.models.errors import ConfigError

MethodOption = Annotated[
    str,
    typer.Option(
        help="auto (gradients when the model has them), integrated-gradients, "
        "feature-ablation or kernel-shap."
    ),
]
StepsOption = Annotated[
    int, typer.Option(help="Integrated Gradients steps to start with (doubled until converged).")
]


def _print_row(row, top: int) -> None:
    actual = f", actual {row.actual}" if row.actual is not None else ""
    typer.echo(f"row {row.row}: predicted {row.predicted} (p={row.probability:.3f}{actual})")
    if row.features:
        for item in row.features[:top]:
            masked = " (masked)" if item.masked else ""
            typer.echo(f"  {item.score:+.4f}  {item.feature} = {item.value}{masked}")
    elif row.tokens:
        typer.echo("  " + " ".join(f"{t.text}[{t.score:+.3f}]" for t in row.tokens))
    elif row.attribution_map is not None:
        cells = [
            (v, r, c) for r, line in enumerate(row.attribution_map) for c, v in enumerate(line)
        ]
        for value, r, c in sorted(cells, key=lambda x: -abs(x[0]))[:top]:
            typer.echo(f"  {value:+.4f}  pixel ({r}, {c})")
    if row.convergence_delta is not None:
        typer.echo(f"  convergence delta {row.convergence_delta:+.2e}")


@handle_errors
def explain(
    model: Annotated[Path, typer.Option(help="Model directory (from `rai train`).")],
    data: Annotated[
        str | None, typer.Option(help="Rows to explain from: file or built-in dataset name.")
    ] = None,
    row: Annotated[
        list[int], typer.Option("--row", help="Row position in --data to explain (repeat).")
    ] = [],  # noqa: B006
    text: Annotated[
        list[str], typer.Option("--text", help="A sentence for a text model (repeat).")
    ] = [],  # noqa: B006
    target: Annotated[
        str | None, typer.Option(help="Class to explain (default: the predicted class).")
    ] = None,
    label: Annotated[
        str | None,
        typer.Option(help="Label column of --data, never attributed (built-ins: known)."),
    ] = None,
    method: MethodOption = "auto",
    n_steps: StepsOption = 16,
    internal_batch_size: Annotated[
        int, typer.Option(help="Most rows x steps in one forward pass (bounds memory).")
    ] = 512,
    top: Annotated[int, typer.Option(help="Attributions to print per row.")] = 8,
    out: Annotated[
        Path | None, typer.Option(help="Also write the explanations as JSON here.")
    ] = None,
    seed: SeedOption = 0,
    force: ForceOption = False,
) -> None:
    """Explain single rows (--data with --row) or sentences (--text): attribution per input."""
    from raikit.audit.explain import ExplainConfig, explain_rows
    from raikit.audit.predictor import load_predictor

    if bool(row) == bool(text):
        raise ConfigError("give either --row (with --data) or --text")
    if row and data is None:
        raise ConfigError("--row needs --data (the rows to pick from)")
    if top < 1:
        raise ConfigError(f"--top must be at least 1; got {top}")
    if out is not None:
        refuse_overwrite([out], force)
    config = ExplainConfig(
        method=method, n_steps=n_steps, internal_batch_size=internal_batch_size, seed=seed
    )
    predictor = load_predictor(model)
    if text:
        import pandas as pd

        from raikit.audit.torch_model import torch_model

        torch = torch_model(predictor)
        if torch is None or "text" not in torch.inputs:
            raise ConfigError("--text needs a text model; give --data with --row instead")
        frame = pd.DataFrame({torch.inputs["text"]: list(text)})
        # The sentences are the user's own: only words that look like personal data are masked.
        result = explain_rows(
            predictor, frame, None, target=target, config=config, count_rare=False
        )
    else:
        from raikit.models.data import load_table

        table = load_table(data)
        if label is None and table.spec is not None:
            label = table.spec.label
        result = explain_rows(
            predictor, table.frame, list(row), target=target, label=label, config=config
        )
    typer.echo(f"{result.method}; baseline: {result.baselines}; explaining {result.target}")
    for item in result.rows:
        _print_row(item, top)
    for note in result.findings:
        typer.echo(f"note: {note.message}")
    if out is not None:
        write_text(out, result.model_dump_json(indent=2) + "\n", force=force)
        typer.echo(f"explanations: {out}")
