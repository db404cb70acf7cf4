"""What a job sees while it runs: progress reporting, cooperative cancel, the device, the model registry."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from studio.errors import JobCancelled

if TYPE_CHECKING:
    from studio.worker.registry import ModelRegistry


@dataclass
class JobContext:
    job_id: int
    _device: str  # "" until a job asks: resolving "auto" imports torch, which a job that needs no model must not
    models: ModelRegistry
    _report: Callable[[int, float, str], None]
    _send: Callable[[int, object], None] = lambda job_id, payload: None
    _cancel: threading.Event = field(default_factory=threading.Event)
    _resolve_device: Callable[[], str] | None = None

    @property
    def device(self) -> str:
        if not self._device and self._resolve_device is not None:
            self._device = self._resolve_device()
        return self._device

    @device.setter
    def device(self, value: str) -> None:
        self._device = value

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check(self) -> None:
        """Raise JobCancelled if the user cancelled; call between units of work."""
        if self._cancel.is_set():
            raise JobCancelled()

    def progress(self, fraction: float, message: str = "") -> None:
        self.check()
        self._report(self.job_id, max(0.0, min(1.0, fraction)), message)

    def send(self, payload: object) -> None:
        """Hand a piece of the result to the UI while the job runs (a segment, a take); it arrives before the
        result, through the `on_update` the job was submitted with. Never checks for a cancel: what is done is
        delivered."""
        self._send(self.job_id, payload)


JobFn = Callable[..., Any]  # called as fn(ctx, *args, **kwargs)


@dataclass(frozen=True)
class Job:
    """A job named by its module and function, imported where it runs. The window submits engine jobs this way
    without importing them (they import torch), and the model process imports only the engine module, never the
    window's widgets and Qt."""

    module: str
    function: str

    @property
    def __name__(self) -> str:
        return self.function

    def __call__(self, ctx: JobContext, *args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(self.module), self.function)(ctx, *args, **kwargs)
