"""Run Python's cyclic garbage collector on the UI thread only.

Left automatic, a collection can start on the worker thread and destroy Qt objects there, which crashes Qt.
Collection is switched off and done here, from a timer, by the interpreter's own rules: a young collection once
more than 700 new objects are alive, an older one every 10 young ones, and a full one only when the objects that
reached the oldest generation since the last full one are a quarter of those it kept. The timer is short, so each
collection only sees what was allocated since the last tick: checked once a second, the worker's bursts (importing
torch, loading a model) piled up hundreds of thousands of new objects, and collecting them stalled the UI for a
tenth to half a second (benchmarks/ui_stall.py --profile).

The worker's model registry needs full collections too (unloading a model); it asks through `request_collect`
(installed with `studio.worker.registry.set_ui_collector`) and the next tick runs it here.
"""

from __future__ import annotations

import gc
import threading

from PySide6.QtCore import QObject, QTimer

from studio.worker import registry


class GarbageCollector(QObject):
    def __init__(self, parent: QObject, interval_ms: int = 20) -> None:
        super().__init__(parent)
        self.threshold = gc.get_threshold()
        gc.disable()
        self._long_lived = len(gc.get_objects(generation=2))
        self._pending = 0  # objects promoted to the oldest generation since the last full collection
        self._requests: list[threading.Event] = []  # full collections other threads wait for
        self._lock = threading.Lock()
        self.timer = QTimer(self, interval=interval_ms)
        self.timer.timeout.connect(self.check)
        self.timer.start()
        request = self.request_collect
        registry.set_ui_collector(request, threading.current_thread())
        self.destroyed.connect(lambda: registry.remove_ui_collector(request))

    def request_collect(self) -> threading.Event:
        """Called from any thread: a full collection on the UI thread at the next tick; the event says done."""
        done = threading.Event()
        with self._lock:
            self._requests.append(done)
        return done

    def check(self) -> None:
        with self._lock:
            waiting, self._requests = self._requests, []
        if waiting:
            self._full()
            for done in waiting:
                done.set()
            return
        counts = gc.get_count()
        if counts[0] <= self.threshold[0]:
            return
        if counts[2] > self.threshold[2] and self._pending >= self._long_lived // 4:
            self._full()
        elif counts[1] > self.threshold[1]:
            young = len(gc.get_objects(generation=0)) + len(gc.get_objects(generation=1))
            self._pending += max(0, young - gc.collect(1))  # the survivors move to the oldest generation
        else:
            gc.collect(0)

    def _full(self) -> None:
        gc.collect(2)
        self._long_lived = len(gc.get_objects(generation=2))
        self._pending = 0


def freeze_startup() -> None:
    """Call once the window is built (the app does, not tests): what start-up made (modules, widgets, the panels)
    lives as long as the window, so it moves out of the collector's sight. The first collection then no longer
    walks ~31 000 start-up objects on the UI thread (11-20 ms, benchmarks/ui_stall.py --profile), nor does any
    full collection after it."""
    gc.freeze()
