"""The voices library of the Voice panel: enrolled voices and imported VALL-E X presets, to pick one for speaking,
listen to its prompt, rename, delete (with undo) or enroll a new one (the enrollment view takes the place of the
list until the voice is saved or given up)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.audio.player import Player
from studio.engine.clone.voices import Voice, VoiceLibrary
from studio.errors import StudioError
from studio.ui.enroll_view import LANGUAGE_NAMES, EnrollView
from studio.ui.prompt_check_view import LOOK, shrinkable
from studio.ui.settings import AppSettings
from studio.ui.widgets import AUDIO_FILTER, button
from studio.worker.errors import ErrorReport
from studio.worker.jobs import Job
from studio.worker.qt import QtWorker

PRESET_FILTER = "VALL-E X presets and voices (*.npz);;All files (*)"


DECODE = Job("studio.engine.clone.jobs", "decode_saved_voice_job")
UNAVAILABLE = Job("studio.engine.clone.jobs", "unavailable_languages")


class _DeleteVoice(QUndoCommand):
    """A delete already done (the voice is in the library's trash). Undo restores it; a failure there is a message
    and the command leaves the stack, as nothing is left to undo."""

    def __init__(self, view: VoicesView, voice: Voice, trashed: Path) -> None:
        super().__init__(f"Delete voice {voice.name}")
        self.view, self.voice, self.trashed = view, voice, trashed
        self._first = True  # push() calls redo(): the delete has happened

    def redo(self) -> None:
        if self._first:
            self._first = False
            return
        try:
            self.trashed = self.view.library.delete(self.voice.path or "")
        except StudioError as e:
            self._failed(e)
            return
        self.view.refresh()
        self.view.voices_changed.emit()

    def undo(self) -> None:
        try:
            restored = self.view.library.restore(self.trashed)
        except StudioError as e:
            self._failed(e)
            return
        self.voice = restored
        self.view.refresh(select=restored.path)
        self.view.voices_changed.emit()
        self.view.status.emit(f"Restored the voice {restored.name}")

    def _failed(self, e: StudioError) -> None:
        self.setObsolete(True)
        self.view.error.emit(e.message, e.remedy)
        self.view.refresh()


class VoicesView(QWidget):
    voice_selected = Signal(str)  # the chosen voice's file; "" when none is selected
    voices_changed = Signal()  # added, imported, renamed, deleted or restored
    error = Signal(str, str)  # an empty message clears the window's error banner
    status = Signal(str)

    def __init__(self, worker: QtWorker, settings: AppSettings, undo: QUndoStack | None = None,
                 folder: str | Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.worker, self.settings = worker, settings
        self.undo = undo if undo is not None else QUndoStack(self)
        self.library = VoiceLibrary(folder)
        self.player = Player()
        self._voices: list[Voice] = []
        self._decoded: dict[tuple[str, int], str] = {}  # (voice file, its mtime) -> decoded WAV
        self._play_job = 0
        self._selected = ""
        self._out_dir = Path(tempfile.mkdtemp(prefix="voice-studio-voices-"))
        self.enroll = EnrollView(worker, settings, self.library.folder)
        self._build()
        self.enroll.saved.connect(self._enrolled)
        self.enroll.closed.connect(lambda: self.pages.setCurrentIndex(0))
        self.enroll.error.connect(self.error)
        self.enroll.status.connect(self.status)
        self._timer = QTimer(self, interval=100)  # type: ignore[call-overload]
        self._timer.timeout.connect(self._tick)
        self._timer.start()
        self.refresh()
        worker.submit(UNAVAILABLE, name="Checking the phoneme languages", on_result=self.enroll.set_unavailable)

    @property
    def codec(self) -> str:
        """The EnCodec 24 kHz model that decodes voices and encodes new ones (name, Hub repo or local file)."""
        return self.enroll.codec

    @codec.setter
    def codec(self, value: str) -> None:
        self.enroll.codec = value
        self._decoded.clear()

    # ---- layout
    def _build(self) -> None:
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Name", "Language", "Length"])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
        for col in (1, 2):
            self.table.horizontalHeader().setSectionResizeMode(col, QHeaderView.ResizeToContents)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditKeyPressed)  # F2 renames; a double-click plays
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.itemChanged.connect(self._renamed)
        self.table.itemDoubleClicked.connect(lambda _item: self.toggle_play())
        self.details = QLabel("")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.play_btn = button("▶ Play", "Play the voice's prompt (double-click a voice)", self.toggle_play)
        self.rename_btn = button("Rename", "Rename the voice (F2)", self.rename_selected)
        self.delete_btn = button("Delete", "Move the voice to the trash; Undo brings it back", self.delete_selected)
        self.undo_btn = button("Undo", "Undo the last delete (Ctrl+Z)", self.undo.undo)
        self.undo.canUndoChanged.connect(self.undo_btn.setEnabled)
        self.undo_btn.setEnabled(self.undo.canUndo())
        row = QHBoxLayout()
        for w in (self.play_btn, self.rename_btn, self.delete_btn, self.undo_btn):
            row.addWidget(w)
        row.addStretch(1)
        add = QHBoxLayout()
        add.addWidget(button("Enroll voice…", "Make a voice from 3–10 s of one person speaking", self.choose_audio))
        add.addWidget(button("Import preset…", "Add a VALL-E X preset (.npz) or a voice file", self.choose_presets))
        add.addStretch(1)
        self.skipped = shrinkable(QLabel(""))  # file names: never wider than the panel
        self.skipped.setStyleSheet(f"color: {LOOK};")
        self.skipped.hide()
        library = QWidget()
        lay = QVBoxLayout(library)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel("<b>Voices</b>"))
        lay.addLayout(add)
        lay.addWidget(self.table, 1)
        lay.addLayout(row)
        lay.addWidget(self.details)
        lay.addWidget(self.skipped)
        self.pages = QStackedWidget()
        self.pages.addWidget(library)
        self.pages.addWidget(self.enroll)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.pages)

    # ---- the list
    def voices(self) -> list[Voice]:
        return list(self._voices)

    def refresh(self, select: str | None = None) -> None:
        """Read the folder again; keep the selection (or select `select`)."""
        keep = select or self.selected_path()
        try:  # a folder removed meanwhile holds no voices
            self._voices = self.library.voices() if self.library.folder.exists() else []
        except StudioError as e:
            self._voices = []
            self.error.emit(e.message, e.remedy)
        self.table.blockSignals(True)
        self.table.setRowCount(0)
        chosen = -1
        for row, v in enumerate(self._voices):
            self.table.insertRow(row)
            name = QTableWidgetItem(v.name)
            name.setData(Qt.UserRole, v.path)
            name.setToolTip(v.path or "")
            lang = QTableWidgetItem(LANGUAGE_NAMES.get(v.language, v.language))
            length = QTableWidgetItem(f"{v.duration:.1f} s")
            for item in (lang, length):
                item.setFlags(item.flags() & ~Qt.ItemIsEditable)
            for col, item in enumerate((name, lang, length)):
                self.table.setItem(row, col, item)
            if keep is not None and v.path is not None and Path(v.path) == Path(keep):
                chosen = row
        if chosen >= 0:
            self.table.selectRow(chosen)
        self.table.blockSignals(False)
        self._show_skipped()
        self._selection_changed()

    def _show_skipped(self) -> None:
        skipped = self.library.skipped
        if not skipped:
            self.skipped.hide()
            return
        lines = [f"{p.name}: {why}" for p, why in skipped]
        self.skipped.setText(f"Skipped {len(lines)} unreadable file{'s' if len(lines) > 1 else ''}: "
                             + "; ".join(lines[:3]) + (f"; and {len(lines) - 3} more" if len(lines) > 3 else ""))
        self.skipped.setToolTip("\n".join(lines))
        self.skipped.show()

    def selected_path(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return self.table.item(rows[0].row(), 0).data(Qt.UserRole) if rows else None

    def selected_voice(self) -> Voice | None:
        path = self.selected_path()
        return next((v for v in self._voices if v.path == path), None)

    def select(self, path: str) -> None:
        self.refresh(select=path)

    @property
    def library_shown(self) -> bool:
        """False while the enrollment page covers the list: keys and actions for the list do nothing then."""
        return self.pages.currentIndex() == 0

    def _gone(self, voice: Voice) -> bool:
        """True (with a message, and the list read again) when the voice's file was removed outside Voice Studio."""
        if voice.path is None or Path(voice.path).is_file():
            return False
        self.error.emit(f"'{voice.name}' is no longer in the voices folder (removed outside Voice Studio).",
                        "The list now shows the voices that are there.")
        self.refresh()
        self.voices_changed.emit()
        return True

    def _selection_changed(self) -> None:
        voice = self.selected_voice()
        if voice is not None and voice.path is not None and not Path(voice.path).is_file():
            # later, not inside the table's own signal; once, however often the selection moved meanwhile
            QTimer.singleShot(0, lambda: any(v is voice for v in self._voices) and self._gone(voice))
        for b in (self.play_btn, self.rename_btn, self.delete_btn):
            b.setEnabled(voice is not None)
        if voice is None:
            self.details.setText("Enroll a voice from a recording, or import a VALL-E X preset.")
        else:
            text = voice.prompt_text or "(a preset without its transcript)"
            self.details.setText(f"<i>“{text}”</i><br>{voice.duration:.1f} s prompt, {len(voice.text_tokens)} "
                                 f"phonemes, {len(voice.audio_tokens)} frames")
        path = (voice.path or "") if voice is not None else ""
        if path != self._selected:  # the Speak side reloads only when the choice changes
            self._selected = path
            self.voice_selected.emit(path)

    # ---- rename, delete, import
    def rename_selected(self) -> None:
        voice = self.selected_voice()
        if not self.library_shown or voice is None or self._gone(voice):
            return
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self.table.editItem(self.table.item(rows[0].row(), 0))

    def _renamed(self, item: QTableWidgetItem) -> None:
        path = item.data(Qt.UserRole)
        old = next((v for v in self._voices if v.path == path), None)
        if old is None or item.text() == old.name:
            return
        if self._gone(old):
            return
        try:
            if self.player.path is not None and str(self.player.path) == path:
                self.player.stop()
            voice = self.library.rename(path, item.text())
        except StudioError as e:
            self.error.emit(e.message, e.remedy)
            self.refresh(select=path)
            return
        self.refresh(select=voice.path)
        self.voices_changed.emit()
        self.status.emit(f"Renamed {old.name} to {voice.name}")

    def delete_selected(self) -> None:
        voice = self.selected_voice()
        if not self.library_shown or voice is None or voice.path is None or self._gone(voice):
            return
        self.player.stop()
        try:
            trashed = self.library.delete(voice.path)
        except StudioError as e:
            self.error.emit(e.message, e.remedy)
            return
        self.undo.push(_DeleteVoice(self, voice, trashed))
        self.refresh()
        self.voices_changed.emit()
        self.status.emit(f"Deleted the voice {voice.name} — Undo (Ctrl+Z) brings it back")

    def choose_presets(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Import VALL-E X presets", "", PRESET_FILTER)
        if paths:
            self.import_presets(paths)

    def import_presets(self, paths: list[str]) -> None:
        """Copy checked presets into the library; a file that is not one is named in the banner, never copied."""
        last = None
        for p in paths:
            try:
                last = self.library.import_preset(p)
            except StudioError as e:
                self.error.emit(e.message, e.remedy)
        if last is not None:
            self.refresh(select=last.path)
            self.voices_changed.emit()
            self.status.emit(f"Imported the voice {last.name}")

    # ---- enrollment
    def choose_audio(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Enroll a voice from a recording", "", AUDIO_FILTER)
        if path:
            self.enroll_file(path)

    def enroll_file(self, path: str, language: str | None = None) -> None:
        """Show the enrollment of the recording at `path` (the Record panel sends its recordings here)."""
        self.player.stop()
        self.pages.setCurrentIndex(1)
        self.enroll.start(path, language)

    def _enrolled(self, voice: Voice) -> None:
        """A saved voice is listed and selected; the page turns back on `closed`, not when a save finishes behind
        a newer enrollment."""
        self.refresh(select=voice.path)
        self.voices_changed.emit()

    # ---- listening
    def toggle_play(self) -> None:
        voice = self.selected_voice()
        if voice is None or voice.path is None:
            return
        if self.player.playing:
            self.player.stop()
            self.play_btn.setText("▶ Play")
            return
        try:
            key = (voice.path, Path(voice.path).stat().st_mtime_ns)
        except OSError:
            self._gone(voice)
            return
        if key in self._decoded:
            self._play(self._decoded[key])
            return
        out = str(self._out_dir / f"voice-{len(self._decoded)}-{Path(voice.path).stem[:40]}.wav")
        if self._play_job:
            self.worker.cancel(self._play_job)
        self.play_btn.setText("Decoding…")
        self._play_job = self.worker.submit(
            DECODE, voice, out, self.codec, self.settings.cache_folder, name=f"Decoding the voice {voice.name}",
            on_result=lambda wav: self._decoded_voice(key, wav), on_error=self._decode_failed)

    def _decoded_voice(self, key: tuple[str, int], wav: str) -> None:
        self._play_job = 0
        self._decoded[key] = wav
        if self.selected_path() == key[0]:
            self._play(wav)
        else:
            self.play_btn.setText("▶ Play")

    def _decode_failed(self, report: ErrorReport) -> None:
        self._play_job = 0
        self.play_btn.setText("▶ Play")
        self.error.emit(report.message, report.remedy)

    def _play(self, wav: str) -> None:
        try:
            self.player.play(wav)
            self.play_btn.setText("■ Stop")
        except StudioError as e:
            self.play_btn.setText("▶ Play")
            self.error.emit(e.message, e.remedy)

    def _tick(self) -> None:
        if not self.player.playing and self.play_btn.text() == "■ Stop":
            self.play_btn.setText("▶ Play")

    def shutdown(self) -> None:
        self.player.stop()
        self.enroll.shutdown()
        shutil.rmtree(self._out_dir, ignore_errors=True)  # decoded prompts are only for listening
