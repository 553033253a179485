"""The ``cronos`` command line.

Sub-commands live in small modules of their own and are mounted here; this module only wires
them together and sets up logging.
"""

from __future__ import annotations

from pathlib import Path

import typer

from workers.cli import (
    dataset,  # noqa: F401  (registers dataset from-pcap, dataset split)
    lifecycle,  # noqa: F401  (registers checkpoints prune/show, dataset check)
    monitor_view,
)
from workers.cli.control import control_app
from workers.cli.detector import checkpoints_app, dataset_app, detect, run, train
from workers.cli.dev import dev_app
from workers.cli.edge import ingest_app, mqtt_app, send, sim_app
from workers.cli.worker import worker
from workers.logging_setup import DEFAULT_LOG_FILE, configure_logging

app = typer.Typer(
    name="cronos",
    help="CRONOS pipeline: field detection and protocol translation on a Kafka stream.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold secrets (typer's default; pinned)
)
app.command()(train)
app.command()(detect)
app.command()(run)
app.add_typer(checkpoints_app, name="checkpoints")
app.add_typer(dataset_app, name="dataset")
# Sub-apps of other modules are mounted below, one line each.
app.add_typer(dev_app, name="dev", help="The embedded stack: Kafka (tansu) and Redis.")
app.add_typer(ingest_app, name="ingest", help="Read frames from devices into Kafka.")
app.command()(send)
app.add_typer(mqtt_app, name="mqtt", help="MQTT egress: sink and live tail.")
app.add_typer(sim_app, name="sim", help="Simulated devices.")
app.command()(worker)
app.add_typer(control_app, name="control", help="Hot swap, roll back and inspect versions.")
app.command()(monitor_view.monitor)  # cronos monitor: live metric windows per version


@app.callback()
def _main(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
    log_json: bool = typer.Option(
        False, "--log-json", envvar="CRONOS_LOG_JSON", help="JSON-lines logs (stdout + file)."
    ),
    log_file: Path = typer.Option(
        DEFAULT_LOG_FILE, envvar="CRONOS_LOG_FILE", help="Rotating JSON log file."
    ),
) -> None:
    configure_logging(json=log_json, verbose=verbose, log_file=log_file)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
