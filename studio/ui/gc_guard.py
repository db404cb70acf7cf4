"""Run Python's cyclic garbage collector on the UI thread only.

Left automatic, a collection can start on the worker thread and destroy Qt objects there, which crashes Qt.
Collection is switched off and done here, from a timer, by the interpreter's own rules: a young collection once
more than 700 new objects are alive, an older one every 10 young ones, and a full one only when the objects that
reached the oldest generation since the last full one are a quarter of those it kept. The timer is short, so each
collection only sees what was allocated since the last tick: checked once a second, the worker's bursts (importing
torch, loading a model) piled up hundreds of thousands of new objects, and collecting them stalled the UI for a
tenth to half a second (benchmarks/ui_stall.py --profile).
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer


class GarbageCollector(QObject):
    def __init__(self, parent: QObject, interval_ms: int = 20) -> None:
        super().__init__(parent)
        self.threshold = gc.get_threshold()
        gc.disable()
        self._long_lived = len(gc.get_objects(generation=2))
        self._pending = 0  # objects promoted to the oldest generation since the last full collection
        self.timer = QTimer(self, interval=interval_ms)
        self.timer.timeout.connect(self.check)
        self.timer.start()

    def check(self) -> None:
        counts = gc.get_count()
        if counts[0] <= self.threshold[0]:
            return
        if counts[2] > self.threshold[2] and self._pending >= self._long_lived // 4:
            gc.collect(2)
            self._long_lived = len(gc.get_objects(generation=2))
            self._pending = 0
        elif counts[1] > self.threshold[1]:
            young = len(gc.get_objects(generation=0)) + len(gc.get_objects(generation=1))
            self._pending += max(0, young - gc.collect(1))  # the survivors move to the oldest generation
        else:
            gc.collect(0)
