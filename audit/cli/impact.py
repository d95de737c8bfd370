"""`rai impact init`: write a commented impact.yaml, asking the key questions in a terminal."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from raikit.audit.cli._app import ForceOption, handle_errors, refuse_overwrite, write_text

impact_app = typer.Typer(
    name="impact", help="Societal-impact assessment (impact.yaml).", no_args_is_help=True
)

QUESTIONS = (
    ("system_name", "Name of the AI system"),
    ("description", "What does it decide or recommend, for whom"),
    ("users", "Who uses its output"),
    ("owner", "Accountable owner (person or team)"),
    ("contact", "Contact e-mail"),
)


@impact_app.command("init")
@handle_errors
def init(
    out: Annotated[Path, typer.Option(help="File to write.")] = Path("impact.yaml"),
    interactive: Annotated[
        bool | None,
        typer.Option(
            "--interactive/--no-interactive",
            help="Ask the key questions (default: when run in a terminal).",
        ),
    ] = None,
    force: ForceOption = False,
) -> None:
    """Write a commented impact.yaml template to fill in."""
    from raikit.audit.impact import DOMAINS, impact_template, parse_impact

    refuse_overwrite([out], force)
    answers: dict[str, str] = {}
    if interactive if interactive is not None else sys.stdin.isatty():
        typer.echo("Answer a few questions (Enter keeps the TODO placeholder).", err=True)
        for key, question in QUESTIONS:
            answers[key] = typer.prompt(question, default="", show_default=False, err=True)
        domain = ""
        while domain not in DOMAINS:
            domain = typer.prompt(
                f"Deployment domain ({', '.join(DOMAINS)})", default="other", err=True
            ).strip()
        answers["domain"] = domain
    text = impact_template(answers)
    parse_impact(text, str(out))  # what we write must load
    write_text(out, text, force=force)
    typer.echo(f"impact assessment: {out} (fill in every TODO)")
