"""`rai reproduce`: re-run an audit from its recorded inputs and compare every figure."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from raikit.audit.cli._app import (
    ForceOption,
    handle_errors,
    refuse_overwrite,
    write_outputs,
    write_text,
)
from raikit.audit.reproduce import DEFAULT_TOLERANCE
from raikit.models.errors import OutputError

if TYPE_CHECKING:
    from raikit.audit.reproduce import Reproduction

EXIT_DRIFTED = 1


@handle_errors
def reproduce(
    evidence: Annotated[Path, typer.Argument(help="evidence.json written by `rai audit`.")],
    data: Annotated[
        str | None, typer.Option(help="The audited data, if no longer at its recorded path.")
    ] = None,
    model: Annotated[
        Path | None, typer.Option(help="The audited model, if no longer at its recorded path.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Directory for reproduction.json and the evidence and report with the "
            "reproduction attached (nothing is written without it)."
        ),
    ] = None,
    tolerance: Annotated[
        float,
        typer.Option(help="Relative and absolute difference a figure may show and reproduce."),
    ] = DEFAULT_TOLERANCE,
    force: ForceOption = False,
) -> None:
    """Re-run an audit from its recorded data, model, seed and configuration; compare figures.

    The data and model must have the recorded sha256 (exit 2 names the one that differs).
    Exit 0 when every figure reproduces (exactly or within --tolerance), 1 when any drifted.
    """
    from raikit.audit.evidence import load_evidence
    from raikit.audit.reproduce import attach_reproduction
    from raikit.audit.reproduce import reproduce as rerun

    names = ("reproduction.json", "evidence.json", "report.html")
    targets = [out / name for name in names] if out is not None else []
    if out is not None and targets[1].resolve() == evidence.resolve():
        raise OutputError(f"--out {out} would overwrite the evidence being reproduced")
    refuse_overwrite(targets, force)
    recorded = load_evidence(evidence)
    reproduction = rerun(recorded, data, model, tolerance=tolerance, progress=True)
    _print(reproduction)
    if out is not None:
        write_text(targets[0], reproduction.model_dump_json(indent=2) + "\n", force=force)
        write_outputs(attach_reproduction(recorded, reproduction), out, force)
        typer.echo(f"reproduction: {targets[0]}")
    if not reproduction.reproduced:
        raise typer.Exit(EXIT_DRIFTED)


def _print(reproduction: Reproduction) -> None:
    figures = reproduction.figures
    typer.echo(
        f"inputs: data {reproduction.data}"
        + (f" and model {reproduction.model}" if reproduction.model else "")
        + " match the recorded sha256"
    )
    typer.echo(
        f"figures: {figures.n_figures} compared: {figures.n_exact} match exactly, "
        f"{len(figures.within_tolerance)} within tolerance {figures.tolerance:g}, "
        f"{len(figures.drifted)} drifted"
    )
    if figures.drifted:
        width = max(len(c.path) for c in figures.drifted)
        typer.echo(f"  {'drifted figure':{width}s}  {'recorded':>22s}  {'re-run':>22s}")
        for change in figures.drifted:
            typer.echo(
                f"  {change.path:{width}s}  {_shown(change.recorded):>22s}  "
                f"{_shown(change.reproduced):>22s}"
            )
    if reproduction.packages:
        typer.echo(f"packages: {len(reproduction.packages)} differ from the recorded versions")
        for change in reproduction.packages:
            typer.echo(f"  {change.package}: recorded {change.recorded}, now {change.now}")
    else:
        typer.echo("packages: the recorded versions")
    typer.echo("reproduced: " + ("yes" if reproduction.reproduced else "NO"))


def _shown(value: object) -> str:
    return "none" if value is None else repr(value)
