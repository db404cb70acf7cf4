"""The worker as a separate process: the same interface as `studio.worker.thread.Worker`, with the models, torch
and the jobs' Python work in a child process (`studio.worker.child`).

Why: a worker thread shares the window's interpreter lock. Measured in benchmarks/ui_stall.py, loading torch's C
library on the first job stopped the window for 190 ms, and codec analysis for up to 26 ms at a time; the goal is
under 16 ms. A child process cannot hold the window's lock at all.

Jobs, their arguments, updates and results cross as pickles, so a job is a module-level function (or a
functools.partial of one) and a result is plain data; tests run the thread worker with `isolate=True`, which
copies everything the same way. If the child dies (out of memory, a crash in native code), the jobs it had are
reported as failed with what happened, and the next job starts a fresh child."""

from __future__ import annotations

import itertools
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

from studio.worker.errors import ErrorReport
from studio.worker.frames import FrameWriter, read_frame
from studio.worker.jobs import JobFn
from studio.worker.thread import call_safely

log = logging.getLogger("studio.worker")
CHILD_FLAG = "--studio-model-process"  # how a frozen (PyInstaller) app is told to be the model process


def child_command(device: str) -> list[str]:
    if getattr(sys, "frozen", False):
        return [sys.executable, CHILD_FLAG, device]
    return [sys.executable, "-m", "studio.worker.child", device]


def _stopped(returncode: int) -> ErrorReport:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        why = ("the system stopped it, most often because the computer ran out of memory"
               if -returncode == signal.SIGKILL else f"it was stopped by {name}")
    else:
        why = f"it exited with code {returncode}"
    return ErrorReport(f"The model process stopped in the middle of this job: {why}.",
                       "Try again (a new model process starts); with a long file or a large model, choose a smaller "
                       "model or close other programs. The details are in the log.")


class ProcessWorker:
    """Submit module-level functions `fn(ctx, *args)`; the callbacks are called on a reader thread of this
    process (the Qt adapter re-emits them as queued signals)."""

    def __init__(self, device: str = "auto", warm: bool = True) -> None:
        self.device_choice = device
        self.warm = warm
        self.on_progress: Callable[[int, float, str], None] = lambda *a: None
        self.on_update: Callable[[int, Any], None] = lambda *a: None
        self.on_started: Callable[[int, str], None] = lambda *a: None
        self.on_result: Callable[[int, Any], None] = lambda *a: None
        self.on_error: Callable[[int, ErrorReport], None] = lambda *a: None
        self.on_cancelled: Callable[[int, Any], None] = lambda *a: None
        self._ids = itertools.count(1)
        self._jobs: dict[int, subprocess.Popen] = {}  # sent and not yet ended, with the child that has them
        self._lock = threading.RLock()
        self._proc: subprocess.Popen | None = None
        self._writer: FrameWriter | None = None
        self._closing = False
        self.pid = 0  # the running child's, once it said it is ready
        self._start()

    # -- the interface of studio.worker.thread.Worker --

    def submit(self, fn: JobFn, *args: Any, name: str = "", **kwargs: Any) -> int:
        blob = pickle.dumps((fn, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)  # a bug shows here, at once
        job_id = next(self._ids)
        name = name or getattr(fn, "__name__", "job")
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._start()
            self._jobs[job_id] = self._proc  # type: ignore[assignment]
            sent = self._send(("submit", job_id, name, blob))
        if not sent:  # reported from another thread: the caller registers its callbacks after submit returns
            report = _stopped(self._proc.poll() or 0) if self._proc is not None else _stopped(0)
            threading.Thread(target=self._end, args=(job_id, self.on_error, report), daemon=True).start()
        return job_id

    def cancel(self, job_id: int) -> None:
        with self._lock:
            if job_id in self._jobs:
                self._send(("cancel", job_id))

    def cancel_all(self) -> None:
        with self._lock:
            for job_id in list(self._jobs):
                self._send(("cancel", job_id))

    def pending(self) -> list[int]:
        with self._lock:
            return sorted(self._jobs)

    def set_device(self, choice: str) -> None:
        if choice != self.device_choice:
            self.device_choice = choice
            with self._lock:
                self._send(("device", choice))

    def shutdown(self, timeout: float = 5.0) -> None:
        with self._lock:
            self._closing = True
            proc = self._proc
            self._send(("stop",))
            if self._writer is not None:
                try:
                    self._writer.close()
                except OSError:
                    pass
        if proc is None:
            return
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("the model process did not stop in %.0f s; killing it", timeout)
            proc.kill()
            proc.wait()

    # -- the child --

    def _start(self) -> None:
        command = child_command(self.device_choice) + ([] if self.warm else ["--no-warm"])
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self._proc, self._writer = proc, FrameWriter(proc.stdin)  # type: ignore[arg-type]
        threading.Thread(target=self._read, args=(proc,), name="studio-worker-reader", daemon=True).start()

    def _send(self, message: tuple) -> bool:
        if self._writer is None:
            return False
        try:
            self._writer.write(message)
            return True
        except (OSError, ValueError):  # the child has gone (its reader reports the jobs) or the pipe is closed
            return False

    def _read(self, proc: subprocess.Popen) -> None:
        callbacks = {"started": "on_started", "progress": "on_progress", "update": "on_update"}  # looked up per
        ends = {"result": "on_result", "error": "on_error", "cancelled": "on_cancelled"}  # message: set after start
        while True:
            try:
                message = read_frame(proc.stdout)  # type: ignore[arg-type]
            except Exception:  # a message that does not unpickle here
                log.exception("a message from the model process could not be read")
                continue
            if message is None:
                break
            kind, job_id, *payload = message
            if kind == "ready":
                self.pid = payload[0]
            elif kind in ends:
                self._end(job_id, getattr(self, ends[kind]), *payload)
            elif kind in callbacks:
                call_safely(getattr(self, callbacks[kind]), job_id, *payload)
        returncode = proc.wait()
        with self._lock:
            if self._proc is proc:
                self._proc, self._writer = None, None
            orphans = [] if self._closing else sorted(j for j, p in self._jobs.items() if p is proc)
        if orphans:
            log.error("the model process stopped (return code %s) with jobs %s", returncode, orphans)
        for job_id in orphans:
            self._end(job_id, self.on_error, _stopped(returncode))

    def _end(self, job_id: int, callback: Callable[..., None], *payload: Any) -> None:
        with self._lock:
            if job_id not in self._jobs:
                return
            del self._jobs[job_id]
        call_safely(callback, job_id, *payload)
