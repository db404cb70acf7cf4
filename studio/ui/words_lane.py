"""The transcript's words on a spectrogram's time axis, under the units strip: one box per word (alternating
shades), its text where it fits at the current zoom; hover for the word, its time and the units inside it; click
to hear the word."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QWidget

from studio.engine.units.result import UnitsResult
from studio.ui.units_strip import TimeLane

MAX_LABELS = 200  # text items drawn at once: beyond this many words in view, only the boxes


class WordsLane(TimeLane):
    hovered = Signal(str)
    word_clicked = Signal(float, float)  # start s, end s

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("words", 26, parent)
        self.words: list[tuple[str, float, float]] = []
        self._starts = np.zeros(0)
        self._ends = np.zeros(0)
        self.units: UnitsResult | None = None
        self.boxes: pg.BarGraphItem | None = None
        self._labels: list[pg.TextItem] = []  # a pool, reused as the view moves
        self._metrics = QFontMetrics(self.font())
        self.scene().sigMouseMoved.connect(self._moved)
        self.scene().sigMouseClicked.connect(self._clicked)
        self.plotItem.vb.sigXRangeChanged.connect(lambda *_: self._update_labels())
        self.plotItem.vb.sigResized.connect(lambda *_: self._update_labels())  # more pixels: more words fit

    def set_words(self, words: list[tuple[str, float, float]]) -> None:
        """(text, start s, end s), in time order."""
        self.words = [(t.strip(), a, b) for t, a, b in words if t.strip() and b > a]
        self._starts = np.array([a for _, a, _ in self.words], dtype=np.float64)
        self._ends = np.array([b for _, _, b in self.words], dtype=np.float64)
        if self.boxes is not None:
            self.removeItem(self.boxes)
            self.boxes = None
        if self.words:
            shades = [pg.mkBrush(70, 70, 80) if i % 2 else pg.mkBrush(95, 95, 110) for i in range(len(self.words))]
            self.boxes = pg.BarGraphItem(x0=self._starts, x1=self._ends, y0=0.0, y1=1.0, brushes=shades,
                                         pen=pg.mkPen(30, 30, 30))
            self.addItem(self.boxes)
        self._update_labels()

    def set_units(self, units: UnitsResult | None) -> None:
        """The units a hover lists inside a word."""
        self.units = units

    def word_at(self, seconds: float) -> int | None:
        i = int(np.searchsorted(self._starts, seconds, side="right")) - 1
        return i if 0 <= i < len(self.words) and seconds < self._ends[i] else None

    def describe(self, seconds: float) -> str:
        i = self.word_at(seconds)
        if i is None:
            return ""
        text, a, b = self.words[i]
        out = f"“{text}” {a:.2f}–{b:.2f} s"
        if self.units is not None and self.units.units.size:
            first = max(0, int(round(a * self.units.frame_rate)))
            last = min(self.units.units.size, max(first + 1, int(round(b * self.units.frame_rate))))
            inside = self.units.units[first:last]
            if inside.size:
                runs = inside[np.r_[True, inside[1:] != inside[:-1]]]
                out += " · units " + " ".join(map(str, runs.tolist()))
        return out + " · click to hear it"

    def _update_labels(self) -> None:
        x0, x1 = self.plotItem.vb.viewRange()[0]
        px_per_s = self.plotItem.vb.width() / max(1e-9, x1 - x0)
        lo, hi = np.searchsorted(self._ends, x0), np.searchsorted(self._starts, x1)
        shown = 0
        if hi - lo <= MAX_LABELS:
            for i in range(lo, hi):
                text, a, b = self.words[i]
                if (b - a) * px_per_s < self._metrics.horizontalAdvance(text) + 6:
                    continue  # it would spill over its neighbours: the hover still names it
                if shown == len(self._labels):
                    item = pg.TextItem(color="#f0f0f0", anchor=(0.5, 0.5))
                    self.addItem(item)
                    self._labels.append(item)
                item = self._labels[shown]
                item.setText(text)
                item.setPos((a + b) / 2, 0.5)
                item.show()
                shown += 1
        for item in self._labels[shown:]:
            item.hide()

    def _seconds(self, scene_pos: object) -> float | None:
        if not self.plotItem.vb.sceneBoundingRect().contains(scene_pos):  # type: ignore[arg-type]
            return None
        return float(self.plotItem.vb.mapSceneToView(scene_pos).x())  # type: ignore[arg-type]

    def _moved(self, pos: object) -> None:
        seconds = self._seconds(pos)
        if seconds is None or not self.words:
            return
        text = self.describe(seconds)
        self.setToolTip(text)
        self.hovered.emit(text)

    def _clicked(self, ev: object) -> None:
        seconds = self._seconds(ev.scenePos())  # type: ignore[attr-defined]
        i = None if seconds is None else self.word_at(seconds)
        if i is not None:
            self.word_clicked.emit(self.words[i][1], self.words[i][2])
