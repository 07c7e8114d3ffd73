"""Maps exceptions to one-paragraph messages and exit codes; tracebacks only with --debug."""

from __future__ import annotations

import functools
import logging
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import click

from edgekit.errors import EdgekitError, ExitCode, NoSpaceError, no_space_error

F = TypeVar("F", bound=Callable[..., Any])


def _say(text: str) -> None:
    # one unwrapped paragraph: wrapping would split file paths at hyphens and break copy-paste
    click.echo(text, err=True)


def handle_errors(func: F) -> F:
    """Run a command; turn every failure into a clear message and a distinct exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = bool(click.get_current_context().find_root().params.get("debug"))
        try:
            try:
                return func(*args, **kwargs)
            except Exception as exc:
                full = no_space_error(exc)  # ENOSPC, even wrapped by a library or a stage: its own error
                if full is None or isinstance(exc, NoSpaceError):
                    raise
                raise full from exc
        except EdgekitError as exc:
            if debug:
                traceback.print_exc()
            _say(f"Error: {exc.message} {exc.hint}".strip())
            sys.exit(int(exc.exit_code))
        except KeyboardInterrupt:
            _say("Interrupted. Nothing was written to the output directory (work in progress was removed).")
            sys.exit(int(ExitCode.INTERRUPTED))
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:
            if debug:
                traceback.print_exc()
            logging.getLogger("edgekit").debug("internal error", exc_info=True)
            _say(f"Internal error: {type(exc).__name__}: {exc}. This is a bug in edgekit or an unsupported model; "
                 "re-run with --debug for the traceback and report it.")
            sys.exit(int(ExitCode.INTERNAL))

    return wrapper  # type: ignore[return-value]
