"""Spectrogram panel: log-mel or linear STFT of any file, zoom and pan in time, colormaps, playback; speech units
under the spectrogram on the same time axis."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSplitter, QVBoxLayout, QWidget

from studio.audio.player import Player
from studio.engine.render import COLORMAPS
from studio.engine.spectrogram import KINDS, Spectrogram, spectrogram_job
from studio.errors import StudioError
from studio.ui.attention_view import AttentionView
from studio.ui.settings import AppSettings
from studio.ui.units_strip import AXIS_WIDTH
from studio.ui.units_view import UnitsView
from studio.ui.widgets import AudioFilePanel, SpectrogramPlot, button, fmt_time
from studio.worker.qt import QtWorker

OVERVIEW_COLUMNS = 4000


class SpectrogramPanel(AudioFilePanel, QWidget):
    error = Signal(str, str)
    status = Signal(str)
    spectrogram_shown = Signal(object)   # the Spectrogram result now on screen

    def __init__(self, worker: QtWorker, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.worker, self.settings = worker, settings
        self.path: Path | None = None
        self.duration = 0.0
        self.overview: Spectrogram | None = None
        self._wanted_range: tuple[float, float] | None = None  # asked for before the overview was ready
        self.detail: Spectrogram | None = None
        self.player = Player()
        self._job = 0
        self._build()
        self._zoom_timer = QTimer(self, singleShot=True, interval=150)
        self._zoom_timer.timeout.connect(self._refine_visible)
        self.plot.sigXRangeChanged.connect(lambda *_: self._zoom_timer.start())
        self._play_timer = self.start_ticker(33)

    def _build(self) -> None:
        self.file_label = QLabel("Open or drop an audio file or pick a recording.")
        self.kind_combo = QComboBox()
        for key, label in KINDS.items():
            self.kind_combo.addItem(label, key)
        self.kind_combo.currentIndexChanged.connect(lambda _: self.reload())
        self.cmap_combo = QComboBox()
        self.cmap_combo.addItems(COLORMAPS)
        self.cmap_combo.setCurrentText(self.settings.colormap)
        self.cmap_combo.currentTextChanged.connect(self._cmap_changed)
        self.play_btn = button("▶ Play", "Play from the playhead (Space)", self.toggle_play)
        self.time_label = QLabel("")
        bar = QHBoxLayout()
        bar.addWidget(button("Open…", "Open an audio file (Ctrl+O)", self.choose_file))
        bar.addWidget(self.file_label, 1)
        bar.addWidget(QLabel("View"))
        bar.addWidget(self.kind_combo)
        bar.addWidget(QLabel("Colours"))
        bar.addWidget(self.cmap_combo)
        bar.addWidget(button("−", "Zoom out", lambda: self.zoom(2.0)))
        bar.addWidget(button("+", "Zoom in", lambda: self.zoom(0.5)))
        bar.addWidget(button("Fit", "Show the whole file", self.fit))
        bar.addWidget(self.play_btn)
        bar.addWidget(self.time_label)
        self.plot = SpectrogramPlot()
        self.plot.set_colormap(self.settings.colormap)
        self.plot.clicked_time.connect(self.seek)
        self.plot.getAxis("left").setWidth(AXIS_WIDTH)
        self.units = UnitsView(self.worker, lambda: self.path, lambda: self.settings.cache_folder)
        self.units.strip.setXLink(self.plot)
        self.units.error.connect(self.error)
        self.units.play_range.connect(self.play_range)
        self.units.play_file.connect(self._play_collection)
        self.units.play_file_range.connect(self._play_collection)
        top = QWidget()
        top_lay = QVBoxLayout(top)
        top_lay.setContentsMargins(0, 0, 0, 0)
        top_lay.addWidget(self.plot, 1)
        top_lay.addWidget(self.units)
        self.attention = AttentionView()
        self.attention.play_range.connect(self.play_range)
        self.attention.hide()
        split = QSplitter(Qt.Vertical)
        split.addWidget(top)
        split.addWidget(self.attention)
        split.setSizes([300, 420])
        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addWidget(split, 1)

    @property
    def kind(self) -> str:
        return self.kind_combo.currentData()

    def open_file(self, path: str) -> None:
        info = self.probe_or_report(path)
        if info is None:
            return
        self.player.stop()
        self.play_btn.setText("▶ Play")
        self.path, self.duration = info.path, info.duration
        self.file_label.setText(f"<b>{info.path.name}</b> — {fmt_time(info.duration)}, {info.sample_rate} Hz, "
                                f"{info.channels} ch")
        self.plot.set_playhead(0.0)
        self._wanted_range = None
        self.units.clear()
        self.reload()

    def reload(self) -> None:
        """Compute the overview of the whole file (in blocks, on the worker)."""
        if self.path is None:
            return
        self.overview = self.detail = None
        self._submit(0.0, None, OVERVIEW_COLUMNS, overview=True)

    def _submit(self, start: float, end: float | None, columns: int, overview: bool) -> None:
        if self._job:
            self.worker.cancel(self._job)
        path, kind = str(self.path), self.kind
        name = f"Spectrogram of {Path(path).name}" if overview else "Refining view"
        self._job = self.worker.submit(
            spectrogram_job, path, kind, start, end, columns, name=name,
            on_result=lambda spec: self._done(spec, overview),
            on_error=lambda rep: self.error.emit(rep.message, rep.remedy))

    def _done(self, spec: Spectrogram, overview: bool) -> None:
        self._job = 0
        if overview:
            self.overview = spec
            self._show(spec)
            # a range asked for while the overview was computing (an attention window) wins over the whole file
            x0, x1 = self._wanted_range or (0.0, spec.duration)
            self._wanted_range = None
            self.plot.setXRange(x0, x1, padding=0)
        else:
            self.detail = spec
            self._show(spec)

    def _show(self, spec: Spectrogram) -> None:
        self.plot.blockSignals(True)
        self.plot.show_spectrogram(spec.image, spec.t0, spec.t1, spec.freqs, spec.vmin, spec.vmax,
                                   mel=spec.kind != "linear")
        self.plot.blockSignals(False)
        self.spectrogram_shown.emit(spec)

    def visible_range(self) -> tuple[float, float]:
        x0, x1 = self.plot.viewRange()[0]
        return max(0.0, x0), min(self.duration, x1)

    def _refine_visible(self) -> None:
        """When zoomed in past the overview's resolution, compute the visible range at screen resolution."""
        if self.overview is None:
            return
        x0, x1 = self.visible_range()
        width_px = max(200, self.plot.plotItem.vb.width())
        overview_step = (self.overview.t1 - self.overview.t0) / self.overview.image.shape[1]
        if (x1 - x0) / width_px >= overview_step * 0.99:
            if self.detail is not None:
                self.detail = None
                self._show(self.overview)
            return
        self._submit(x0, x1, int(width_px), overview=False)

    def zoom(self, factor: float) -> None:
        x0, x1 = self.plot.viewRange()[0]
        centre, half = (x0 + x1) / 2, (x1 - x0) / 2 * factor
        self.plot.setXRange(max(0.0, centre - half), min(self.duration, centre + half), padding=0)

    def fit(self) -> None:
        self.plot.setXRange(0, self.duration, padding=0)

    def _cmap_changed(self, name: str) -> None:
        self.settings.colormap = name
        self.plot.set_colormap(name)

    def seek(self, seconds: float) -> None:
        seconds = min(seconds, self.duration)
        self.plot.set_playhead(seconds)
        if self.player.path is not None:
            self.player.seek(seconds)

    def toggle_play(self) -> None:
        if self.path is None:
            return
        try:
            if self.player.playing:
                self.player.pause()
                self.play_btn.setText("▶ Play")
            else:
                start = self.plot.playhead.value()
                self.player.play(self.path, start if start < self.duration - 0.05 else 0.0)
                self.play_btn.setText("❚❚ Pause")
        except StudioError as e:
            self.error.emit(e.message, e.remedy)

    def _play_collection(self, path: str, start: float = 0.0, end: float | None = None) -> None:
        """Another file than the one shown (every run of one unit; a compared take): the playhead stays."""
        try:
            self.player.play(path, start, end)
            self.play_btn.setText("❚❚ Pause")
        except StudioError as e:
            self.error.emit(e.message, e.remedy)

    def _tick(self) -> None:
        if self.player.path is not None and self.path is not None and Path(self.player.path) != self.path:
            if not self.player.playing:
                self.play_btn.setText("▶ Play")
            return
        if self.player.path is not None and (self.player.playing or self.play_btn.text().startswith("❚❚")):
            self.plot.set_playhead(self.player.position)
            self.time_label.setText(fmt_time(self.player.position))
            if not self.player.playing:
                self.play_btn.setText("▶ Play")

    def show_attention(self, amap: object, path: str) -> None:
        """Show a transcript window's cross-attention under the spectrogram of its file."""
        if self.path is None or Path(path).resolve() != Path(self.path).resolve():
            self.open_file(path)
        self.attention.show_map(amap)  # type: ignore[arg-type]
        self.attention.show()
        t0 = amap.start  # type: ignore[attr-defined]
        shown = (t0, min(self.duration, t0 + amap.weights.shape[-1] * 0.02))  # type: ignore[attr-defined]
        if self.overview is None:
            self._wanted_range = shown
        self.plot.setXRange(*shown, padding=0)

    def shutdown(self) -> None:
        self.player.stop()
        self.units.shutdown()
