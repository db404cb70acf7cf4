"""A short blocking call (stopping an audio stream) run on a thread of its own, its result handed back on the UI
thread. Not for jobs: those go to the worker, with progress and cancel."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

# how long closing the window waits for such a call: a sound server that hangs must not hang the close
JOIN_AT_CLOSE_S = 3.0


class _Relay(QObject):
    done = Signal(object)

    def __init__(self, owner: QObject, then: Callable[[Any], None]) -> None:
        super().__init__(owner)  # deleted with its owner: a result for a widget that is gone is dropped
        self._then = then
        # a method of an object living on the UI thread: the queued call runs there, whoever emits
        self.done.connect(self._deliver)

    @Slot(object)
    def _deliver(self, value: object) -> None:
        self.deleteLater()
        self._then(value)


def call_off_ui(owner: QObject, fn: Callable[[], object], then: Callable[[Any], None],
                name: str) -> threading.Thread:
    """Run `fn()` on a new thread, then `then(result)` on the UI thread, unless `owner` has been deleted by then.
    `fn` must not raise: what it has to report goes in its result. Join the returned thread to wait for `fn`."""
    relay = _Relay(owner, then)

    def run() -> None:
        value = fn()
        with contextlib.suppress(RuntimeError):  # the owner, and the relay with it, was deleted meanwhile
            relay.done.emit(value)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread
