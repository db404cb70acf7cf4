"""A short blocking call (stopping an audio stream) run on a thread of its own, its result handed back on the UI
thread. Not for jobs: those go to the worker, with progress and cancel."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot


class _Relay(QObject):
    done = Signal(object)

    def __init__(self, then: Callable[[Any], None]) -> None:
        super().__init__()
        self._then = then
        # a method of an object living on the UI thread: the queued call runs there, whoever emits
        self.done.connect(self._deliver)

    @Slot(object)
    def _deliver(self, value: object) -> None:
        _alive.discard(self)
        self._then(value)


_alive: set[_Relay] = set()  # each relay is kept until its result is delivered


def call_off_ui(fn: Callable[[], object], then: Callable[[Any], None], name: str) -> threading.Thread:
    """Run `fn()` on a new thread, then `then(result)` on the UI thread. `fn` must not raise: what it has to
    report goes in its result. Join the returned thread to wait for `fn` (at shutdown)."""
    relay = _Relay(then)
    _alive.add(relay)
    thread = threading.Thread(target=lambda: relay.done.emit(fn()), name=name, daemon=True)
    thread.start()
    return thread
