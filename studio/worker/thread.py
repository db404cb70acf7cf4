"""One thread that owns the models and runs jobs in order, reporting through plain callbacks."""

from __future__ import annotations

import itertools
import logging
import pickle
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from studio.errors import JobCancelled
from studio.worker.errors import ErrorReport, describe_error
from studio.worker.jobs import JobContext, JobFn
from studio.worker.registry import ModelRegistry

log = logging.getLogger("studio.worker")


def resolve_device(choice: str) -> str:
    """'auto' -> 'cuda' when a GPU is usable, else 'cpu'. Imports torch, so call it on the worker."""
    if choice not in ("auto", "cpu", "cuda"):
        raise ValueError(f"unknown device {choice!r}")
    if choice == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if choice == "cuda":
        log.warning("CUDA requested but not available; using the CPU")
    return "cpu"


@dataclass
class _Job:
    ctx: JobContext
    fn: JobFn
    args: tuple
    kwargs: dict
    name: str
    internal: bool = False  # the worker's own housekeeping: no callbacks
    started: bool = False


def call_safely(callback: Callable[..., None], *args: Any) -> None:
    """A callback's failure is logged; it must never take the worker down."""
    try:
        callback(*args)
    except Exception:
        log.exception("worker callback failed")


def call_soon(callback: Callable[..., None], *args: Any) -> None:
    """Call back from a new thread, as every worker callback comes: never inside the caller's own submit() or
    cancel(), whose caller may not have registered its handlers yet or may be in the middle of its own update."""
    threading.Thread(target=callback, args=args, daemon=True).start()


def pickled(value: Any) -> Any:
    """A copy made the way a process boundary makes it."""
    return pickle.loads(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


class Worker:
    """Submit callables `fn(ctx, *args)`; results, errors, progress and cancels arrive through the callbacks,
    called on the worker thread (the Qt adapter re-emits them as queued signals).

    With `isolate`, everything that crosses between caller and job (the job and its arguments, updates, results,
    partial results, error reports) is copied through pickle, as the model process (`studio.worker.process`) does:
    tests run the panels this way, so a job that could not cross a process boundary, or a caller that relies on
    the job changing its arguments in place, fails there."""

    def __init__(self, device: str = "auto", registry: ModelRegistry | None = None, isolate: bool = False) -> None:
        self.device_choice = device
        self.isolate = isolate
        self.models = registry or ModelRegistry()
        self.on_progress: Callable[[int, float, str], None] = lambda *a: None
        self.on_update: Callable[[int, Any], None] = lambda *a: None  # (job id, what the job sent)
        self.on_started: Callable[[int, str], None] = lambda *a: None
        self.on_result: Callable[[int, Any], None] = lambda *a: None
        self.on_error: Callable[[int, ErrorReport], None] = lambda *a: None
        self.on_cancelled: Callable[[int, Any], None] = lambda *a: None  # (job id, what the job kept or None)
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._ids = itertools.count(1)
        self._jobs: dict[int, _Job] = {}
        self._lock = threading.Lock()
        self._device: str | None = None
        self._thread = threading.Thread(target=self._loop, name="studio-worker", daemon=True)
        self._thread.start()

    def set_device(self, choice: str) -> None:
        """Takes effect for the next job; loaded models are dropped since they live on the old device."""
        if choice != self.device_choice:
            self.device_choice = choice
            self._put(_Job(JobContext(0, "", self.models, self._report), lambda ctx: self._reset_device(), (), {},
                           "switch device", internal=True))

    def _reset_device(self) -> None:
        self._device = None
        self.models.clear()

    def submit(self, fn: JobFn, *args: Any, name: str = "", **kwargs: Any) -> int:
        job_id = next(self._ids)
        self.submit_as(job_id, fn, args, kwargs, name)
        return job_id

    def submit_as(self, job_id: int, fn: JobFn, args: tuple, kwargs: dict, name: str = "") -> None:
        """Queue a job under an id the caller chose (the model process runs the window's ids)."""
        if self.isolate:
            fn, args, kwargs = pickled((fn, args, kwargs))
        ctx = JobContext(job_id, "", self.models, self._report, self._send)
        self._put(_Job(ctx, fn, args, kwargs, name or getattr(fn, "__name__", "job")))

    def _put(self, job: _Job) -> None:
        if not job.internal:
            with self._lock:
                self._jobs[job.ctx.job_id] = job
        self._queue.put(job)

    def cancel(self, job_id: int) -> None:
        """A running job stops at its next check; a queued one is answered now (its place in the queue is skipped),
        not after the jobs before it: the window's model process may be killed for a cancel left unanswered."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return
            job.ctx._cancel.set()
            if job.started:
                return
            del self._jobs[job_id]
        call_soon(self._deliver, self.on_cancelled, job_id, None)

    def cancel_all(self) -> None:
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.ctx._cancel.set()

    def pending(self) -> list[int]:
        with self._lock:
            return list(self._jobs)

    def shutdown(self, timeout: float = 5.0) -> None:
        self.cancel_all()
        self._queue.put(None)
        self._thread.join(timeout)

    def _job_device(self) -> str:
        """The device, resolved when a job first asks for it (on this thread)."""
        if self._device is None:
            self._device = resolve_device(self.device_choice)
        return self._device

    def _report(self, job_id: int, fraction: float, message: str) -> None:
        self.on_progress(job_id, fraction, message)

    def _send(self, job_id: int, payload: Any) -> None:
        self.on_update(job_id, self._crossed(payload))

    def _crossed(self, value: Any) -> Any:
        return pickled(value) if self.isolate else value

    def _loop(self) -> None:
        while (job := self._queue.get()) is not None:
            job_id = job.ctx.job_id
            if job.internal:
                call_safely(job.fn, job.ctx)
                continue
            with self._lock:
                if job_id not in self._jobs:  # cancelled while queued: already answered
                    continue
                job.started = True
            try:
                if job.ctx.cancelled:
                    raise JobCancelled()
                job.ctx._resolve_device = self._job_device
                self.on_started(job_id, job.name)
                result = self._crossed(job.fn(job.ctx, *job.args, **job.kwargs))
            except JobCancelled as cancelled:
                self._deliver(self.on_cancelled, job_id, cancelled.partial)
            except BaseException as e:  # a job must never take the worker down
                self._deliver(self.on_error, job_id, describe_error(e))
            else:
                call_safely(self.on_result, job_id, result)
            finally:
                with self._lock:
                    self._jobs.pop(job_id, None)

    def _deliver(self, callback: Callable[[int, Any], None], job_id: int, value: Any) -> None:
        try:
            value = self._crossed(value)
        except Exception as e:  # what a cancelled job kept could not cross: the cancel still arrives
            log.error("could not pass on what job %d kept: %s", job_id, e)
            value = None if callback is self.on_cancelled else describe_error(e)
        call_safely(callback, job_id, value)
