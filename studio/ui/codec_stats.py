"""The Codec panel's statistics: code usage of one codebook (picked), entropy per codebook, and quality (SI-SNR,
mel distance) against the number of codebooks used."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from studio.engine.codec.result import CodecAnalysis


class CodecStats(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.analysis: CodecAnalysis | None = None
        self.usage_plot = pg.PlotWidget(title="Code usage")
        self.usage_plot.setLabel("bottom", "code index")
        self.usage_bars = pg.BarGraphItem(x=[], height=[], width=1.0, brush="#4c9be8")
        self.usage_plot.addItem(self.usage_bars)
        self.codebook_pick = QComboBox()
        self.codebook_pick.currentIndexChanged.connect(self.show_usage)
        self.entropy_plot = pg.PlotWidget(title="Entropy per codebook (bits, max 10)")
        self.entropy_bars = pg.BarGraphItem(x=[], height=[], width=0.7, brush="#e8a94c")
        self.entropy_plot.addItem(self.entropy_bars)
        self.entropy_plot.setLabel("bottom", "codebook")
        self.quality_plot = pg.PlotWidget(title="Quality with k codebooks")
        self.quality_plot.setLabel("bottom", "k")
        self.quality_plot.setLabel("left", "SI-SNR", units="dB")
        self.quality_plot.addLegend(offset=(10, 10))
        self.snr_curve = self.quality_plot.plot([], [], pen=pg.mkPen("#4ce87a", width=2), symbol="o", name="SI-SNR dB")
        self.mel_curve = self.quality_plot.plot([], [], pen=pg.mkPen("#e84c6b", width=2), symbol="t",
                                                name="mel distance ×10")
        stats = QGridLayout(self)
        usage_box = QVBoxLayout()
        usage_row = QHBoxLayout()
        usage_row.addWidget(QLabel("Codebook"))
        usage_row.addWidget(self.codebook_pick)
        usage_row.addStretch(1)
        usage_box.addLayout(usage_row)
        usage_box.addWidget(self.usage_plot)
        stats.addLayout(usage_box, 0, 0)
        stats.addWidget(self.entropy_plot, 0, 1)
        stats.addWidget(self.quality_plot, 0, 2)

    def clear(self) -> None:
        self.analysis = None
        self.codebook_pick.blockSignals(True)
        self.codebook_pick.clear()
        self.codebook_pick.blockSignals(False)
        self.usage_bars.setOpts(x=[], height=[])
        self.usage_plot.setTitle("Code usage")
        self.entropy_bars.setOpts(x=[], height=[])
        self.snr_curve.setData([], [])
        self.mel_curve.setData([], [])

    def take(self, analysis: CodecAnalysis) -> None:
        """The analysis whose plots the draw_* steps will draw; the codebook picker lists its codebooks."""
        self.analysis = analysis
        self.codebook_pick.blockSignals(True)
        self.codebook_pick.clear()
        self.codebook_pick.addItems([str(i + 1) for i in range(analysis.codes.shape[0])])
        self.codebook_pick.blockSignals(False)

    def draw_entropy(self, analysis: CodecAnalysis) -> None:
        n_q = analysis.codes.shape[0]
        self.entropy_bars.setOpts(x=np.arange(1, n_q + 1), height=[c.entropy_bits for c in analysis.codebooks])
        self.entropy_plot.setYRange(0, 10.2)
        self.entropy_plot.setXRange(0.4, n_q + 0.6, padding=0)

    def draw_quality(self, analysis: CodecAnalysis) -> None:
        if analysis.stages:
            self.snr_curve.setData([s.k for s in analysis.stages], [s.si_snr_db for s in analysis.stages])
            self.mel_curve.setData([s.k for s in analysis.stages], [10 * s.mel_distance for s in analysis.stages])
        else:
            self.snr_curve.setData([], [])
            self.mel_curve.setData([], [])

    def show_usage(self, index: int) -> None:
        if self.analysis is None or not 0 <= index < len(self.analysis.codebooks):
            return
        cb = self.analysis.codebooks[index]
        self.usage_bars.setOpts(x=np.arange(len(cb.usage)), height=cb.usage)
        self.usage_plot.setTitle(f"Codebook {index + 1}: {cb.used_codes}/{len(cb.usage)} codes, "
                                 f"{cb.entropy_bits:.2f} bits")
