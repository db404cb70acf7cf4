"""The worker as a separate process: the same interface as `studio.worker.thread.Worker`, with the models, torch
and the jobs' Python work in a child process (`studio.worker.child`).

Why: a worker thread shares the window's interpreter lock. Measured in benchmarks/ui_stall.py, loading torch's C
library on the first job stopped the window for 190 ms, and codec analysis for up to 26 ms at a time; the goal is
under 16 ms. A child process cannot hold the window's lock at all.

Jobs, their arguments, updates and results cross as pickles, so a job is a module-level function (or a
`studio.worker.jobs.Job` naming one) and a result is plain data; tests run the thread worker with `isolate=True`,
which copies everything the same way. The caller's thread never waits on the child: messages go out through a
writer thread, so a child that is busy, stopped or hung cannot freeze the window. If the child dies (out of
memory, a crash in native code) its jobs are reported as failed with what happened, and the next job starts a
fresh child; a cancelled job that does not end within CANCEL_GRACE seconds has its child killed."""

from __future__ import annotations

import collections
import concurrent.futures
import itertools
import logging
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import IO, Any

from studio.worker.child import PARENT_ENV
from studio.worker.errors import ErrorReport
from studio.worker.frames import FrameWriter, read_frame
from studio.worker.jobs import JobFn
from studio.worker.thread import call_safely, call_soon

log = logging.getLogger("studio.worker")
CHILD_FLAG = "--studio-model-process"  # how a frozen (PyInstaller) app is told to be the model process
CANCEL_GRACE = 10.0  # seconds a cancelled job may take to stop before its process is killed
# `python -m` would put the current folder first on sys.path, where a user's numbers.py or torch.py would shadow
# the library's modules in the model process: start from a command that drops that entry first.
_BOOT = "import sys; sys.path[:1] = [p for p in sys.path[:1] if p]; from studio.worker.child import main; main()"


def child_command(device: str) -> list[str]:
    if getattr(sys, "frozen", False):
        return [sys.executable, CHILD_FLAG, device]
    return [sys.executable, "-c", _BOOT, device]


def _why(returncode: int) -> str:
    if returncode >= 0:
        return f"it exited with code {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    if -returncode == signal.SIGKILL:  # the kernel's out-of-memory killer sends it, and so do `kill -9` and others
        return "it was killed (SIGKILL), most often because the computer ran out of memory"
    return f"it was stopped by {name}"


def stopped_report(returncode: int, started: bool) -> ErrorReport:
    when = "in the middle of this job" if started else "before this job started"
    return ErrorReport(f"The model process stopped {when}: {_why(returncode)}.",
                       "Run it again: a new model process starts. If this keeps happening, close other programs or "
                       "choose a smaller model; the log has the details.")


def start_failed_report(returncode: int, tail: list[str]) -> ErrorReport:
    last = next((line for line in reversed(tail) if line.strip()), "")
    said = f" It said: {last.strip()}" if last else ""
    return ErrorReport(f"The model process could not start ({_why(returncode)}).{said}",
                       "Check that Voice Studio is installed completely (reinstall it if not); the log has the "
                       "details.", "".join(tail))


class _Child:
    """One model process with its threads: a writer that sends what the window queued, a reader of its messages,
    and a reader of its stderr that passes the text on and keeps the last lines."""

    def __init__(self, command: list[str], on_message: Callable[[_Child, tuple], None],
                 on_exit: Callable[[_Child], None]) -> None:
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1", PARENT_ENV: str(os.getpid())})
        self.outbox: queue.SimpleQueue[tuple | None] = queue.SimpleQueue()
        self.tail: collections.deque[str] = collections.deque(maxlen=30)
        self.ready = False
        self.gone = False  # its messages ended: it is dead or dying
        self.killed_by_us = False
        self._on_message, self._on_exit = on_message, on_exit
        self._stderr_done = threading.Event()
        for target, name in ((self._write, "writer"), (self._read, "reader"), (self._stderr, "stderr")):
            threading.Thread(target=target, name=f"studio-worker-{name}", daemon=True).start()

    def send(self, message: tuple) -> None:
        self.outbox.put(message)

    def close_input(self) -> None:
        self.outbox.put(None)

    def stopped(self) -> bool:
        """Stopped by a signal (SIGSTOP, Ctrl+Z): it will not read, cancel or stop by itself."""
        try:
            with open(f"/proc/{self.proc.pid}/stat", "rb") as f:
                return f.read().rsplit(b")", 1)[1].split()[0] in (b"T", b"t")
        except (OSError, IndexError):
            return False

    def kill(self) -> None:
        self.killed_by_us = True
        try:
            self.proc.kill()
        except OSError:
            pass

    def _write(self) -> None:
        writer = FrameWriter(self.proc.stdin)  # type: ignore[arg-type]
        while (message := self.outbox.get()) is not None:
            try:
                writer.write(message)
            except (OSError, ValueError):  # it has gone: the reader reports its jobs
                return
        try:
            writer.close()
        except OSError:
            pass

    def _read(self) -> None:
        while True:
            try:
                message = read_frame(self.proc.stdout)  # type: ignore[arg-type]
            except Exception:  # a message that does not unpickle here
                log.exception("a message from the model process could not be read")
                continue
            if message is None:
                break
            self._on_message(self, message)
        self.proc.wait()
        self._stderr_done.wait(2.0)  # its last words, for the report
        self.gone = True
        self.outbox.put(None)  # the writer ends
        self._on_exit(self)

    def _stderr(self) -> None:
        stream: IO[bytes] = self.proc.stderr  # type: ignore[assignment]
        try:
            for raw in iter(stream.readline, b""):
                line = raw.decode(errors="replace")
                self.tail.append(line)
                try:
                    sys.stderr.write(line)
                except (OSError, ValueError, AttributeError):  # no terminal (pythonw, closed stderr)
                    pass
        finally:
            self._stderr_done.set()


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
        self._jobs: dict[int, _Child] = {}  # sent and not yet ended, with the child that has them
        self._started: set[int] = set()  # of those, the ones the child said it started
        self._cancelled: set[int] = set()  # of those, the ones the user cancelled
        self._waiting: dict[int, tuple[str, bytes]] = {}  # sent, not started: resent if their child dies
        self._resent: set[int] = set()  # resent once already: a second death fails them
        self._lock = threading.RLock()
        self._child: _Child | None = None
        self._closing = False
        self.pid = 0  # the running child's, once it said it is ready
        # Children are started from this one long-lived thread: Linux kills a child with the thread that started
        # it (PR_SET_PDEATHSIG, see studio.worker.child), and a caller's thread may end at any time.
        self._spawner = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="studio-worker-start")
        self._child = self._start()

    # -- the interface of studio.worker.thread.Worker --

    def submit(self, fn: JobFn, *args: Any, name: str = "", **kwargs: Any) -> int:
        blob = pickle.dumps((fn, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)  # a bug shows here, at once
        job_id = next(self._ids)
        name = name or getattr(fn, "__name__", "job")
        with self._lock:
            if self._closing:  # the window is closing: nobody would stop a new model process
                call_soon(call_safely, self.on_cancelled, job_id, None)
                return job_id
            self._send_job(job_id, name, blob)
        return job_id

    def _send_job(self, job_id: int, name: str, blob: bytes) -> None:
        """To the running child, started if there is none (called with the lock held)."""
        if self._child is None or self._child.gone or self._child.proc.poll() is not None:
            self._child = self._start()
        self._jobs[job_id] = self._child
        self._waiting[job_id] = (name, blob)
        self._child.send(("submit", job_id, name, blob))  # if it has died, its reader deals with this job

    def cancel(self, job_id: int) -> None:
        with self._lock:
            child = self._jobs.get(job_id)
            if child is None:
                return
            self._cancelled.add(job_id)
            child.send(("cancel", job_id))  # a job still queued there is answered at once
            if child.stopped():
                log.warning("the model process is stopped (SIGSTOP); killing it to cancel job %d", job_id)
                child.kill()
            elif job_id in self._started:
                self._watch_cancel(job_id, child)

    def _watch_cancel(self, job_id: int, child: _Child) -> None:
        timer = threading.Timer(CANCEL_GRACE, self._enforce_cancel, args=(job_id, child))
        timer.daemon = True
        timer.start()

    def cancel_all(self) -> None:
        with self._lock:
            jobs = list(self._jobs)
        for job_id in jobs:
            self.cancel(job_id)

    def pending(self) -> list[int]:
        with self._lock:
            return sorted(self._jobs)

    def set_device(self, choice: str) -> None:
        if choice != self.device_choice:
            self.device_choice = choice
            with self._lock:
                if self._child is not None:
                    self._child.send(("device", choice))

    def shutdown(self, timeout: float = 2.0) -> None:
        """Stop the child; one that has not ended `timeout` s later (a job deaf to its cancel) is killed. The window
        waits for this when it closes, so it is short: real jobs stop within 0.7 s of a cancel."""
        with self._lock:
            self._closing = True
            child = self._child
            if child is None:
                return
            child.send(("stop",))
            child.close_input()
            if child.stopped():
                child.kill()
        try:
            child.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("the model process did not stop in %.0f s; killing it", timeout)
            child.kill()
            child.proc.wait()

    # -- the child --

    def _start(self) -> _Child:
        command = child_command(self.device_choice) + ([] if self.warm else ["--no-warm"])
        return self._spawner.submit(_Child, command, self._message, self._exited).result()

    def _enforce_cancel(self, job_id: int, child: _Child) -> None:
        with self._lock:
            if self._jobs.get(job_id) is not child or child.gone:
                return
            log.warning("job %d did not stop within %.0f s of its cancel; killing the model process", job_id,
                        CANCEL_GRACE)
            child.kill()

    def _message(self, child: _Child, message: tuple) -> None:
        kind, job_id, *payload = message
        if kind == "ready":
            child.ready = True
            self.pid = payload[0]
        elif kind == "started":
            with self._lock:
                self._started.add(job_id)
                self._waiting.pop(job_id, None)
                if job_id in self._cancelled:  # cancelled on its way: it must stop like any other
                    self._watch_cancel(job_id, child)
            call_safely(self.on_started, job_id, *payload)
        elif kind == "progress":
            call_safely(self.on_progress, job_id, *payload)
        elif kind == "update":
            call_safely(self.on_update, job_id, *payload)
        elif kind in ("result", "error", "cancelled"):
            callback = {"result": self.on_result, "error": self.on_error, "cancelled": self.on_cancelled}[kind]
            self._end(job_id, callback, *payload)

    def _exited(self, child: _Child) -> None:
        returncode = child.proc.returncode
        failed: list[tuple[int, ErrorReport | None]] = []  # None: cancelled
        with self._lock:
            if self._child is child:
                self._child = None
            orphans = sorted(j for j, c in self._jobs.items() if c is child)
            started_up = child.ready or child.killed_by_us
            for job_id in orphans:
                if self._closing or job_id in self._cancelled:
                    failed.append((job_id, None))
                elif not started_up:
                    failed.append((job_id, start_failed_report(returncode, list(child.tail))))
                elif job_id in self._started or job_id in self._resent:
                    failed.append((job_id, stopped_report(returncode, job_id in self._started)))
                else:  # never started there: it goes to a new child, once
                    self._resent.add(job_id)
                    self._send_job(job_id, *self._waiting[job_id])
        if not started_up:
            log.error("the model process could not start (return code %s):\n%s", returncode, "".join(child.tail))
        elif orphans and not self._closing and not child.killed_by_us:
            log.error("the model process stopped (return code %s) with jobs %s", returncode, orphans)
        for job_id, report in failed:
            if report is None:
                self._end(job_id, self.on_cancelled, None)
            else:
                self._end(job_id, self.on_error, report)

    def _end(self, job_id: int, callback: Callable[..., None], *payload: Any) -> None:
        with self._lock:
            if self._jobs.pop(job_id, None) is None:
                return
            for held in (self._started, self._cancelled, self._resent):
                held.discard(job_id)
            self._waiting.pop(job_id, None)
        call_safely(callback, job_id, *payload)
