"""Run Python's cyclic garbage collector on the UI thread only.

Left automatic, a collection can start on the worker thread and destroy Qt objects there, which crashes Qt.
Collection is switched off and done here, from a timer, with the interpreter's own thresholds.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer


class GarbageCollector(QObject):
    def __init__(self, parent: QObject, interval_ms: int = 1000) -> None:
        super().__init__(parent)
        self.threshold = gc.get_threshold()
        gc.disable()
        self.timer = QTimer(self, interval=interval_ms)
        self.timer.timeout.connect(self.check)
        self.timer.start()

    def check(self) -> None:
        counts = gc.get_count()
        if counts[0] > self.threshold[0]:
            gen = 2 if counts[2] > self.threshold[2] else 1 if counts[1] > self.threshold[1] else 0
            gc.collect(gen)
