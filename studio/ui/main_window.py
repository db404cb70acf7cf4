"""The main window: a sidebar of panels, an error banner, the job bar, menus and shortcuts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QIcon, QKeySequence, QShortcut, QUndoGroup, QUndoStack
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from studio import __version__
from studio.ui.caption_panel import CaptionPanel
from studio.ui.codec_panel import CodecPanel
from studio.ui.gc_guard import GarbageCollector
from studio.ui.import_weights import WeightsImporter
from studio.ui.record_panel import RecordPanel
from studio.ui.settings import AppSettings
from studio.ui.spectrogram_panel import SpectrogramPanel
from studio.ui.theme import THEMES, apply_theme
from studio.ui.transcribe_panel import TranscribePanel
from studio.ui.voice_panel import VoicePanel
from studio.ui.widgets import AUDIO_FILTER, ErrorBanner, FileDropMixin, JobBar
from studio.worker.qt import QtWorker

RESOURCES = Path(__file__).resolve().parent.parent / "resources"


class SettingsDialog(QDialog):
    def __init__(self, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.settings = settings
        form = QFormLayout(self)
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda"])
        self.device.setCurrentText(settings.compute_device)
        self.theme = QComboBox()
        self.theme.addItems(THEMES)
        self.theme.setCurrentText(settings.theme)
        self.cache = QLineEdit(settings.cache_folder)
        self.cache.setPlaceholderText("Hugging Face default (HF_HOME)")
        self.recordings = QLineEdit(str(settings.recordings_folder))
        self.voices = QLineEdit(str(settings.voices_folder))
        form.addRow("Compute device", self.device)
        form.addRow("Theme", self.theme)
        form.addRow("Model cache folder", self._with_browse(self.cache))
        form.addRow("Recordings folder", self._with_browse(self.recordings))
        form.addRow("Voices folder", self._with_browse(self.voices))
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _with_browse(self, edit: QLineEdit) -> QWidget:
        w = QWidget()
        lay = QHBoxLayout(w)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(edit, 1)
        b = QPushButton("Browse…")
        b.clicked.connect(lambda: (d := QFileDialog.getExistingDirectory(self, "Choose folder")) and edit.setText(d))
        lay.addWidget(b)
        return w

    def save(self) -> None:
        self.settings.compute_device = self.device.currentText()
        self.settings.theme = self.theme.currentText()
        self.settings.cache_folder = self.cache.text().strip()
        self.settings.recordings_folder = self.recordings.text().strip()
        self.settings.voices_folder = self.voices.text().strip()


class AfterFirstPaint(QObject):
    """Calls `then` once the widget has painted for the first time (what start-up leaves for later), then leaves
    the widget's events alone."""

    def __init__(self, widget: QWidget, then: Callable[[], None]) -> None:
        super().__init__(widget)
        self._then = then
        widget.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Paint:
            obj.removeEventFilter(self)
            QTimer.singleShot(0, self, self._then)  # after this paint is on screen
        return False


class MainWindow(FileDropMixin, QMainWindow):
    PANELS = ("Record", "Spectrogram", "Transcribe", "Caption", "Codec", "Voice")
    LABELS = {"Spectrogram": "Spectrogram & Attention"}

    def __init__(self, settings: AppSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or AppSettings()
        self.setWindowTitle("Voice Studio")
        self.setWindowIcon(QIcon(str(RESOURCES / "voice-studio.svg")))
        self._fit_screen()
        self.setAcceptDrops(True)
        self.gc = GarbageCollector(self)
        self.worker = QtWorker(self.settings.compute_device, self)
        self.undo = QUndoStack(self)

        self.banner = ErrorBanner()
        self.nav = QListWidget()
        self.nav.setFixedWidth(176)  # the window (widest panel + this) must fit a 1366-pixel screen
        self.nav.setIconSize(QSize(20, 20))
        self.stack = QStackedWidget()
        self.record = RecordPanel(self.worker, self.settings, self.undo)
        self.spectrogram = SpectrogramPanel(self.worker, self.settings)
        self.transcribe = TranscribePanel(self.worker, self.settings)
        self.caption = CaptionPanel(self.worker, self.settings)
        self.codec = CodecPanel(self.worker, self.settings)
        self.voice = VoicePanel(self.worker, self.settings, QUndoStack(self))
        # Ctrl+Z undoes what was done on the panel in view: recordings, or voices on the Voice panel
        self.undo_group = QUndoGroup(self)
        for stack in (self.undo, self.voice.voices.undo):
            self.undo_group.addStack(stack)
        self.undo_group.setActiveStack(self.undo)
        # "Import local weights…" (File menu and each model picker) adds the model to the picker that uses it
        pickers = (self.transcribe, self.codec, self.voice, self.caption, self.spectrogram.units)
        self.weights = WeightsImporter(self.worker, self.settings, pickers, self)
        panels = (self.record, self.spectrogram, self.transcribe, self.caption, self.codec, self.voice)
        for name, panel in zip(self.PANELS, panels, strict=True):
            QListWidgetItem(self.LABELS.get(name, name), self.nav)
            self.stack.addWidget(panel)
            panel.error.connect(self.banner.show_error)
            panel.status.connect(self.show_status)
        self.weights.error.connect(self.banner.show_error)
        self.weights.status.connect(self.show_status)
        self.nav.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.nav.currentRowChanged.connect(lambda _row: self.undo_group.setActiveStack(
            self.voice.voices.undo if self.stack.currentWidget() is self.voice else self.undo))
        self.nav.setCurrentRow(0)
        self.record.open_in_spectrogram.connect(self.show_in_spectrogram)
        self.transcribe.attention_ready.connect(self.show_attention)
        self.spectrogram.attention.window_requested.connect(
            lambda: self.transcribe.attention_at(self.spectrogram.visible_range()[0]))
        self.record.open_in_transcribe.connect(self.show_in_transcribe)
        self.record.open_in_codec.connect(self.show_in_codec)
        self.record.enroll_voice.connect(self.show_in_voice)

        body = QWidget()
        row = QHBoxLayout(body)
        row.setContentsMargins(6, 6, 6, 6)
        row.addWidget(self.nav)
        col = QVBoxLayout()
        col.addWidget(self.banner)
        col.addWidget(self.stack, 1)
        row.addLayout(col, 1)
        self.setCentralWidget(body)

        self.job_bar = JobBar()
        self.statusBar().addPermanentWidget(self.job_bar)
        self.job_bar.cancel_requested.connect(self.worker.cancel)
        self.worker.started.connect(self.job_bar.begin)
        self.worker.progress.connect(self.job_bar.update_progress)
        for sig in (self.worker.finished, self.worker.failed):
            sig.connect(lambda jid, _r: self.job_bar.end(jid))
        self.worker.cancelled.connect(lambda jid, _partial: self.job_bar.end(jid))
        self._menus()
        self._shortcuts()
        self._after_paint = AfterFirstPaint(self, self.voice.finish_start)

    def _menus(self) -> None:
        file = self.menuBar().addMenu("&File")
        self._action(file, "&Open…", QKeySequence.Open, self.open_dialog)
        self._action(file, "&Import recordings…", "Ctrl+I", self.import_dialog)
        self._action(file, "Import local &weights…", None, self.weights.choose)
        file.addSeparator()
        self._action(file, "&Settings…", "Ctrl+,", self.open_settings)
        self._action(file, "&Quit", QKeySequence.Quit, self.close)
        edit = self.menuBar().addMenu("&Edit")
        undo = self.undo_group.createUndoAction(self, "&Undo")
        undo.setShortcut(QKeySequence.Undo)
        edit.addAction(undo)
        redo = self.undo_group.createRedoAction(self, "&Redo")
        redo.setShortcut(QKeySequence.Redo)
        edit.addAction(redo)
        self._action(edit, "&Rename", "F2", self.rename_selected)
        self._action(edit, "&Delete", QKeySequence.Delete, self.delete_selected)
        view = self.menuBar().addMenu("&View")
        for i, name in enumerate(self.PANELS):
            self._action(view, self.LABELS.get(name, name), f"Ctrl+{i + 1}", lambda i=i: self.nav.setCurrentRow(i))
        view.addSeparator()
        for theme in THEMES:
            self._action(view, f"{theme.title()} theme", None, lambda t=theme: self.set_theme(t))
        help_ = self.menuBar().addMenu("&Help")
        self._action(help_, "&Keyboard shortcuts", "F1", self.show_shortcuts)
        self._action(help_, "&About Voice Studio", None, lambda: QMessageBox.about(
            self, "Voice Studio", f"Voice Studio {__version__}\nRecord, transcribe, clone, caption — and look "
            "inside the models that do it."))

    def _action(self, menu: object, text: str, shortcut: object, slot: object) -> QAction:
        act = QAction(text, self)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        act.triggered.connect(slot)
        menu.addAction(act)  # type: ignore[attr-defined]
        self.addAction(act)
        return act

    def _shortcuts(self) -> None:
        QShortcut(QKeySequence("R"), self, activated=self.record.toggle_record)
        QShortcut(QKeySequence("S"), self, activated=self.record.stop_recording)
        QShortcut(QKeySequence(Qt.Key_Space), self, activated=self.play_pause)
        QShortcut(QKeySequence("Ctrl+T"), self, activated=self.transcribe.start)

    def play_pause(self) -> None:
        current = self.stack.currentWidget()
        (current if current in (self.spectrogram, self.transcribe, self.codec, self.voice) else self.record
         ).toggle_play()

    def rename_selected(self) -> None:
        """F2: the voice on the Voice panel, else the recording."""
        (self.voice.voices if self.stack.currentWidget() is self.voice else self.record).rename_selected()

    def delete_selected(self) -> None:
        (self.voice.voices if self.stack.currentWidget() is self.voice else self.record).delete_selected()

    def show_shortcuts(self) -> None:
        QMessageBox.information(self, "Keyboard shortcuts", "\n".join([
            "R  Record / pause", "S  Stop recording", "Space  Play / pause", "Ctrl+O  Open a file",
            "Ctrl+I  Import recordings", "F2  Rename the recording or voice", "Delete  Delete the recording or voice",
            "Ctrl+Z  Undo delete", "Ctrl+T  Transcribe", "Ctrl+V  Paste a picture (Caption)",
            "Ctrl+1 … Ctrl+6  Switch panel", "Ctrl+,  Settings"]))

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open audio", "", AUDIO_FILTER)
        if path:
            self.show_in_spectrogram(path)

    def import_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Import recordings", "", AUDIO_FILTER)
        if paths:
            self.nav.setCurrentRow(self.PANELS.index("Record"))  # where the imports, or what failed, are shown
            self.record.import_files([Path(p) for p in paths])

    def show_in_spectrogram(self, path: str) -> None:
        self.nav.setCurrentRow(self.PANELS.index("Spectrogram"))
        self.spectrogram.open_file(path)

    def show_status(self, message: str) -> None:
        """A status message for 6 s, elided to the room left of the job bar (Qt draws a long one under it)."""
        bar = self.statusBar()
        room = bar.width() - (self.job_bar.width() + 24 if self.job_bar.isVisible() else 24)
        bar.showMessage(bar.fontMetrics().elidedText(message, Qt.ElideMiddle, max(80, room)), 6000)

    def _fit_screen(self) -> None:
        """1200 x 780 where there is room; on a small screen (1366 x 768) the whole window, status bar included,
        stays on it: the title bar and a taskbar take about 40 px."""
        screen = QGuiApplication.primaryScreen()
        room = screen.availableGeometry() if screen is not None else None
        width, height = 1200, 780
        if room is not None:
            width, height = min(width, room.width()), min(height, room.height() - 40)
        self.resize(width, max(560, height))

    def show_in_transcribe(self, path: str) -> None:
        self.nav.setCurrentRow(self.PANELS.index("Transcribe"))
        self.transcribe.open_file(path)

    def show_in_codec(self, path: str) -> None:
        self.nav.setCurrentRow(self.PANELS.index("Codec"))
        self.codec.open_file(path)

    def show_in_voice(self, path: str) -> None:
        self.nav.setCurrentRow(self.PANELS.index("Voice"))
        self.voice.enroll_file(path)

    def show_attention(self, amap: object) -> None:
        self.nav.setCurrentRow(self.PANELS.index("Spectrogram"))
        self.spectrogram.show_attention(amap, str(self.transcribe.path))

    def on_files_dropped(self, paths: list[Path]) -> None:
        """Dropped on the window outside a panel that takes files: open in the panel on screen."""
        if self.stack.currentWidget() is self.record:
            self.record.import_files(paths)
        elif self.stack.currentWidget() is self.transcribe:
            self.transcribe.open_file(str(paths[0]))
        elif self.stack.currentWidget() is self.codec:
            self.codec.open_file(str(paths[0]))
        elif self.stack.currentWidget() is self.caption:
            self.caption.open_files(paths)
        else:
            self.spectrogram.open_file(str(paths[0]))

    def open_settings(self) -> None:
        dlg = SettingsDialog(self.settings, self)
        if dlg.exec() == QDialog.Accepted:
            dlg.save()
            self.set_theme(self.settings.theme)
            self.worker.set_device(self.settings.compute_device)

    def set_theme(self, theme: str) -> None:
        self.settings.theme = theme
        apply_theme(QApplication.instance(), theme)
        for plot in self.findChildren(pg.PlotWidget):  # every panel's plots, the Voice panel's included
            plot.setBackground(QApplication.instance().palette().base().color())

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.record.shutdown()
        self.spectrogram.shutdown()
        self.transcribe.shutdown()
        self.caption.shutdown()
        self.codec.shutdown()
        self.voice.shutdown()
        self.worker.shutdown()
        super().closeEvent(event)
