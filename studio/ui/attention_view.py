"""Cross-attention over the log-mel: which audio each decoded token looked at, per layer and head.

Images are row-major (the app's pyqtgraph setting): rows are mel bins or tokens, columns are frames.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from studio.engine.asr.result import AttentionMap
from studio.engine.render import colormap_table, percentiles

ALIGNMENT = "Alignment heads (average)"


def _emitted(m: np.ndarray) -> np.ndarray:
    """Shift query rows down by one: the decoder step at position p emits token p + 1."""
    out = np.zeros_like(m)
    out[1:] = m[:-1]
    return out


class AttentionView(QWidget):
    """Top: the window's log-mel with the attended region of the chosen token shaded. Bottom: the token x frame
    heatmap. Left: the tokens; hovering or clicking one highlights it; clicking also asks to play its audio."""

    play_range = Signal(float, float)  # seconds in the file
    window_requested = Signal()  # "attention for the part of the file on screen"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.amap: AttentionMap | None = None
        self.layer = QComboBox()
        self.head = QComboBox()
        self.layer.currentIndexChanged.connect(lambda _: self._redraw())
        self.head.currentIndexChanged.connect(lambda _: self._redraw())
        self.info = QLabel("Transcribe a file, then pick a segment and press “Attention” to see what each token "
                           "attended to.")
        self.info.setWordWrap(True)
        self.tokens = QListWidget()
        self.tokens.setMouseTracking(True)
        self.tokens.itemEntered.connect(lambda item: self.select_token(self.tokens.row(item), play=False))
        self.tokens.currentRowChanged.connect(lambda row: self.select_token(row, play=False))
        self.tokens.itemClicked.connect(lambda item: self.select_token(self.tokens.row(item), play=True))
        self.tokens.setFixedWidth(170)

        self.mel_plot = pg.PlotWidget()
        self.mel_img = pg.ImageItem()
        self.mel_plot.addItem(self.mel_img)
        self.mel_plot.setLabel("left", "mel bin")
        self.mel_plot.hideButtons()
        self.span = pg.LinearRegionItem(movable=False, brush=pg.mkBrush(80, 200, 255, 60))
        self.mel_plot.addItem(self.span)
        self.span.hide()
        self.heat_plot = pg.PlotWidget()
        self.heat_img = pg.ImageItem()
        self.heat_plot.addItem(self.heat_img)
        self.heat_plot.setLabel("bottom", "time", units="s")
        self.heat_plot.setLabel("left", "token")
        self.heat_plot.getViewBox().invertY(True)
        self.heat_plot.setXLink(self.mel_plot)
        self.heat_plot.hideButtons()
        self.row_marker = pg.InfiniteLine(angle=0, pen=pg.mkPen(255, 255, 255, 160, width=1))
        self.heat_plot.addItem(self.row_marker)
        self.row_marker.hide()
        lut = colormap_table("magma")
        self.mel_img.setLookupTable(lut)
        self.heat_img.setLookupTable(colormap_table("viridis"))

        bar = QHBoxLayout()
        bar.addWidget(QLabel("Layer"))
        bar.addWidget(self.layer)
        bar.addWidget(QLabel("Head"))
        bar.addWidget(self.head)
        bar.addWidget(self.info, 1)
        self.here_btn = QPushButton("Attention for this view")
        self.here_btn.setToolTip("Recompute the cross-attention for the 30 s from where the spectrogram view starts")
        self.here_btn.clicked.connect(self.window_requested.emit)
        bar.addWidget(self.here_btn)
        plots = QSplitter(Qt.Vertical)
        plots.addWidget(self.mel_plot)
        plots.addWidget(self.heat_plot)
        plots.setSizes([140, 260])
        row = QHBoxLayout()
        row.addWidget(self.tokens)
        row.addWidget(plots, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(bar)
        lay.addLayout(row, 1)

    def show_map(self, amap: AttentionMap) -> None:
        self.amap = amap
        layers, heads = amap.weights.shape[:2]
        for combo, items in ((self.layer, [ALIGNMENT] + [f"{i}" for i in range(layers)] + ["all (mean)"]),
                             (self.head, [f"{i}" for i in range(heads)] + ["all (mean)"])):
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(items)
            combo.blockSignals(False)
        self.tokens.clear()
        self.tokens.addItems([t.replace("\n", "⏎") for t in amap.token_texts])
        frames = amap.weights.shape[-1]
        seconds = frames * amap.frame_seconds
        self.mel_img.setImage(amap.mel, autoLevels=False, levels=(float(amap.mel.min()), float(amap.mel.max())))
        self.mel_img.setRect(amap.start, 0, seconds, amap.mel.shape[0])
        self.info.setText(f"{len(amap.tokens)} tokens over {seconds:.1f} s from {amap.start:.1f} s. Hover a token "
                          "to see where it looked; click to hear it.")
        self._redraw()
        self.mel_plot.setXRange(amap.start, amap.start + seconds, padding=0)

    def matrix(self) -> np.ndarray:
        """(tokens, frames) for the current layer/head choice; row k is the attention that produced token k."""
        assert self.amap is not None
        w = self.amap.weights
        if self.layer.currentText() == ALIGNMENT:
            self.head.setEnabled(False)
            return _emitted(self.amap.alignment_average())
        self.head.setEnabled(True)
        layer_w = w.mean(axis=0) if self.layer.currentText().startswith("all") else w[int(self.layer.currentText())]
        return _emitted(layer_w.mean(axis=0) if self.head.currentText().startswith("all") else layer_w[
            int(self.head.currentText() or 0)])

    def _redraw(self) -> None:
        if self.amap is None:
            return
        m = self.matrix()
        lo, hi = percentiles(m, 1, 99.7)
        self.heat_img.setImage(m, autoLevels=False, levels=(float(lo), float(hi) if hi > lo else float(lo) + 1))
        self.heat_img.setRect(self.amap.start, 0, m.shape[1] * self.amap.frame_seconds, m.shape[0])
        self.select_token(self.tokens.currentRow(), play=False)

    def attended_span(self, row: int) -> tuple[float, float]:
        """Seconds where token `row` put the top of its attention (the frames holding the highest half of it)."""
        assert self.amap is not None
        weights = self.amap.weights
        query = max(0, row - 1)  # the decoder step that emitted token `row` sat one position earlier
        heads = [weights[layer, head, query] for layer, head in self.amap.alignment_heads]
        w = np.mean(heads, axis=0)
        peak = int(np.argmax(w))
        keep = np.nonzero(w >= 0.5 * w[peak])[0]
        near = keep[np.abs(keep - peak) <= 15]  # the peak's neighbourhood, not far echoes
        f0, f1 = int(near.min()), int(near.max()) + 1
        return self.amap.start + f0 * self.amap.frame_seconds, self.amap.start + f1 * self.amap.frame_seconds

    def select_token(self, row: int, play: bool) -> None:
        if self.amap is None or not 0 <= row < len(self.amap.tokens):
            self.span.hide()
            self.row_marker.hide()
            return
        t0, t1 = self.attended_span(row)
        self.span.setRegion((t0, t1))
        self.span.show()
        self.row_marker.setValue(row + 0.5)
        self.row_marker.show()
        if play:
            self.play_range.emit(max(self.amap.start, t0 - 0.1), t1 + 0.1)
