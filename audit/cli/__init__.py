"""The ``rai`` command line: parses options and calls the library; nothing else lives here.

Each module holds a few commands; ``COMMANDS`` below is the registry, in ``rai --help`` order.
"""

from __future__ import annotations

import sys

import typer

from audit.cli import audit, demo, train
from audit.cli._app import app

__all__ = ["COMMANDS", "app", "main"]

COMMANDS = (
    train.train,
    train.pretrain,
    audit.audit,
    audit.report,
    train.datasets,
    demo.demo,
)

for _command in COMMANDS:
    app.command()(_command)


def main() -> None:
    """Entry point of the ``rai`` console script."""
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
