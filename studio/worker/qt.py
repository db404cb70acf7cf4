"""The worker as seen from Qt: signals delivered on the UI thread, and awaitables for qasync code."""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from studio.errors import JobCancelled, StudioError
from studio.worker.errors import ErrorReport
from studio.worker.jobs import JobFn
from studio.worker.process import ProcessWorker
from studio.worker.thread import Worker

MODES = ("process", "thread", "isolated")


def make_worker(device: str, mode: str | None = None) -> Worker | ProcessWorker:
    """The app's worker: a model process by default. VOICE_STUDIO_WORKER=thread runs jobs on a thread of the
    window's process (for debugging); "isolated" is that thread with everything copied through pickle as the
    process does (the tests use it: monkeypatches reach the jobs, and a job that could not cross still fails)."""
    mode = mode or os.environ.get("VOICE_STUDIO_WORKER") or "process"
    if mode not in MODES:
        raise ValueError(f"VOICE_STUDIO_WORKER must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "process":
        return ProcessWorker(device)
    return Worker(device, isolate=mode == "isolated")


class JobFailed(StudioError):
    def __init__(self, report: ErrorReport) -> None:
        super().__init__(report.message, report.remedy)
        self.report = report


class QtWorker(QObject):
    """Signals are emitted from the worker thread; Qt queues them to this object's (the UI) thread."""

    started = Signal(int, str)
    progress = Signal(int, float, str)
    updated = Signal(int, object)    # job id, a piece of the result the job sent (ctx.send)
    finished = Signal(int, object)
    failed = Signal(int, object)      # ErrorReport
    cancelled = Signal(int, object)  # job id, what the job kept (e.g. a partial transcript) or None

    def __init__(self, device: str = "auto", parent: QObject | None = None, mode: str | None = None) -> None:
        super().__init__(parent)
        self.worker = make_worker(device, mode)
        self.worker.on_started = self.started.emit
        self.worker.on_progress = self.progress.emit
        self.worker.on_update = self.updated.emit
        self.worker.on_result = self.finished.emit
        self.worker.on_error = self.failed.emit
        self.worker.on_cancelled = self.cancelled.emit
        self._futures: dict[int, asyncio.Future] = {}
        self._callbacks: dict[int, tuple[Callable | None, Callable | None]] = {}
        self._updates: dict[int, Callable[[Any], None]] = {}
        self.updated.connect(self._update)
        self.finished.connect(self._resolve)
        self.failed.connect(self._fail)
        self.cancelled.connect(self._cancelled)

    def submit(self, fn: JobFn, *args: Any, name: str = "", on_result: Callable[[Any], None] | None = None,
               on_error: Callable[[ErrorReport], None] | None = None,
               on_update: Callable[[Any], None] | None = None, **kwargs: Any) -> int:
        """Queue `fn(ctx, *args)`; `on_result` / `on_error` are called on the UI thread (not after a cancel), and
        `on_update` with each thing the job sends (ctx.send) while it runs."""
        job_id = self.worker.submit(fn, *args, name=name, **kwargs)
        if on_result is not None or on_error is not None:
            self._callbacks[job_id] = (on_result, on_error)
        if on_update is not None:
            self._updates[job_id] = on_update
        return job_id

    def run(self, fn: JobFn, *args: Any, name: str = "", **kwargs: Any) -> tuple[int, asyncio.Future]:
        """Submit and return (job id, future) for `await` in qasync code; the future raises JobFailed or
        JobCancelled."""
        job_id = self.submit(fn, *args, name=name, **kwargs)
        fut = asyncio.get_event_loop().create_future()
        self._futures[job_id] = fut
        return job_id, fut

    def cancel(self, job_id: int) -> None:
        self.worker.cancel(job_id)

    def set_device(self, choice: str) -> None:
        self.worker.set_device(choice)

    def shutdown(self) -> None:
        self.worker.shutdown()

    def _update(self, job_id: int, payload: object) -> None:
        on_update = self._updates.get(job_id)
        if _alive(on_update):
            on_update(payload)  # type: ignore[misc]

    def _fail(self, job_id: int, report: ErrorReport) -> None:
        self._updates.pop(job_id, None)
        on_error = self._callbacks.pop(job_id, (None, None))[1]
        if _alive(on_error):
            on_error(report)  # type: ignore[misc]
        self._reject(job_id, JobFailed(report))

    def _cancelled(self, job_id: int, partial: object = None) -> None:
        self._callbacks.pop(job_id, None)
        self._updates.pop(job_id, None)
        self._reject(job_id, JobCancelled())

    def _resolve(self, job_id: int, result: object) -> None:
        self._updates.pop(job_id, None)
        on_result = self._callbacks.pop(job_id, (None, None))[0]
        if _alive(on_result):
            on_result(result)  # type: ignore[misc]
        fut = self._futures.pop(job_id, None)
        if fut is not None and not fut.done():
            fut.set_result(result)

    def _reject(self, job_id: int, exc: BaseException) -> None:
        fut = self._futures.pop(job_id, None)
        if fut is not None and not fut.done():
            fut.set_exception(exc)


def _alive(callback: Callable | None) -> bool:
    """False for no callback, or a method of a widget already destroyed (a panel closed while its job ran: calling
    it would raise inside Qt's event loop)."""
    if callback is None:
        return False
    while isinstance(callback, functools.partial):
        callback = callback.func
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, QObject):
        import shiboken6

        return shiboken6.isValid(owner)
    return True
