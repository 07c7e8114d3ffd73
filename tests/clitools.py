"""Running the CLI in-process for tests (click's runner: exit code + stdout/stderr together)."""

from __future__ import annotations

from click.testing import CliRunner

from edgekit.cli.main import cli


def run(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.output
