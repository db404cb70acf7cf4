"""A window of unit statistics for one recording: frames per unit (bars in each unit's colour), the mean log-mel
spectrum of each unit (a column per unit, on the same unit axis), and, when asked, how well the units follow the
transcript's words (purity; the recording is transcribed with the built-in model for word times). Click a bar to
hear every run of that unit."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QDialog, QLabel, QVBoxLayout, QWidget

from studio.engine.render import colormap_table
from studio.engine.units.result import UnitsAnalysis
from studio.engine.units.stats import UnitStats
from studio.ui.unit_colors import unit_colors
from studio.worker.jobs import Job
from studio.worker.qt import QtWorker

STATS = Job("studio.engine.units.jobs", "stats_job")


class UnitStatsDialog(QDialog):
    unit_picked = Signal(int)
    error = Signal(str, str)

    def __init__(self, worker: QtWorker, cache_dir: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Unit statistics")
        self.resize(900, 560)
        self.worker, self.cache_dir = worker, cache_dir
        self.analysis: UnitsAnalysis | None = None
        self.stats: UnitStats | None = None
        self._runs_of = np.zeros(0, np.int64)
        self._job = 0
        self.title = QLabel("")
        self.words = QCheckBox("Purity against the words (transcribes the recording with the built-in tiny.en)")
        self.words.toggled.connect(lambda _: self.analysis is not None and self.show_for(self.analysis, self._words))
        self._words: list[tuple[str, float, float]] | None = None
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.bars_plot = pg.PlotWidget(enableMenu=False)
        self.bars_plot.setLabel("left", "frames (20 ms)")
        self.bars_plot.setMouseEnabled(y=False)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.85)
        self.bars_plot.addItem(self.bars)
        self.spectra_plot = pg.PlotWidget(enableMenu=False)
        self.spectra_plot.setLabel("left", "mel band")
        self.spectra_plot.setLabel("bottom", "unit")
        self.spectra_plot.setMouseEnabled(y=False)
        self.spectra_plot.setXLink(self.bars_plot)
        self.spectra = pg.ImageItem()
        self.spectra.setLookupTable(colormap_table("magma"))
        self.spectra_plot.addItem(self.spectra)
        for plot in (self.bars_plot, self.spectra_plot):
            plot.getAxis("left").setWidth(56)
        self.hover = QLabel("Hover a unit; click its bar to hear every run of it.")
        lay = QVBoxLayout(self)
        for w in (self.title, self.words, self.summary, self.bars_plot, self.spectra_plot, self.hover):
            lay.addWidget(w)
        self.bars_plot.scene().sigMouseMoved.connect(self._moved)
        self.spectra_plot.scene().sigMouseMoved.connect(self._moved_spectra)
        self.bars_plot.scene().sigMouseClicked.connect(self._clicked)

    def show_for(self, analysis: UnitsAnalysis, words: list[tuple[str, float, float]] | None = None) -> None:
        """Compute (on the worker) and draw the statistics of `analysis` (`words`: its recording's words, where
        they are known; else purity transcribes)."""
        if self._job:
            self.worker.cancel(self._job)
        self.analysis, self.stats, self._words = analysis, None, words
        r = analysis.result
        self.title.setText(f"<b>{analysis.source}</b> — {r.model} layer {r.layer}, k = {r.k}, {r.units.size} frames")
        self.summary.setText("Computing…")
        self._job = self.worker.submit(STATS, analysis, self.words.isChecked(), "tiny.en", self.cache_dir, words,
                                       name="Unit statistics", on_result=lambda s: self._done(analysis, s),
                                       on_error=self._failed)

    def _failed(self, rep: object) -> None:
        self._job = 0
        self.summary.setText("Not computed (see the message in the window).")
        self.error.emit(rep.message, rep.remedy)  # type: ignore[attr-defined]

    def _done(self, analysis: UnitsAnalysis, stats: UnitStats) -> None:
        self._job = 0
        if analysis is not self.analysis:
            return
        self.stats = stats
        self._runs_of = analysis.result.runs_per_unit()
        k = stats.histogram.size
        colors = unit_colors(k)
        self.bars.setOpts(x=np.arange(k), height=stats.histogram,
                          brushes=[pg.mkBrush(*c) for c in colors.tolist()], pens=[pg.mkPen(None)] * k)
        image = np.nan_to_num(stats.spectra.T, nan=float(np.nanmin(stats.spectra)) if np.isfinite(
            stats.spectra).any() else 0.0)
        finite = stats.spectra[np.isfinite(stats.spectra)]
        lo, hi = (float(np.percentile(finite, 2)), float(finite.max())) if finite.size else (0.0, 1.0)
        self.spectra.setImage(image, levels=(lo, hi), autoLevels=False)  # (mel, unit): unit on x
        self.spectra.setRect(-0.5, 0, k, image.shape[0])
        self.bars_plot.setXRange(-0.5, k - 0.5, padding=0)
        used = int((stats.histogram > 0).sum())
        text = f"{used} of {k} units occur. "
        if stats.purity is not None and stats.purity.words == 0:
            text += "Purity against the words: no words were heard in this recording, so there is none to measure."
        elif stats.purity is not None:
            p = stats.purity
            text += (f"Purity against the words: {p.purity:.0%} of {p.frames} frames inside {p.words} distinct "
                     "words fall in their unit's most frequent word (1.0 when every unit keeps to one word).")
        self.summary.setText(text)

    def describe(self, unit: int) -> str:
        if self.stats is None or self.analysis is None or not 0 <= unit < self.stats.histogram.size:
            return ""
        n = int(self.stats.histogram[unit])
        runs = int(self._runs_of[unit])
        text = f"unit {unit}: {n} frames ({n / self.analysis.result.frame_rate:.2f} s) in {runs} runs"
        if self.stats.purity is not None and unit in self.stats.purity.top_word:
            word, share = self.stats.purity.top_word[unit]
            text += f"; {share:.0%} of its frames inside words are in '{word}'"
        return text

    def _unit_at(self, plot: pg.PlotWidget, pos: object) -> int | None:
        if not plot.plotItem.vb.sceneBoundingRect().contains(pos):  # type: ignore[arg-type]
            return None
        return int(round(plot.plotItem.vb.mapSceneToView(pos).x()))  # type: ignore[arg-type]

    def _moved(self, pos: object) -> None:
        unit = self._unit_at(self.bars_plot, pos)
        if unit is not None and (text := self.describe(unit)):
            self.hover.setText(text)

    def _moved_spectra(self, pos: object) -> None:
        unit = self._unit_at(self.spectra_plot, pos)
        if unit is not None and (text := self.describe(unit)):
            self.hover.setText(text)

    def _clicked(self, ev: object) -> None:
        unit = self._unit_at(self.bars_plot, ev.scenePos())  # type: ignore[attr-defined]
        if unit is not None and self.stats is not None and 0 <= unit < self.stats.histogram.size \
                and self.stats.histogram[unit] > 0:
            self.unit_picked.emit(unit)

    def done_with(self) -> None:
        if self._job:
            self.worker.cancel(self._job)
            self._job = 0
