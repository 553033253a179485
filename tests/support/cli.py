"""Running the ``cronos`` command line in-process."""

from __future__ import annotations

from typer.testing import CliRunner, Result


def cli(*args: str) -> Result:
    """Run ``cronos`` in-process with a wide terminal (rich would wrap digests otherwise)."""
    from workers.cli.main import app

    return CliRunner().invoke(app, list(args), env={"COLUMNS": "240"})
