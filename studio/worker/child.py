"""The model process: a thread Worker that runs the window's jobs, commanded over stdin, reporting over stdout.

Started by `studio.worker.process.ProcessWorker` as `python -m studio.worker.child DEVICE`. Models, torch and
every job's Python work live here, so none of it can hold the window's interpreter lock: importing torch's C
library alone held it for 0.2 s."""

from __future__ import annotations

import logging
import os
import pickle
import signal
import sys
import threading
from typing import Any, BinaryIO

from studio.worker.errors import describe_error
from studio.worker.frames import FrameWriter, read_frame
from studio.worker.thread import Worker

log = logging.getLogger("studio.worker")
LOG_ENV = "VOICE_STUDIO_LOG"  # the window's log file, which this process appends to


def _warm() -> None:
    """Import torch while the user looks at the window, so the first job does not wait for it."""
    try:
        import torch  # noqa: F401
    except Exception:  # a job that needs torch will say what is wrong
        log.exception("torch did not import in the model process")


def log_to(log_file: str | None, who: str = "") -> bool:
    """Log to `log_file` (INFO and up), or to stderr (WARNING and up) where there is none or it cannot be written
    (a read-only home, a log folder removed while the app runs): logging must never stop the app from starting."""
    form = f"%(asctime)s {who}%(name)s %(levelname)s %(message)s"
    if log_file:
        try:
            logging.basicConfig(handlers=[logging.FileHandler(log_file, encoding="utf-8")], level=logging.INFO,
                                format=form)
            return True
        except OSError as e:
            print(f"Voice Studio: cannot write the log {log_file} ({e.strerror}); logging to the terminal",
                  file=sys.stderr)
    logging.basicConfig(level=logging.WARNING, format=form)
    return False


def _be_nice(value: str) -> None:
    """VOICE_STUDIO_NICE=N lowers the model process's priority by N. Off by default: measured, +5 let any busy
    program of normal priority slow a transcription tenfold, while the window, a separate process, barely
    needs the CPU."""
    try:
        n = int(value)
    except ValueError:
        log.warning("VOICE_STUDIO_NICE must be a whole number, not %r", value)
        return
    if n and hasattr(os, "nice"):
        try:
            os.nice(n)
        except OSError as e:  # raising the priority (n < 0) needs privileges
            log.warning("could not change the model process's priority by %d: %s", n, e.strerror)


def serve(commands: BinaryIO, events: BinaryIO, device: str, warm: bool = True) -> None:
    """Run jobs until the window says stop or goes away (end of `commands`)."""
    out = FrameWriter(events)
    worker = Worker(device)

    def send(kind: str, job_id: int, *payload: Any) -> None:
        try:
            out.write((kind, job_id, *payload))
        except (pickle.PicklingError, TypeError, AttributeError) as e:  # a result that cannot cross: a bug
            out.write(("error", job_id, describe_error(e)))

    worker.on_started = lambda job_id, name: send("started", job_id, name)
    worker.on_progress = lambda job_id, fraction, message: out.write(("progress", job_id, fraction, message))
    worker.on_update = lambda job_id, payload: out.write(("update", job_id, payload))  # failure: the job's error
    worker.on_result = lambda job_id, result: send("result", job_id, result)
    worker.on_error = lambda job_id, report: send("error", job_id, report)
    worker.on_cancelled = lambda job_id, partial: send("cancelled", job_id, partial)
    if warm:
        threading.Thread(target=_warm, name="studio-warm", daemon=True).start()
    out.write(("ready", 0, os.getpid()))
    while (message := read_frame(commands)) is not None:
        kind = message[0]
        if kind == "submit":
            _, job_id, name, blob = message
            try:
                fn, args, kwargs = pickle.loads(blob)
            except Exception as e:  # the job's module does not import here
                send("error", job_id, describe_error(e))
                continue
            worker.submit_as(job_id, fn, args, kwargs, name)
        elif kind == "cancel":
            worker.cancel(message[1])
        elif kind == "device":
            worker.set_device(message[1])
        elif kind == "stop":
            worker.shutdown(timeout=5.0)
            break
    else:  # the window went away without saying stop: nobody is left to read results
        worker.cancel_all()
    out.close()


PARENT_ENV = "VOICE_STUDIO_PARENT"  # the window's process id


def _die_with_parent() -> None:
    """Have Linux kill this process when the window's process ends. The end of stdin tells a running child the
    window has gone, but a child stopped by SIGSTOP (Ctrl+Z) reads nothing, and would outlive a window killed
    outright, holding the models' memory."""
    parent = os.environ.get(PARENT_ENV, "")
    if not sys.platform.startswith("linux") or not parent.isdigit():
        return
    try:
        import ctypes

        if ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0) != 0:  # PR_SET_PDEATHSIG
            return
    except (OSError, AttributeError):
        return
    if os.getppid() != int(parent):  # the window ended before the request took effect
        os._exit(0)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    device = args[0] if args else "auto"
    events = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    # whatever a library prints goes to stderr, never into the message stream
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    log_to(os.environ.get(LOG_ENV), "model process ")
    # Ctrl+C in the terminal reaches the whole process group: the window closes and tells this process to stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    _be_nice(os.environ.get("VOICE_STUDIO_NICE", "0"))
    try:
        serve(sys.stdin.buffer, events, device, warm="--no-warm" not in args)
    finally:
        sys.stderr.flush()
        os._exit(0)  # no interpreter teardown: a job thread may still hold torch


if __name__ == "__main__":
    main()
