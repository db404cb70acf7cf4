"""The Codec panel's token grid: codes as an image, one row per codebook, with hover read-out and a k band."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget

from studio.engine.render import colormap_table


class TokenGrid(pg.PlotWidget):
    """Codes as an image: one row per codebook (1 at the top), one column per frame, colour = code index."""

    hovered = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image = pg.ImageItem()
        self.image.setAutoDownsample(True)  # minutes of frames: shown at screen resolution, exact when zoomed in
        self.addItem(self.image)
        self.image.setLookupTable(colormap_table("viridis"))
        self.getViewBox().invertY(True)
        self.setLabel("left", "codebook")
        self.setLabel("bottom", "time", units="s")
        self.setMouseEnabled(x=True, y=False)
        self.hideButtons()
        self.playhead = pg.InfiniteLine(angle=90, pen=pg.mkPen(255, 255, 255, 200, width=1))
        self.addItem(self.playhead)
        self.k_band = pg.LinearRegionItem(orientation="horizontal", movable=False, brush=pg.mkBrush(0, 0, 0, 170))
        self.addItem(self.k_band)
        self.codes: np.ndarray | None = None
        self.frame_rate = 75
        self.scene().sigMouseMoved.connect(self._moved)
        self.scene().sigMouseClicked.connect(self._clicked)

    def show_codes(self, codes: np.ndarray, frame_rate: int) -> None:
        self.codes, self.frame_rate = codes, frame_rate
        self.image.setImage(codes.astype(np.float32), autoLevels=False, levels=(0, 1023))
        self.image.setRect(0, 0, codes.shape[1] / frame_rate, codes.shape[0])
        self.setYRange(0, codes.shape[0], padding=0)
        self.getAxis("left").setTicks([[(i + 0.5, str(i + 1)) for i in range(codes.shape[0])]])

    def set_k(self, k: int) -> None:
        """Shade the codebooks the reconstruction leaves out."""
        if self.codes is None or k >= self.codes.shape[0]:
            self.k_band.hide()
            return
        self.k_band.setRegion((k, self.codes.shape[0]))
        self.k_band.show()

    def describe(self, t: float, row: int) -> str:
        assert self.codes is not None
        frame = int(t * self.frame_rate)
        return f"{t:.3f} s · frame {frame} · codebook {row + 1} · code {int(self.codes[row, frame])}"

    clicked_time = Signal(float)

    def _clicked(self, ev: object) -> None:
        p = self.getViewBox().mapSceneToView(ev.scenePos())  # type: ignore[attr-defined]
        if p.x() >= 0:
            self.clicked_time.emit(float(p.x()))

    def _moved(self, pos: object) -> None:
        if self.codes is None:
            return
        p = self.getViewBox().mapSceneToView(pos)
        t, row = p.x(), int(p.y())
        if 0 <= t < self.codes.shape[1] / self.frame_rate and 0 <= row < self.codes.shape[0]:
            self.hovered.emit(self.describe(t, row))
