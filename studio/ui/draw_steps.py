"""Drawing a result in steps, one per turn of the event loop, so that no single turn holds the window long (each
step's repaint happens before the next step runs)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer


class DrawSteps(QObject):
    """Runs the callables given to `start` one per turn of the event loop; `then` after the last one. A new
    `start` or `clear` drops the steps still to come."""

    def __init__(self, parent: QObject, then: Callable[[], None] | None = None) -> None:
        super().__init__(parent)
        self._steps: list[Callable[[], None]] = []
        self._then = then
        self._timer = QTimer(self, singleShot=True, interval=0)
        self._timer.timeout.connect(self._step)

    @property
    def pending(self) -> bool:
        """Steps still to run."""
        return bool(self._steps)

    def start(self, steps: list[Callable[[], None]]) -> None:
        self._steps = list(steps)
        self._timer.start()

    def clear(self) -> None:
        self._steps = []
        self._timer.stop()

    def _step(self) -> None:
        if not self._steps:
            return
        self._steps.pop(0)()
        if self._steps:
            self._timer.start()
        elif self._then is not None:
            self._then()
