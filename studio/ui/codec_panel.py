"""Codec panel: how EnCodec turns audio into residual codebook tokens, and what each codebook adds."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from studio.audio.player import Player
from studio.engine.codec.files import CodeFile, write_codes
from studio.engine.codec.result import CodecAnalysis
from studio.engine.spectrogram import Spectrogram, spectrogram_job
from studio.errors import StudioError
from studio.hub.local_import import ImportedModel
from studio.outputs import check_output, describe_os_error
from studio.ui.codec_stats import CodecStats
from studio.ui.draw_steps import DrawSteps
from studio.ui.import_weights import add_model_entry, fill_picker, import_entry_taken
from studio.ui.settings import AppSettings
from studio.ui.token_grid import TokenGrid
from studio.ui.units_strip import AXIS_WIDTH
from studio.ui.units_view import NO_AUDIO, UnitsView
from studio.ui.widgets import AUDIO_FILTER, AudioFilePanel, SpectrogramPlot, button, fmt_time
from studio.worker.errors import ErrorReport
from studio.worker.jobs import Job
from studio.worker.qt import QtWorker

CODE_SUFFIXES = (".ecdc", ".npz")
OPEN_FILTER = "Audio or codes (*.wav *.flac *.ogg *.opus *.mp3 *.ecdc *.npz);;" + AUDIO_FILTER
MODELS = [("EnCodec 24 kHz (mono)", "24khz"), ("EnCodec 48 kHz (stereo)", "48khz")]


ANALYZE = Job("studio.engine.codec.jobs", "analyze_job")
OPEN_CODES = Job("studio.engine.codec.jobs", "open_codes_job")
RECONSTRUCT = Job("studio.engine.codec.jobs", "reconstruct_job")


class CodecPanel(AudioFilePanel, QWidget):
    error = Signal(str, str)  # an empty message clears the window's error banner
    status = Signal(str)
    analysis_ready = Signal(object)
    import_requested = Signal()  # the picker's "Import local weights…" entry
    PLACEHOLDER = "Open or drop audio to encode, or an .ecdc / .npz (VALL-E-X) code file."

    def __init__(self, worker: QtWorker, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.worker, self.settings = worker, settings
        self.path: Path | None = None
        self.analysis: CodecAnalysis | None = None
        self.player = Player()
        self.reconstructions: dict[int, str] = {}
        self._job = self._rec_job = self._spec_job = 0
        self._generation = 0
        self._spec_generation = 0  # only the spectrogram asked for last is drawn
        self._pending_play: int | None = None
        self._elsewhere: str | None = None  # what _play_elsewhere started: no playhead for it
        self._out_dir = Path(tempfile.mkdtemp(prefix="voice-studio-codec-"))
        # plots of the last analysis still to draw (see _analysis_done)
        self._steps = DrawSteps(self, then=lambda: self.analysis_ready.emit(self.analysis))
        self._build()
        self._tick_timer = self.start_ticker(40)

    # ---- layout -------------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.file_label = QLabel(self.PLACEHOLDER)
        self.file_label.setMinimumWidth(80)  # long names must not widen the window
        self.file_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.model = QComboBox()
        for label, key in MODELS:
            self.model.addItem(label, key)
        fill_picker(self.model, self.settings.cache_folder, "encodec")  # earlier imports, then "Import local…"
        self._model_index = 0
        self.model.currentIndexChanged.connect(self._model_changed)
        self.bandwidth = QComboBox()
        for bw in (1.5, 3.0, 6.0, 12.0, 24.0):
            self.bandwidth.addItem(f"{bw:g} kbps ({int(bw * 4 / 3)} codebooks)", bw)
        self.bandwidth.setCurrentIndex(2)
        self.bandwidth.currentIndexChanged.connect(lambda _: self.reanalyze())
        self.export_btn = button("Export codes…", "Save the codes as .ecdc (EnCodec) or .npz (VALL-E-X)",
                                 self.export_dialog)
        top = QHBoxLayout()
        top.addWidget(button("Open…", "Open audio or a code file", self.choose_file))
        top.addWidget(self.file_label, 1)
        for w in (QLabel("Codec"), self.model, QLabel("Bandwidth"), self.bandwidth, self.export_btn):
            top.addWidget(w)

        self.k_slider = QSlider(Qt.Horizontal)
        self.k_slider.setRange(1, 8)
        self.k_slider.setValue(8)
        self.k_slider.setTickPosition(QSlider.TicksBelow)
        self.k_slider.valueChanged.connect(self._k_changed)
        self.k_label = QLabel("k = 8")
        self.source_group = QButtonGroup(self)
        self.original_btn = QPushButton("A: original")
        self.codec_btn = QPushButton("B: codec")
        for i, b in enumerate((self.original_btn, self.codec_btn)):
            b.setCheckable(True)
            self.source_group.addButton(b, i)
        self.codec_btn.setChecked(True)
        self.source_group.idClicked.connect(lambda _: self._switch_source())
        self.play_btn = button("▶ Play", "Play from the playhead; A/B switches sound and spectrogram instantly",
                               self.toggle_play)
        self.time_label = QLabel("")
        play = QHBoxLayout()
        for w in (QLabel("Codebooks used"), self.k_slider, self.k_label, self.original_btn, self.codec_btn,
                  self.play_btn, self.time_label):
            play.addWidget(w)
        play.setStretchFactor(self.k_slider, 1)

        self.spec = SpectrogramPlot()
        self.grid = TokenGrid()
        self.grid.setXLink(self.spec)
        # speech units of the same audio above the grid, on its time axis (studio.ui.units_view)
        self.units = UnitsView(self.worker, lambda: self.path, lambda: self.settings.cache_folder)
        self.units.strip.setXLink(self.spec)
        self.units.error.connect(self.error)
        self.units.play_range.connect(self.play_range)
        self.units.play_file.connect(self._play_elsewhere)
        self.units.play_file_range.connect(self._play_elsewhere)
        for plot in (self.spec, self.grid):
            plot.getAxis("left").setWidth(AXIS_WIDTH)
        self.grid.hovered.connect(lambda text: self.hover_label.setText(text))
        self.spec.clicked_time.connect(self.seek)
        self.grid.clicked_time.connect(self.seek)
        self.hover_label = QLabel("Hover the grid: time, codebook and code.")

        self.stats = CodecStats()
        self.summary = QLabel("")
        self.summary.setWordWrap(True)

        split = QSplitter(Qt.Vertical)
        split.addWidget(self.spec)
        split.addWidget(self.units)
        split.addWidget(self.grid)
        split.addWidget(self.stats)
        split.setSizes([220, 110, 200, 260])
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addLayout(play)
        lay.addWidget(self.hover_label)
        lay.addWidget(split, 1)
        lay.addWidget(self.summary)
        self.export_btn.setEnabled(False)

    # ---- opening --------------------------------------------------------------------------------------------
    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open audio or codes", "", OPEN_FILTER)
        if path:
            self.open_file(path)

    def open_file(self, path: str) -> None:
        """Open audio or a code file. A file that cannot be read changes nothing on screen (the error says why);
        once the new file is taken, the previous file's grid, statistics and playback are cleared, so the name on
        screen and the data under it always belong together."""
        p = Path(path)
        if p.suffix.lower() in CODE_SUFFIXES:
            if not p.is_file():
                self.error.emit(f"File not found: {p}." if not p.exists() else f"'{p.name}' is not a file.",
                                "Check that the file still exists.")
                return
            self._clear_results()
            self.path = None
            self.units.refresh(NO_AUDIO)
            self.spec.hide()  # the spectrogram of the decoded codes appears once they are played
            self.file_label.setText(f"<b>{p.name}</b> — reading codes…")
            self._submit(OPEN_CODES, path, name=f"Reading {p.name}", opening=True)
            return
        info = self.probe_or_report(path)
        if info is None:
            return
        self._clear_results()
        self.path = info.path
        self.units.refresh()
        self.file_label.setText(f"<b>{info.path.name}</b> — {fmt_time(info.duration)}")
        self._show_spectrogram(str(info.path))
        self.reanalyze(opening=True)

    def _clear_results(self) -> None:
        """Forget the shown file's codes, statistics and reconstructions (a new file is being opened)."""
        self.player.stop()
        self.play_btn.setText("▶ Play")
        self.reconstructions.clear()
        self.units.clear()
        self.analysis = None
        self._steps.clear()  # a slower earlier analysis must not draw over the new file
        self._pending_play = None
        if self._rec_job:
            self.worker.cancel(self._rec_job)
            self._rec_job = 0
        self.grid.codes = None
        self.grid.image.clear()
        self.grid.k_band.hide()
        self.grid.getAxis("left").setTicks(None)  # no codebook rows without codes
        self.stats.clear()
        self.summary.setText("")
        self.hover_label.setText("Hover the grid: time, codebook and code.")
        self.export_btn.setEnabled(False)

    def reanalyze(self, opening: bool = False) -> None:
        if self.path is None:
            return
        self.reconstructions.clear()
        self._submit(ANALYZE, str(self.path), self.model.currentData(), self.bandwidth.currentData(),
                     self.settings.cache_folder, name=f"Encoding {self.path.name}", opening=opening)

    def _submit(self, fn: object, *args: object, name: str, opening: bool = False) -> None:
        if self._job:
            self.worker.cancel(self._job)
        # a result or error of a job superseded by a newer one is dropped: it belongs to another file or setting
        self._generation += 1
        gen = self._generation
        self._job = self.worker.submit(fn, *args, name=name,  # type: ignore[arg-type]
                                       on_result=lambda a: self._analysis_done(a) if gen == self._generation
                                       else None,
                                       on_error=lambda r: self._failed(r, opening) if gen == self._generation
                                       else None)

    def _show_spectrogram(self, path: str) -> None:
        if self._spec_job:  # the previous file's: nobody will look at it
            self.worker.cancel(self._spec_job)
        self._spec_generation += 1
        gen = self._spec_generation
        self._spec_job = self.worker.submit(spectrogram_job, path, "mel80", 0.0, None, 2000, name="Spectrogram",
                                            on_result=lambda s: self._spectrogram_done(s)
                                            if gen == self._spec_generation else None)

    def _spectrogram_done(self, spec: Spectrogram) -> None:
        self._spec_job = 0
        self.spec.show()
        self.spec.show_spectrogram(spec.image, spec.t0, spec.t1, spec.freqs, spec.vmin, spec.vmax, mel=True)

    def _model_changed(self, index: int) -> None:
        if import_entry_taken(self.model, self._model_index):  # the dialog opens; the pick stays as it was
            self.import_requested.emit()
            return
        self._model_index = index
        self.reanalyze()

    def add_imported(self, model: ImportedModel) -> None:
        """A model imported anywhere in the window: EnCodec ones join this picker and are selected."""
        if model.kind == "encodec":
            add_model_entry(self.model, model, select=True)

    # ---- results --------------------------------------------------------------------------------------------
    def _analysis_done(self, analysis: CodecAnalysis) -> None:
        """The controls take the analysis at once; the plots are drawn in steps, one per turn of the event loop:
        drawn together, their first paint held the window for 25-45 ms (ui_stall). analysis_ready says when the
        last step is on screen. A newer analysis replaces the steps still to come."""
        self._job = 0
        self.analysis = analysis
        self.error.emit("", "")  # a good open clears the banner an earlier failure left
        if self.path is None:
            self.file_label.setText(f"<b>{Path(analysis.source).name}</b> — codes, {fmt_time(analysis.duration)}; "
                                    "Play decodes them")
        n_q = analysis.codes.shape[0]
        self.k_slider.blockSignals(True)
        self.k_slider.setRange(1, n_q)
        self.k_slider.setValue(n_q)
        self.k_slider.blockSignals(False)
        self.k_label.setText(f"k = {n_q}")
        self.stats.take(analysis)
        entropy_rate = sum(c.kbps for c in analysis.codebooks)
        self.summary.setText(
            f"{analysis.model}: {n_q} codebooks × {analysis.codes.shape[1]} frames at {analysis.frame_rate} frames/s "
            f"= {analysis.nominal_kbps:g} kbps nominal; entropy coding would need {entropy_rate:.2f} kbps. "
            + ("Quality per k is measured on the first 20 s." if analysis.stages else
               "A code file has no original audio: play the reconstruction; quality needs the audio."))
        self.export_btn.setEnabled(True)
        if self.path is None:
            self.original_btn.setEnabled(False)
            self.codec_btn.setChecked(True)
        else:
            self.original_btn.setEnabled(True)
        self._steps.start([functools.partial(self._draw_grid, analysis), functools.partial(self.stats.show_usage, 0),
                           functools.partial(self.stats.draw_entropy, analysis),
                           functools.partial(self.stats.draw_quality, analysis)])

    @property
    def drawing(self) -> bool:
        """Plots of the last analysis still to be drawn."""
        return self._steps.pending

    def _draw_grid(self, analysis: CodecAnalysis) -> None:
        self.grid.show_codes(analysis.codes, analysis.frame_rate)
        self.grid.set_k(self.k)  # the slider may have moved since the analysis came
        self.spec.setXRange(0, analysis.duration, padding=0)

    def _failed(self, report: ErrorReport, opening: bool = False) -> None:
        self._job = 0
        if opening and self.path is None:  # a code file that could not be read: nothing of it is on screen
            self.file_label.setText(self.PLACEHOLDER)
        self.error.emit(report.message, report.remedy)

    # ---- listening ------------------------------------------------------------------------------------------
    @property
    def k(self) -> int:
        return self.k_slider.value()

    def _k_changed(self, k: int) -> None:
        self.k_label.setText(f"k = {k}")
        self.grid.set_k(k)
        if k in self.reconstructions and self.codec_btn.isChecked():
            self._show_spectrogram(self.reconstructions[k])
        if self.player.playing and self.codec_btn.isChecked():
            self._play_codec(self.player.position)

    def _switch_source(self) -> None:
        """A/B: the spectrogram and the sound switch between the original and the k-codebook reconstruction."""
        if self.original_btn.isChecked() and self.path is not None:
            self._show_spectrogram(str(self.path))
        elif self.k in self.reconstructions:
            self._show_spectrogram(self.reconstructions[self.k])
        if self.player.playing:
            pos = self.player.position
            if self.original_btn.isChecked() and self.path is not None:
                self.play_range(pos)
            else:
                self._play_codec(pos)

    def toggle_play(self) -> None:
        if self.player.playing:
            self.player.pause()
            self.play_btn.setText("▶ Play")
            return
        start = self.grid.playhead.value()
        start = 0.0 if self.analysis is None or start >= self.analysis.duration - 0.05 else start
        if self.original_btn.isChecked() and self.path is not None:
            self.play_range(start)
        else:
            self._play_codec(start)

    def _play_codec(self, start: float) -> None:
        """Play the reconstruction from the first k codebooks (decoded on the worker once per k)."""
        if self.analysis is None:
            return
        k = self.k
        if k in self.reconstructions:
            try:
                self.player.play(self.reconstructions[k], start)
                self.play_btn.setText("❚❚ Pause")
            except StudioError as e:
                self.error.emit(e.message, e.remedy)
            return
        self._pending_play = k
        self._pending_start = start
        model = self.model.currentData()
        if self.path is None:  # code files name their model
            model = model if Path(str(model)).exists() else self.analysis.model.removeprefix("encodec_")
        if self._rec_job:
            self.worker.cancel(self._rec_job)
        self._rec_job = self.worker.submit(RECONSTRUCT, self.analysis, model, k, str(self._out_dir),
                                           self.settings.cache_folder, name=f"Decoding with {k} codebooks",
                                           on_result=lambda path, k=k: self._reconstructed(k, path),
                                           on_error=self._failed_reconstruction)

    def _reconstructed(self, k: int, path: str) -> None:
        self._rec_job = 0
        self.reconstructions[k] = path
        if k == self.k and self.codec_btn.isChecked():  # the spectrogram follows what is heard
            self._show_spectrogram(path)
        if self._pending_play == k:
            self._pending_play = None
            self._play_codec(self._pending_start)

    def _failed_reconstruction(self, report: ErrorReport) -> None:
        self._rec_job = 0
        self._pending_play = None
        self.error.emit(report.message, report.remedy)

    def seek(self, seconds: float) -> None:
        self.grid.playhead.setValue(seconds)
        self.spec.set_playhead(seconds)
        if self.player.playing:
            self.player.seek(seconds)

    def _play_elsewhere(self, path: str, start: float = 0.0, end: float | None = None) -> None:
        """Audio off this timeline (a unit's runs, a compared take): played, the playhead left where it is."""
        try:
            self.player.play(path, start, end)
            self._elsewhere = str(path)
        except StudioError as e:
            self.error.emit(e.message, e.remedy)

    def _tick(self) -> None:
        if self.player.path is None:
            return
        if self._elsewhere is not None:
            if self.player.playing and str(self.player.path) == self._elsewhere:
                return
            self._elsewhere = None
        pos = self.player.position
        if self.player.playing:
            self.grid.playhead.setValue(pos)
            self.spec.set_playhead(pos)
            self.time_label.setText(fmt_time(pos))
        elif self.play_btn.text().startswith("❚❚"):
            self.play_btn.setText("▶ Play")

    # ---- export ---------------------------------------------------------------------------------------------
    def export_dialog(self) -> None:
        if self.analysis is None:
            return
        default = str(Path(self.analysis.source).with_suffix(".ecdc"))
        path, _ = QFileDialog.getSaveFileName(self, "Export codes", default, "EnCodec (*.ecdc);;VALL-E-X (*.npz)")
        if path:
            self.export_to(path)

    def export_to(self, path: str) -> None:
        """Save the codes (atomically; never over the file they came from); a failure is a message."""
        a = self.analysis
        if a is None:
            return
        try:
            check_output(path, [a.source], CODE_SUFFIXES)
            write_codes(path, CodeFile(a.codes, a.model, a.audio_length, a.scales))
            self.status.emit(f"Saved {path}")
        except StudioError as e:
            self.error.emit(e.message, e.remedy)
        except OSError as e:
            err = describe_os_error(e, path)
            self.error.emit(err.message, err.remedy)

    def shutdown(self) -> None:
        import shutil

        self.player.stop()
        self.units.shutdown()
        shutil.rmtree(self._out_dir, ignore_errors=True)  # decoded reconstructions are only for listening
