"""The ``rai`` command line: parses options and calls the library; nothing else lives here.

Each module holds a few commands; ``COMMANDS`` below is the registry, in ``rai --help`` order.
"""

from __future__ import annotations

import sys

import typer

from raikit.audit.cli import (
    attack,
    audit,
    demo,
    distill,
    explain,
    gate,
    impact,
    mitigate,
    pii,
    reproduce,
    robustness,
    slices,
    train,
)
from raikit.audit.cli._app import app

__all__ = ["COMMANDS", "GROUPS", "app", "main"]

COMMANDS = (
    train.train,
    train.pretrain,
    distill.distill,
    distill.compress,
    audit.audit,
    audit.report,
    reproduce.reproduce,
    gate.gate,
    gate.model_card,
    train.datasets,
    demo.demo,
    mitigate.mitigate,
    pii.scan_pii,
    attack.attack,
    attack.plant_canaries,
    explain.explain,
    robustness.robustness,
    slices.slices,
)
# Command groups (`rai impact init`).
GROUPS = (impact.impact_app,)

for _command in COMMANDS:
    app.command()(_command)
for _group in GROUPS:
    app.add_typer(_group)


def main() -> None:
    """Entry point of the ``rai`` console script."""
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
