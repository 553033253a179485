"""``cronos worker``: run one streaming worker process."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from pydantic import ValidationError

from streams.errors import SettingsError


def worker(
    worker_id: str = typer.Option(None, "--worker-id", help="Overrides CRONOS_WORKER_ID."),
    broker: str = typer.Option(None, "--broker", help="Overrides CRONOS_KAFKA_BROKER."),
    artifact_root: Path = typer.Option(
        None, "--artifact-root", help="Overrides CRONOS_ARTIFACT_ROOT."
    ),
    loglevel: str = typer.Option("info", "--loglevel", help="debug, info, warning, error."),
) -> None:
    """Run one streaming worker (frames → results/DLQ, control commands) until stopped.

    Every other setting comes from the environment: CRONOS_REDIS_URL, CRONOS_ROUTES,
    CRONOS_CONTROL_HMAC_KEY[_FILE], CRONOS_INITIAL_DETECTOR_VERSION, CRONOS_SEED_DEFAULT_MODEL, …
    (docs/streaming.md).
    """
    # Options override the environment the settings read, so both paths share one validation.
    for name, value in (
        ("CRONOS_WORKER_ID", worker_id),
        ("CRONOS_KAFKA_BROKER", broker),
        ("CRONOS_ARTIFACT_ROOT", str(artifact_root) if artifact_root else None),
    ):
        if value:
            os.environ[name] = value
    from workers.process import run_worker

    try:
        run_worker(loglevel=loglevel)
    except (SettingsError, ValidationError) as exc:
        # The settings hide rejected values in their errors (hide_input_in_errors): a bad
        # CRONOS_REDIS_URL is named, never shown, since it may carry a password.
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
