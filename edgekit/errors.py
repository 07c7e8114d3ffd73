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


class BackendUnavailableError(EdgekitError):
    exit_code = ExitCode.BACKEND_UNAVAILABLE


class PipelineError(EdgekitError):
    exit_code = ExitCode.PIPELINE


class VerificationError(EdgekitError):
    exit_code = ExitCode.VERIFICATION_FAILED
