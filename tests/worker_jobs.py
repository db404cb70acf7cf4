"""Jobs for tests/test_process_worker.py: module-level, so they can cross to the model process (the test puts
this folder on the child's PYTHONPATH)."""

from __future__ import annotations

import os
import sys
import threading
import time

from studio.errors import JobCancelled, StudioError


def count(ctx, n: int) -> int:
    for i in range(n):
        ctx.progress(i / n, f"step {i}")
        ctx.send(i)
    return os.getpid()


def until_cancelled(ctx) -> None:
    done = []
    while True:
        ctx.send(len(done))
        done.append(len(done))
        time.sleep(0.02)
        if ctx.cancelled:
            raise JobCancelled(partial=done)


def refuse(ctx) -> None:
    raise StudioError("That file is not audio.", "Choose a WAV or FLAC file.")


def lock(ctx) -> object:
    return threading.Lock()  # cannot be pickled: a result that cannot cross


def modules(ctx) -> bool:
    return "torch" in sys.modules


def pid(ctx) -> int:
    return os.getpid()


def size(ctx, blob: bytes) -> int:
    return len(blob)


def stubborn(ctx) -> None:
    ctx.send("running")
    while True:  # never looks at its cancel: native code that does not return, say
        time.sleep(0.05)
