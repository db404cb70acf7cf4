"""Record panel: device picker, level meter, live waveform and log-mel, record/pause/stop, and the library."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.audio.devices import InputDevice, list_input_devices
from studio.audio.library import Library, Recording
from studio.audio.live import LiveMel
from studio.audio.player import Player
from studio.audio.recorder import Recorder, overflow_text
from studio.engine.render import colormap_table
from studio.engine.waveform import Envelope, envelope_job
from studio.errors import StudioError
from studio.outputs import describe_os_error
from studio.ui.off_thread import JOIN_AT_CLOSE_S, call_off_ui
from studio.ui.settings import AppSettings
from studio.ui.widgets import FileDropMixin, LevelMeter, WaveformPlot, button, fmt_time
from studio.worker.qt import QtWorker

LIVE_SECONDS = 10.0
UPDATE_MS = 33  # ~30 live updates per second
NO_INPUT_WARN_S = 2.0  # an input that started and then delivers nothing this long is reported
OVERFLOW_TIP = ("The computer did not read the input in time, so some audio was lost. Close busy programs or "
                "record at a lower sample rate.")
NO_INPUT_TIP = ("The device stopped sending audio: it may be unplugged, or the sound server stopped. What was "
                "recorded is saved; stop, and record again once it is back.")


class _DeleteCommand(QUndoCommand):
    """A delete already done (the panel moved the file to the trash before pushing this). Undo and redo run inside
    Qt's callbacks, so a failure there is shown as a message and the command leaves the stack."""

    def __init__(self, panel: RecordPanel, path: Path, trashed: Path) -> None:
        super().__init__(f"Delete {path.stem}")
        self.panel, self.path, self.trashed = panel, path, trashed
        self._done = True  # QUndoStack.push calls redo(): the file is in the trash already

    def redo(self) -> None:
        if self._done:
            return
        try:
            self.trashed = self.panel.library.delete(self.path)
        except StudioError as e:
            self._failed(e)
            return
        self._done = True
        self.panel.refresh_library()

    def undo(self) -> None:
        try:
            restored = self.panel.library.restore(self.trashed)
        except StudioError as e:
            self._failed(e)
            return
        self._done = False
        if restored.name != self.path.name:
            self.panel.status.emit(f"Restored {self.path.stem} as {restored.stem}: the name is taken")
        self.path = restored
        self.panel.refresh_library(select=restored)

    def _failed(self, e: StudioError) -> None:
        self.setObsolete(True)  # the stack drops it: there is nothing left to undo or redo
        self.panel.error.emit(e.message, e.remedy)
        self.panel.refresh_library()


class RecordPanel(FileDropMixin, QWidget):
    error = Signal(str, str)
    open_in_spectrogram = Signal(str)
    open_in_transcribe = Signal(str)
    open_in_codec = Signal(str)
    enroll_voice = Signal(str)
    status = Signal(str)

    def __init__(self, worker: QtWorker, settings: AppSettings, undo: QUndoStack,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.worker, self.settings, self.undo = worker, settings, undo
        self.library = Library(settings.recordings_folder)
        self.recorder: Recorder | None = None
        self._stopping: threading.Thread | None = None  # a recorder closing its stream and file
        self.player = Player()
        self.live_mel: LiveMel | None = None
        self._devices: list[InputDevice] = []
        self._wave = np.zeros(0, np.float32)
        self._mel = np.zeros((80, 0), np.float32)
        self._envelope_job = 0
        self._build()
        self.refresh_devices()
        self.refresh_library()
        self.timer = QTimer(self)
        self.timer.setInterval(UPDATE_MS)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    # ---- layout
    def _build(self) -> None:
        self.device_combo = QComboBox()
        self.device_combo.setMinimumWidth(260)
        self.device_combo.setToolTip("Microphones, and monitors of outputs to record what the computer plays")
        self.device_combo.currentIndexChanged.connect(self._device_chosen)
        self.record_btn = button("● Record", "Start recording, or pause (R)", self.toggle_record)
        self.record_btn.setObjectName("recordButton")
        self.stop_btn = button("■ Stop", "Stop and save the recording (S)", self.stop_recording)
        self.stop_btn.setEnabled(False)
        self.elapsed = QLabel("0:00.0")
        self.elapsed.setStyleSheet("font-size: 18px; font-family: monospace;")
        self.meter = LevelMeter()
        self.overflow_label = QLabel()
        self.overflow_label.setObjectName("overflowWarning")
        self.overflow_label.setStyleSheet("color: #e65100; font-weight: bold;")
        self.overflow_label.setToolTip(OVERFLOW_TIP)
        self.overflow_label.hide()
        top = QHBoxLayout()
        top.addWidget(QLabel("Input"))
        top.addWidget(self.device_combo, 1)
        top.addWidget(button("↻", "Look for devices again", self.refresh_devices))
        top.addSpacing(12)
        for w in (self.record_btn, self.stop_btn, self.elapsed):
            top.addWidget(w)
        top.addWidget(self.meter, 1)
        top.addWidget(self.overflow_label)

        self.live_wave = pg.PlotWidget(enableMenu=False)  # no context menu, and none built (6 ms a plot)
        self.live_wave.setMouseEnabled(False, False)
        self.live_wave.setYRange(-1, 1, padding=0)
        self.live_wave.setXRange(-5, 0, padding=0)
        self.live_wave.setLabel("bottom", "Seconds ago")
        self.live_wave.hideAxis("left")
        self.live_wave_curve = self.live_wave.plot(pen=pg.mkPen("#26a69a"))
        self.live_spec = pg.PlotWidget(enableMenu=False)
        self.live_spec.setMouseEnabled(False, False)
        self.live_spec.setLabel("left", "Mel band")
        self.live_spec.setLabel("bottom", "Seconds ago")
        self.live_image = pg.ImageItem()
        self.live_image.setLookupTable(colormap_table(self.settings.colormap))
        self.live_spec.addItem(self.live_image)
        self.live_spec.setXRange(-LIVE_SECONDS, 0, padding=0)
        self.live_spec.setYRange(0, 80, padding=0)
        self.live_hint = pg.TextItem("Press ● Record (R) to see the input live", anchor=(0.5, 0.5))
        self.live_hint.setPos(-LIVE_SECONDS / 2, 40)
        self.live_spec.addItem(self.live_hint)
        live = QSplitter(Qt.Vertical)
        live.addWidget(self.live_wave)
        live.addWidget(self.live_spec)
        live.setSizes([120, 200])

        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Name", "Duration", "Recorded"])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
        self.table.setColumnWidth(1, 90)
        self.table.setColumnWidth(2, 150)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.DoubleClicked | QAbstractItemView.EditKeyPressed)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.itemChanged.connect(self._item_renamed)
        self.play_btn = button("▶ Play", "Play or pause the selected recording (Space)", self.toggle_play)
        self.delete_btn = button("Delete", "Move to trash; Undo (Ctrl+Z) brings it back", self.delete_selected)
        self.undo_btn = button("Undo", "Undo the last delete (Ctrl+Z)", self.undo.undo)
        self.undo.canUndoChanged.connect(self.undo_btn.setEnabled)
        self.undo_btn.setEnabled(False)
        self.spec_btn = button("Spectrogram", "Open the selected recording in the Spectrogram panel",
                               self._open_spectrogram)
        self.transcribe_btn = button("Transcribe", "Open the selected recording in the Transcribe panel",
                                     lambda: (p := self.selected_path()) and self.open_in_transcribe.emit(str(p)))
        self.codec_btn = button("Codec", "Encode the selected recording in the Codec panel",
                                lambda: (p := self.selected_path()) and self.open_in_codec.emit(str(p)))
        self.enroll_btn = button("Enroll voice", "Make a voice of the selected recording (3–10 s of one person "
                                 "speaking) in the Voice panel", self._enroll_selected)
        self.position = QLabel("")
        lib_buttons = QHBoxLayout()
        for w in (self.play_btn, self.spec_btn, self.transcribe_btn, self.codec_btn, self.enroll_btn, self.delete_btn,
                  self.undo_btn):
            lib_buttons.addWidget(w)
        lib_buttons.addStretch(1)
        lib_buttons.addWidget(self.position)
        self.waveform = WaveformPlot()
        self.waveform.clicked_time.connect(self._seek)
        self.waveform.setMinimumHeight(110)
        hint = QLabel("Drop audio files here to import them into the library.")
        hint.setEnabled(False)
        lib = QWidget()
        lib_lay = QVBoxLayout(lib)
        lib_lay.setContentsMargins(0, 0, 0, 0)
        lib_lay.addWidget(QLabel("<b>Recordings</b>"))
        lib_lay.addWidget(self.table, 2)
        lib_lay.addLayout(lib_buttons)
        lib_lay.addWidget(self.waveform, 1)
        lib_lay.addWidget(hint)

        split = QSplitter(Qt.Vertical)
        split.addWidget(live)
        split.addWidget(lib)
        split.setSizes([320, 380])
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(split, 1)

    # ---- devices
    def refresh_devices(self) -> None:
        self._devices = list_input_devices()
        self.device_combo.blockSignals(True)
        self.device_combo.clear()
        self.device_combo.addItem("System default input", None)
        for d in self._devices:
            prefix = "🔊 " if d.kind == "monitor" else "🎤 "
            self.device_combo.addItem(prefix + d.label, d.key)
        idx = self.device_combo.findData(self.settings.input_device)
        self.device_combo.setCurrentIndex(max(0, idx))
        self.device_combo.blockSignals(False)

    def _device_chosen(self, _index: int) -> None:
        self.settings.input_device = self.device_combo.currentData()

    def current_device(self) -> InputDevice | None:
        key = self.device_combo.currentData()
        return next((d for d in self._devices if d.key == key), None)

    # ---- recording
    def toggle_record(self) -> None:
        if self.recorder is None:
            self.start_recording()
        elif self.recorder.paused:
            self.recorder.resume()
            self.record_btn.setText("❚❚ Pause")
        else:
            self.recorder.pause()
            self.record_btn.setText("● Resume")

    def start_recording(self) -> None:
        if self._stopping is not None:  # the last take is still closing (the R shortcut skips the disabled button)
            return
        self.player.stop()
        device = self.current_device()
        rec = Recorder(self.library.new_path(), device)
        try:
            rec.start()
        except StudioError as e:
            self.error.emit(e.message, e.remedy)
            return
        self.recorder = rec
        self.live_mel = LiveMel(rec.samplerate)
        self.live_hint.hide()
        self._wave = np.zeros(0, np.float32)
        self._mel = np.zeros((80, 0), np.float32)
        self.record_btn.setText("❚❚ Pause")
        self.stop_btn.setEnabled(True)
        self.device_combo.setEnabled(False)
        self.overflow_label.hide()
        self.status.emit(f"Recording to {rec.path}")

    def stop_recording(self) -> None:
        if self.recorder is None:
            return
        rec, self.recorder = self.recorder, None
        self.record_btn.setText("● Record")
        self.record_btn.setEnabled(False)  # until the file is closed
        self.stop_btn.setEnabled(False)
        self._stopping = call_off_ui(self, rec.stop, lambda path: self._stopped(rec, path), "recorder-stop")

    def _stopped(self, rec: Recorder, path: Path) -> None:
        self._stopping = None
        self.record_btn.setEnabled(True)
        self.device_combo.setEnabled(True)
        self._show_overflows(rec.overflows)
        if rec.error:
            self.error.emit(rec.error, "The audio recorded before the problem is kept in the file.")
        dropped = f" — {overflow_text(rec.overflows)}" if rec.overflows else ""
        self.status.emit(f"Saved {path.name} ({fmt_time(rec.duration)}){dropped}")
        self.refresh_library(select=path)

    def _show_overflows(self, count: int) -> None:
        if count:
            self.overflow_label.setText("⚠ " + overflow_text(count))
            self.overflow_label.setToolTip(OVERFLOW_TIP)
            self.overflow_label.show()

    def _show_input_state(self, rec: Recorder) -> None:
        """Dropped audio, or an input that went quiet after it had started (unplugged, sound server gone)."""
        quiet = rec.seconds_without_input
        if rec.frames_written and quiet >= NO_INPUT_WARN_S:
            # short: the label shares the row with the buttons, and the window must fit a 1366-pixel screen
            self.overflow_label.setText(f"⚠ No audio from the input for {quiet:.0f} s")
            self.overflow_label.setToolTip(NO_INPUT_TIP)
            self.overflow_label.show()
        elif rec.overflows:
            self._show_overflows(rec.overflows)
        else:
            self.overflow_label.hide()

    def _tick(self) -> None:
        rec = self.recorder
        if rec is not None:
            new = rec.read_new()
            self.elapsed.setText(fmt_time(rec.duration))
            held = 0.0 if rec.paused or rec.seconds_without_input >= NO_INPUT_WARN_S else rec.level
            self.meter.set_level(float(np.abs(new).max()) if new.size else held)
            if new.size and self.live_mel is not None:
                self._push_live(new, rec.samplerate)
            self._show_input_state(rec)
            if rec.error:
                self.stop_recording()
        if self.player.path is not None:
            self.waveform.playhead.setValue(self.player.position)
            self.position.setText(f"{fmt_time(self.player.position)} / {fmt_time(self.player.duration)}")
            if not self.player.playing and self.play_btn.text().startswith("❚❚"):
                self.play_btn.setText("▶ Play")

    def _push_live(self, new: np.ndarray, sr: int) -> None:
        keep = int(5 * sr)
        self._wave = np.concatenate([self._wave, new])[-keep:]
        step = max(1, len(self._wave) // 2000)  # draw at most ~2000 points
        w = self._wave[::step]
        self.live_wave_curve.setData(np.linspace(-len(self._wave) / sr, 0, len(w)), w)
        cols = self.live_mel.push(new)
        self._mel = np.concatenate([self._mel, cols], axis=1)[:, -int(LIVE_SECONDS * 100):]
        if self._mel.shape[1]:
            top = max(float(self._mel.max()), -2.0)
            self.live_image.setImage(self._mel, levels=(top - 8, top), autoLevels=False)
            width = self._mel.shape[1] / 100.0
            self.live_image.setRect(-width, 0, width, 80)

    # ---- library
    def refresh_library(self, select: Path | None = None) -> None:
        try:
            self._recordings: list[Recording] = self.library.recordings()
        except StudioError as e:
            self.error.emit(e.message, e.remedy)
            self._recordings = []
        for fixed in self.library.repaired:
            self.status.emit(f"Repaired {fixed.name}: Voice Studio stopped while recording it")
        self.table.blockSignals(True)
        self.table.setRowCount(0)
        for r in self._recordings:
            row = self.table.rowCount()
            self.table.insertRow(row)
            name = QTableWidgetItem(r.name)
            name.setData(Qt.UserRole, str(r.path))
            dur = QTableWidgetItem(fmt_time(r.duration))
            date = QTableWidgetItem(r.created.strftime("%Y-%m-%d %H:%M"))
            for item in (dur, date):
                item.setFlags(item.flags() & ~Qt.ItemIsEditable)
            self.table.setItem(row, 0, name)
            self.table.setItem(row, 1, dur)
            self.table.setItem(row, 2, date)
            if select is not None and r.path == select:
                self.table.selectRow(row)
        self.table.blockSignals(False)
        self._selection_changed()

    def selected_path(self) -> Path | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return Path(self.table.item(rows[0].row(), 0).data(Qt.UserRole))

    def _selection_changed(self) -> None:
        path = self.selected_path()
        for b in (self.play_btn, self.delete_btn, self.spec_btn):
            b.setEnabled(path is not None)
        if path is None:
            self.waveform.clear_envelope()
            return
        if self.player.path is not None and self.player.path != path:
            self.player.stop()
            self.play_btn.setText("▶ Play")
        self._envelope_job = self.worker.submit(
            envelope_job, str(path), 2000, name=f"Waveform of {path.stem}",
            on_result=self._show_envelope, on_error=lambda rep: self.error.emit(rep.message, rep.remedy))

    def _show_envelope(self, env: Envelope) -> None:
        if self.selected_path() is not None:
            self.waveform.show_envelope(env.times, env.low, env.high)

    def _item_renamed(self, item: QTableWidgetItem) -> None:
        if item.column() != 0:
            return
        old = Path(item.data(Qt.UserRole))
        if item.text() == old.stem:
            return
        try:
            if self.player.path == old:
                self.player.stop()
            new = self.library.rename(old, item.text())
        except StudioError as e:
            self.error.emit(e.message, e.remedy)
            new = old
        self.refresh_library(select=new)

    def _enroll_selected(self) -> None:
        path = self.selected_path()
        if path is None:
            self.status.emit("Select a recording to enroll as a voice (3–10 s of one person speaking).")
            return
        self.enroll_voice.emit(str(path))

    def rename_selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self.table.editItem(self.table.item(rows[0].row(), 0))

    def delete_selected(self) -> None:
        path = self.selected_path()
        if path is None:
            return
        if self.player.path == path:
            self.player.stop()
        try:
            trashed = self.library.delete(path)
        except StudioError as e:
            self.error.emit(e.message, e.remedy)
            return
        self.undo.push(_DeleteCommand(self, path, trashed))
        self.refresh_library()
        self.status.emit(f"Deleted {path.stem} — Undo (Ctrl+Z) restores it")

    def import_files(self, paths: list[Path]) -> None:
        last = None
        for p in paths:
            try:
                last = self.library.import_file(p)
            except StudioError as e:  # the source is never touched, and nothing partial is left in the library
                self.error.emit(e.message, e.remedy)
            except OSError as e:
                err = describe_os_error(e, p, "import")
                self.error.emit(err.message, err.remedy)
        if last is not None:
            self.refresh_library(select=last)

    def on_files_dropped(self, paths: list[Path]) -> None:
        self.import_files(paths)

    # ---- playback
    def toggle_play(self) -> None:
        path = self.selected_path()
        if path is None:
            return
        try:
            if self.player.path == path and self.player.playing:
                self.player.pause()
                self.play_btn.setText("▶ Play")
            elif self.player.path == path and self.player._stream is not None:
                self.player.resume()
                self.play_btn.setText("❚❚ Pause")
            else:
                self.player.play(path)
                self.play_btn.setText("❚❚ Pause")
        except StudioError as e:
            self.error.emit(e.message, e.remedy)

    def _seek(self, seconds: float) -> None:
        if self.player.path is not None:
            self.player.seek(seconds)
            self.waveform.playhead.setValue(seconds)

    def _open_spectrogram(self) -> None:
        path = self.selected_path()
        if path is not None:
            self.open_in_spectrogram.emit(str(path))

    def shutdown(self) -> None:
        if self.recorder is not None:
            self.recorder.stop()  # here and now: the file is complete before the app goes
            self.recorder = None
        if self._stopping is not None:
            # bounded: a sound server that hangs must not hang the window's close; the writer syncs the file
            # every 0.25 s, so what was heard is on disk either way
            self._stopping.join(JOIN_AT_CLOSE_S)
        self.player.stop()

