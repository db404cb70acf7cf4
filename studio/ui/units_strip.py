"""The units strip: one colour per unit on a spectrogram's time axis, run boundaries when zoomed in, hover for the
unit and its run, click to pick (and hear) a run, spans shaded where a compared take differs."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Signal
from PySide6.QtWidgets import QWidget

from studio.engine.units.result import UnitsResult
from studio.ui.unit_colors import unit_colors
from studio.ui.widgets import fmt_time

AXIS_WIDTH = 64  # the strip's and the spectrogram's left axes: equal widths keep one time axis
BOUNDARIES_BELOW_S = 20.0  # run boundaries drawn when the view spans less than this (else a grey smear)


class TimeLane(pg.PlotWidget):
    """A thin plot on a spectrogram's time axis (seconds, from 0; y from 0 to 1): no buttons, no bottom axis, pans
    and zooms in time only, its name in the left axis, which is as wide as the spectrogram's."""

    def __init__(self, label: str, height: int, parent: QWidget | None = None) -> None:
        super().__init__(parent, enableMenu=False)
        self.setFixedHeight(height)
        self.plotItem.hideButtons()
        self.plotItem.setMouseEnabled(x=True, y=False)
        self.plotItem.hideAxis("bottom")
        self.plotItem.vb.setLimits(xMin=0)
        self.setYRange(0, 1, padding=0)
        left = self.plotItem.getAxis("left")
        left.setWidth(AXIS_WIDTH)
        left.setTicks([[(0.5, label)]])


class UnitsStrip(TimeLane):
    hovered = Signal(str)
    run_clicked = Signal(float, float, int)  # start s, end s, unit

    def __init__(self, label: str = "units", parent: QWidget | None = None) -> None:
        super().__init__(label, 64, parent)
        self.image = pg.ImageItem(autoDownsample=True)  # an hour is 180,000 frames wide
        self.addItem(self.image)
        self._runs_of = np.zeros(0, np.int64)
        self.boundaries = pg.PlotCurveItem(connect="pairs", pen=pg.mkPen((20, 20, 20, 200), width=1))
        self.addItem(self.boundaries)
        self.result: UnitsResult | None = None
        self._starts = np.zeros(0)
        self._marks: list[pg.LinearRegionItem] = []
        self.picked = pg.LinearRegionItem((0, 0), movable=False, brush=pg.mkBrush(255, 255, 255, 60),
                                          pen=pg.mkPen("#ffffff", width=2))  # the run last clicked
        self.picked.hide()
        self.addItem(self.picked)
        self.scene().sigMouseMoved.connect(self._moved)
        self.scene().sigMouseClicked.connect(self._clicked)
        self.plotItem.vb.sigXRangeChanged.connect(lambda *_: self._update_boundaries())

    def set_result(self, result: UnitsResult | None) -> None:
        self.result = result
        self.picked.hide()
        if result is None:
            self.image.clear()
            self.boundaries.setData([], [])
            return
        colors = unit_colors(result.k)
        # levels for RGBA bytes: downsampling (an hour is 180,000 frames wide) averages them into floats, which
        # pyqtgraph then cannot draw without levels (it raised inside paint)
        self.image.setImage(colors[result.units][None], levels=(0, 255), autoLevels=False)  # (1, frames, RGBA)
        self.image.setRect(QRectF(0, 0, result.units.size / result.frame_rate, 1))
        starts = result.run_starts()
        self._starts = starts[1:] / result.frame_rate
        self._runs_of = result.runs_per_unit()
        self._update_boundaries()

    def mark(self, spans: list[tuple[float, float]]) -> None:
        """Shade these (start, end) seconds: where a compared recording differs."""
        for item in self._marks:
            self.removeItem(item)
        self._marks = []
        for a, b in spans:
            item = pg.LinearRegionItem((a, b), movable=False, brush=pg.mkBrush(255, 40, 40, 90),
                                       pen=pg.mkPen(255, 40, 40, 200))
            self.addItem(item)
            self._marks.append(item)

    def _update_boundaries(self) -> None:
        x0, x1 = self.plotItem.vb.viewRange()[0]
        if self.result is None or x1 - x0 > BOUNDARIES_BELOW_S:
            self.boundaries.setData([], [])
            return
        inside = self._starts[(self._starts >= x0) & (self._starts <= x1)]
        self.boundaries.setData(np.repeat(inside, 2), np.tile([0.0, 1.0], inside.size))

    def _run_at(self, scene_pos: object) -> tuple[float, float, int] | None:
        if self.result is None or not self.plotItem.vb.sceneBoundingRect().contains(scene_pos):  # type: ignore
            return None
        frame = self.result.frame_at(self.plotItem.vb.mapSceneToView(scene_pos).x())  # type: ignore[arg-type]
        if frame is None:
            return None
        run = self.result.run_at(frame)
        return (self.result.seconds(run.first_frame), self.result.seconds(run.first_frame + run.frames), run.unit)

    def describe(self, seconds: float) -> str:
        """What hovering at `seconds` shows."""
        if self.result is None or (frame := self.result.frame_at(seconds)) is None:
            return ""
        run = self.result.run_at(frame)
        a, b = self.result.seconds(run.first_frame), self.result.seconds(run.first_frame + run.frames)
        count = int(self._runs_of[run.unit])
        frames = f"{run.frames} frame{'' if run.frames == 1 else 's'}"
        return (f"unit {run.unit} at {fmt_time(seconds)} · this run {a:.2f}–{b:.2f} s ({frames}) · "
                f"{count} run{'' if count == 1 else 's'} of it in the file")

    def _moved(self, pos: object) -> None:
        if self.result is None or not self.plotItem.vb.sceneBoundingRect().contains(pos):  # type: ignore
            return
        text = self.describe(self.plotItem.vb.mapSceneToView(pos).x())  # type: ignore[arg-type]
        self.setToolTip(text)
        self.hovered.emit(text)

    def _clicked(self, ev: object) -> None:
        found = self._run_at(ev.scenePos())  # type: ignore[attr-defined]
        if found is not None:
            self.picked.setRegion(found[:2])
            self.picked.show()
            self.run_clicked.emit(*found)
