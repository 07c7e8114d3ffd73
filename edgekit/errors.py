"""One error hierarchy. Every error carries a hint (what to do) and maps to an exit code.

The CLI prints ``message`` and ``hint`` as one paragraph and exits with ``exit_code``;
``--debug`` adds the traceback. Library code raises these with ``from exc``.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1
    USAGE = 2  # click's own code for bad options
    BAD_MODEL = 3
    BAD_DATA = 4
    BAD_PROFILE = 5
    OUTPUT_EXISTS = 6
    BACKEND_UNAVAILABLE = 7
    PIPELINE = 8
    VERIFICATION_FAILED = 9  # a variant broke the accuracy budget or did not run INT8
    NOT_FOUND = 10  # a model, weights, data or profile path that does not exist
    SHAPE_MISMATCH = 11
    UNKNOWN_PROFILE = 12
    UNTRUSTED_PICKLE = 13
    OUTPUT_NOT_WRITABLE = 14  # --out's parent is missing write permission, or lies below a regular file
    NO_SPACE = 15  # the disk filled up (ENOSPC) while edgekit wrote
    INTERRUPTED = 130  # 128 + SIGINT, what shells expect


class EdgekitError(Exception):
    """Base class: ``message`` says what is wrong, ``hint`` says how to fix it."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


class ModelLoadError(EdgekitError):
    exit_code = ExitCode.BAD_MODEL


class ModelNotFoundError(ModelLoadError):
    exit_code = ExitCode.NOT_FOUND


class UntrustedPickleError(ModelLoadError):
    exit_code = ExitCode.UNTRUSTED_PICKLE


class DataError(EdgekitError):
    exit_code = ExitCode.BAD_DATA


class DataNotFoundError(DataError):
    exit_code = ExitCode.NOT_FOUND


class ShapeMismatchError(DataError):
    exit_code = ExitCode.SHAPE_MISMATCH


class ProfileError(EdgekitError):
    exit_code = ExitCode.BAD_PROFILE


class ProfileNotFoundError(ProfileError):
    exit_code = ExitCode.NOT_FOUND


class UnknownProfileError(ProfileError):
    exit_code = ExitCode.UNKNOWN_PROFILE


class OutputExistsError(EdgekitError):
    exit_code = ExitCode.OUTPUT_EXISTS


class OutputNotWritableError(EdgekitError):
    exit_code = ExitCode.OUTPUT_NOT_WRITABLE


class NoSpaceError(EdgekitError):
    exit_code = ExitCode.NO_SPACE


class BackendUnavailableError(EdgekitError):
    exit_code = ExitCode.BACKEND_UNAVAILABLE


class PipelineError(EdgekitError):
    exit_code = ExitCode.PIPELINE


class OptionError(PipelineError):
    """An option value or combination that cannot work, found before any work: the usage exit code (2)."""

    exit_code = ExitCode.USAGE


class VerificationError(EdgekitError):
    exit_code = ExitCode.VERIFICATION_FAILED


def _mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def no_space_error(exc: BaseException, written: str = "") -> NoSpaceError | None:
    """A NoSpaceError when ``exc`` or anything in its cause chain is ENOSPC (a library may have wrapped it),
    naming the file or filesystem that filled and its free space; None otherwise. ``written``: what the run had
    written when it failed (e.g. "212 MiB in the build dir")."""
    import errno
    import shutil

    seen: BaseException | None = exc
    while seen is not None:
        if (isinstance(seen, OSError) and seen.errno == errno.ENOSPC) or "No space left on device" in str(seen):
            break
        seen = seen.__cause__ or seen.__context__
    if seen is None:
        return None
    filename = getattr(seen, "filename", None)
    where = f" writing {filename}" if filename else ""
    free = ""
    from pathlib import Path

    probe = Path(filename).parent if filename else Path.cwd()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        free = f"; {probe} has {_mib(shutil.disk_usage(probe).free)} free now"
    except OSError:
        pass
    done = f" ({written} when it failed)" if written else ""
    return NoSpaceError(f"The disk filled up{where}{done}{free}. Nothing was left behind: the work in progress was "
                        "removed.", "Free some space (or point --out, and TMPDIR for temporary files, at a disk with "
                        "room for a few copies of the model) and run the same command again.")
