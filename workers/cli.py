"""The ``cronos`` command line.

Sub-commands live in small modules of their own and are mounted here; this module only wires
them together and sets up logging.
"""

from __future__ import annotations

import logging

import typer
from rich.logging import RichHandler

from workers.detector_cli import checkpoints_app, dataset_app, detect, run, train
from workers.dev_cli import dev_app

app = typer.Typer(
    name="cronos",
    help="CRONOS pipeline: field detection and protocol translation on a Kafka stream.",
    no_args_is_help=True,
    add_completion=False,
)
app.command()(train)
app.command()(detect)
app.command()(run)
app.add_typer(checkpoints_app, name="checkpoints")
app.add_typer(dataset_app, name="dataset")
# Sub-apps of other modules are mounted below, one line each.
app.add_typer(dev_app, name="dev", help="The embedded stack: Kafka (tansu) and Redis.")


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(show_path=False, rich_tracebacks=False)],
    )


def main() -> None:
    """Console-script entry point."""
    app()
