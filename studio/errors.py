"""Errors a user can act on: each carries a message and a remedy, shown as-is in the UI and the CLI."""

from __future__ import annotations


class StudioError(Exception):
    """An expected failure with a human message and a suggested remedy."""

    def __init__(self, message: str, remedy: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.remedy = remedy

    def __str__(self) -> str:
        return f"{self.message}\n{self.remedy}" if self.remedy else self.message


class JobCancelled(Exception):
    """Raised inside a job when the user cancelled it; not an error. `partial` holds what the job finished
    before the cancel, where it has something worth keeping (e.g. the segments of a transcript)."""

    def __init__(self, partial: object = None) -> None:
        super().__init__()
        self.partial = partial
