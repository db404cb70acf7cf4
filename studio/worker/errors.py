"""Turning any exception from a job into a message a user can act on."""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass

from studio.errors import StudioError

log = logging.getLogger("studio.worker")


@dataclass(frozen=True)
class ErrorReport:
    message: str
    remedy: str
    detail: str = ""  # traceback, for the log and a "details" expander; never the headline

    def __str__(self) -> str:
        return f"{self.message} {self.remedy}".strip()


def _is_cuda_oom(exc: BaseException) -> bool:
    if type(exc).__name__ == "OutOfMemoryError":
        return True
    return isinstance(exc, RuntimeError) and "CUDA out of memory" in str(exc)


def describe_error(exc: BaseException) -> ErrorReport:
    detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if isinstance(exc, StudioError):
        return ErrorReport(exc.message, exc.remedy, detail)
    if _is_cuda_oom(exc):
        return ErrorReport("The GPU ran out of memory.",
                           "Choose a smaller model, close other GPU programs, or set Device to CPU in Settings.",
                           detail)
    if isinstance(exc, MemoryError):
        return ErrorReport("The computer ran out of memory.",
                           "Close other programs, choose a smaller model, or work on a shorter file.", detail)
    if isinstance(exc, FileNotFoundError):
        return ErrorReport(f"File not found: {exc.filename}.", "Check that the file still exists.", detail)
    if isinstance(exc, PermissionError):
        return ErrorReport(f"Permission denied: {exc.filename}.",
                           "Choose a folder you can write to, or fix the file's permissions.", detail)
    if isinstance(exc, OSError) and exc.errno == 28:
        return ErrorReport("The disk is full.", "Free some space and try again.", detail)
    if isinstance(exc, OSError) and exc.errno is not None:  # read-only disk, I/O error, name too long, ...
        from studio.outputs import describe_os_error

        err = describe_os_error(exc, exc.filename or "a file", "use")
        return ErrorReport(err.message, err.remedy, detail)
    log.error("unexpected error in job:\n%s", detail)
    return ErrorReport(f"Unexpected error: {type(exc).__name__}: {exc}",
                       "This is a bug in Voice Studio; the details are in the log.", detail)
