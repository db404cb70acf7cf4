"""Transcribe panel: file or recording in, segments with timestamps out (editable, playable, exportable)."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.audio.player import Player
from studio.audio.recorder import Recorder
from studio.engine.asr import export
from studio.engine.asr.live import LiveFeed
from studio.engine.asr.options import TranscribeOptions
from studio.engine.asr.result import Segment, Transcript
from studio.engine.asr.tokenizer import LANGUAGES
from studio.errors import StudioError
from studio.hub.local_import import ImportedModel
from studio.outputs import check_output, describe_os_error
from studio.ui.import_weights import add_model_entry, fill_picker, import_entry_taken
from studio.ui.live_mode import LiveMode
from studio.ui.off_thread import JOIN_AT_CLOSE_S
from studio.ui.settings import AppSettings
from studio.ui.widgets import AudioFilePanel, PanelJob, button, fmt_time
from studio.worker.errors import ErrorReport
from studio.worker.jobs import Job
from studio.worker.qt import QtWorker

MODELS = [("tiny.en (built in, English)", "tiny.en"), ("base.en", "base.en"), ("small.en", "small.en"),
          ("tiny (99 languages)", "tiny"), ("base", "base"), ("small", "small"), ("medium", "medium"),
          ("large-v3", "large-v3"), ("turbo (large-v3-turbo)", "turbo")]


TRANSCRIBE = Job("studio.engine.asr.jobs", "transcribe_job")
ATTENTION = Job("studio.engine.asr.jobs", "attention_job")


class TranscribePanel(PanelJob, LiveMode, AudioFilePanel, QWidget):
    OPEN_HINT = "Open or drop an audio file, or pick a recording in the Record panel."
    error = Signal(str, str)  # an empty message clears the window's error banner
    status = Signal(str)
    segment_ready = Signal(object)  # a segment the running job decoded (on the UI thread)
    attention_ready = Signal(object)  # AttentionMap for the Spectrogram & Attention panel
    transcript_ready = Signal(object)
    import_requested = Signal()  # the picker's "Import local weights…" entry

    COLUMNS = ("Start", "End", "Text")

    def __init__(self, worker: QtWorker, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.worker, self.settings = worker, settings
        self.path: Path | None = None
        self.duration = 0.0
        self.transcript: Transcript | None = None
        self.segments: list[Segment] = []
        self.player = Player()
        self._job = 0
        self._attention_job = 0
        self._model_key = "tiny.en"
        self._partial = False  # the transcript shown was cut short by a cancel: exports say so
        self._filling = False
        self.recorder: Recorder | None = None
        self.live: LiveFeed | None = None
        self._live_job = 0
        self._stopping: threading.Thread | None = None  # the live recorder closing its stream and file
        self._live_path = ""  # the recording of the live session
        self._build()
        self.segment_ready.connect(self._add_segment)
        self.worker.progress.connect(self._progress)
        self._tick_timer = self.start_ticker(50)

    # ---- layout -------------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.file_label = QLabel(self.OPEN_HINT)
        self.model = QComboBox()
        for label, key in MODELS:
            self.model.addItem(label, key)
        fill_picker(self.model, self.settings.cache_folder, "whisper")  # earlier imports, then "Import local…"
        self._model_index = 0
        self.language = QComboBox()
        self.language.addItem("Detect language", "auto")
        for code, name in LANGUAGES.items():
            self.language.addItem(f"{name.title()} ({code})", code)
        self.task = QComboBox()
        self.task.addItem("Transcribe", "transcribe")
        self.task.addItem("Translate to English", "translate")
        self.model.currentIndexChanged.connect(self._model_changed)
        self._model_changed(0)
        self.words = QCheckBox("Word timestamps")
        self.prompt = QLineEdit()
        self.prompt.setPlaceholderText("Prompt: names, spellings, style (optional)")
        self.prompt.setToolTip("Text the model sees as if it came before the audio: helps with names and jargon")
        self.vad = QCheckBox("Skip silence (VAD)")
        self.vad.setToolTip("Silero voice-activity filter: the cure for invented lines during long silences")
        self.run_btn = button("Transcribe", "Transcribe the file (Ctrl+T)", self.start)
        self.run_btn.setDefault(True)
        self.cancel_btn = button("Cancel", "Stop transcribing; the segments so far stay", self.cancel)
        self.cancel_btn.setEnabled(False)
        self.live_btn = button("● Live", "Transcribe from the microphone while recording (the recording is kept "
                               "in the library); press again to stop", self.toggle_live)
        top = QHBoxLayout()
        top.addWidget(button("Open…", "Open an audio file", self.choose_file))
        top.addWidget(self.file_label, 1)
        opts = QHBoxLayout()
        for w in (QLabel("Model"), self.model, QLabel("Language"), self.language, self.task, self.words, self.vad):
            opts.addWidget(w)
        opts.addStretch(1)
        opts.addWidget(self.run_btn)
        opts.addWidget(self.cancel_btn)
        opts.addWidget(self.live_btn)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setFormat("%p%")
        self.progress_label = QLabel("")
        top.addWidget(self.prompt, 1)
        prog = QHBoxLayout()
        prog.addWidget(self.bar, 1)
        prog.addWidget(self.progress_label)

        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QTableWidget.SelectRows)
        self.table.setWordWrap(True)
        self.table.cellClicked.connect(self._clicked)
        self.table.itemChanged.connect(self._edited)
        self.summary = QLabel("")
        bottom = QHBoxLayout()
        bottom.addWidget(self.summary, 1)
        self.play_btn = button("▶ Play", "Play from the selected segment", self.toggle_play)
        self.attention_btn = button("Attention", "Show what each token of the selected segment attended to",
                                    self.show_attention)
        bottom.addWidget(self.play_btn)
        bottom.addWidget(self.attention_btn)
        self.export_buttons = []
        for fmt in export.FORMATS:
            b = button(f"Export {fmt.upper()}", f"Save the transcript as .{fmt}", lambda f=fmt: self.export_dialog(f))
            self.export_buttons.append(b)
            bottom.addWidget(b)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addLayout(opts)
        lay.addLayout(prog)
        lay.addWidget(self.table, 1)
        lay.addLayout(bottom)
        self._set_has_transcript(False)

    def _set_has_transcript(self, has: bool) -> None:
        for b in [self.attention_btn, *self.export_buttons]:
            b.setEnabled(has)

    # ---- input ------------------------------------------------------------------------------------------
    def open_file(self, path: str) -> bool:
        """Open a file to transcribe. A file that cannot be read changes nothing (the error says why); a good one
        replaces the previous file and its transcript together, so no transcript sits under another file's name."""
        info = self.probe_or_report(path)
        if info is None:
            return False
        if self._job:  # the running transcription belongs to the previous file: stop it, drop what it sends
            self.worker.cancel(self._job)
            self._end_job()
        self.player.stop()
        self.path, self.duration = info.path, info.duration
        self.segments, self.transcript, self._partial = [], None, False
        self.table.setRowCount(0)
        self._set_has_transcript(False)
        self.summary.setText("")
        self.bar.setValue(0)
        self.progress_label.setText("")
        self.file_label.setText(f"<b>{info.path.name}</b> — {fmt_time(info.duration)}")
        self.error.emit("", "")  # a good open clears the banner an earlier failure left
        self.status.emit(f"Ready to transcribe {info.path.name}")
        return True

    def _model_changed(self, index: int) -> None:
        if import_entry_taken(self.model, self._model_index):  # the dialog opens; the pick stays as it was
            self.import_requested.emit()
            return
        self._model_index = index
        english_only = str(self.model.currentData()).endswith(".en")
        if english_only:  # .en models know one language and no translation
            self.language.setCurrentIndex(self.language.findData("en"))
            self.task.setCurrentIndex(0)
        self.language.setEnabled(not english_only)
        self.task.setEnabled(not english_only)

    def add_imported(self, model: ImportedModel) -> None:
        """A model imported anywhere in the window: Whisper ones join this picker and are selected."""
        if model.kind == "whisper":
            add_model_entry(self.model, model, select=True)

    def options(self) -> TranscribeOptions:
        lang = self.language.currentData()
        return TranscribeOptions(language=None if lang == "auto" else lang, task=self.task.currentData(),
                                 word_timestamps=self.words.isChecked(), vad_filter=self.vad.isChecked(),
                                 initial_prompt=self.prompt.text().strip() or None)

    # ---- running ------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self.path is None:
            self.error.emit("No audio chosen.", "Open or drop an audio file first.")
            return
        if self._job:
            return
        self.segments = []
        self.transcript = None
        self._partial = False
        self.table.setRowCount(0)
        self._set_has_transcript(False)
        self.bar.setValue(0)
        self.run_btn.setEnabled(False)
        self.cancel_btn.setEnabled(True)
        model = self._model_key = self.model.currentData()
        self._job = self.worker.submit(TRANSCRIBE, str(self.path), model, self.options(),
                                       self.settings.cache_folder, name=f"Transcribing {self.path.name}",
                                       on_result=self._finished, on_error=self._failed,
                                       on_update=self.segment_ready.emit)
        self.worker.cancelled.connect(self._on_cancelled)

    def _add_segment(self, seg: Segment) -> None:
        if not self._job:
            return
        self.segments.append(seg)
        self._append_row(seg)
        self.table.scrollToBottom()

    def _append_row(self, seg: Segment) -> None:
        self._filling = True
        row = self.table.rowCount()
        self.table.insertRow(row)
        for col, text in enumerate((fmt_time(seg.start), fmt_time(seg.end), seg.text.strip())):
            item = QTableWidgetItem(text)
            if col < 2:
                item.setFlags(item.flags() & ~Qt.ItemIsEditable)
                item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
            if col == 2 and seg.words:
                item.setToolTip(" ".join(f"{w.text.strip()} [{w.start:.2f}–{w.end:.2f}]" for w in seg.words))
            self.table.setItem(row, col, item)
        self._filling = False

    def _finished(self, transcript: Transcript) -> None:
        if not self._job:  # a job abandoned when another file was opened
            return
        self._end_job()
        self.transcript = transcript
        self.segments = transcript.segments
        self.table.setRowCount(0)
        for s in self.segments:
            self._append_row(s)
        self.bar.setValue(1000)
        words = sum(len(s.text.split()) for s in self.segments)
        lang = LANGUAGES.get(transcript.language, transcript.language).title()
        self.summary.setText(f"{len(self.segments)} segments, {words} words — {lang}, model {transcript.model}")
        if not self.segments:
            self.summary.setText("No speech found.")
        self._set_has_transcript(bool(self.segments))
        self.transcript_ready.emit(transcript)
        self.status.emit(f"Transcribed {Path(transcript.source).name}")

    def _failed(self, report: ErrorReport) -> None:
        if not self._job:  # a job abandoned when another file was opened
            return
        self._end_job()
        if self.segments:  # the model process died or the file broke off: what was decoded is kept, exportable
            self.bar.setValue(0)
            self.progress_label.setText(f"Stopped by an error — {len(self.segments)} segments kept")
            self._keep_partial(None)
        self.error.emit(report.message, report.remedy)

    def _on_cancelled(self, job_id: int, partial: object = None) -> None:
        if job_id != self._job:
            return
        self._end_job()
        self.progress_label.setText(f"Cancelled — {len(self.segments)} segments kept")
        self._keep_partial(partial)

    def _keep_partial(self, partial: object) -> None:
        if self.segments and self.path is not None:  # what was decoded stays usable, in its language and task
            options = self.options()
            language, task = options.language or "", options.task
            if isinstance(partial, Transcript):
                language, task = partial.language, partial.task
            self.transcript = Transcript(str(self.path), self._model_key, language, task, self.duration,
                                         list(self.segments))
            self._partial = True
            self._set_has_transcript(True)

    def _end_job(self) -> None:
        self._job = 0
        self.run_btn.setEnabled(True)
        self.cancel_btn.setEnabled(False)
        try:
            self.worker.cancelled.disconnect(self._on_cancelled)
        except (RuntimeError, TypeError):
            pass

    # ---- editing, playback, export ------------------------------------------------------------------------
    def _edited(self, item: QTableWidgetItem) -> None:
        if self._filling or item.column() != 2 or item.row() >= len(self.segments):
            return
        text = item.text().strip()
        seg = self.segments[item.row()]
        self.segments[item.row()] = replace(seg, text=" " + text, words=[] if text != seg.text.strip() else seg.words)
        if self.transcript is not None:
            self.transcript.segments = self.segments

    def _clicked(self, row: int, col: int) -> None:
        if col < 2 and row < len(self.segments):
            self.play_from(self.segments[row].start)

    def play_from(self, seconds: float, end: float | None = None) -> None:
        self.play_range(seconds, end)

    def toggle_play(self) -> None:
        if self.player.playing:
            self.player.pause()
            self.play_btn.setText("▶ Play")
            return
        row = max(0, self.table.currentRow())
        self.play_from(self.segments[row].start if row < len(self.segments) else 0.0)

    def _tick(self) -> None:
        self._live_pump()
        if self.player.path is None:
            return
        if not self.player.playing and self.play_btn.text().startswith("❚❚"):
            self.play_btn.setText("▶ Play")
        pos = self.player.position
        for i, s in enumerate(self.segments):  # follow playback in the list
            if s.start <= pos < s.end and self.table.currentRow() != i and self.player.playing:
                self.table.selectRow(i)
                break

    def export_dialog(self, fmt: str) -> None:
        if self.transcript is None:
            return
        default = str(Path(self.transcript.source or "transcript").with_suffix(f".{fmt}"))
        path, _ = QFileDialog.getSaveFileName(self, f"Export {fmt.upper()}", default, f"{fmt.upper()} (*.{fmt})")
        if path:
            self.export_to(fmt, path)

    def export_to(self, fmt: str, path: str) -> None:
        """Save the transcript (atomically; never over the audio it came from); a failure is a message."""
        if self.transcript is None:
            return
        if not Path(path).suffix:  # "notes" typed in the dialog means notes.srt
            path += f".{fmt}"
        try:
            check_output(path, [self.transcript.source] if self.transcript.source else [], [f".{fmt}"])
            export.write(self.transcript, fmt, path, partial=self._partial)
            self.status.emit(f"Saved {path}")
        except StudioError as e:
            self.error.emit(e.message, e.remedy)
        except OSError as e:
            err = describe_os_error(e, path)
            self.error.emit(err.message, err.remedy)

    def show_attention(self) -> None:
        """Cross-attention for the 30 s window starting at the selected segment, computed on the worker."""
        if self.transcript is None or not self.segments or self.path is None:
            return
        row = max(0, self.table.currentRow())
        self.attention_at(self.segments[row].start)

    def attention_at(self, seconds: float) -> None:
        """Cross-attention for the window starting with the segment under `seconds` (the part of a long file the
        user is looking at): only that window's attention is ever computed."""
        if self.transcript is None or not self.segments or self.path is None:
            return
        first = next((s for s in self.segments if s.end > seconds), self.segments[-1])
        start = first.start
        window = [s for s in self.segments if s.start >= start and s.end <= start + 30.0] or [first]
        if self._attention_job:
            self.worker.cancel(self._attention_job)
        self._attention_job = self.worker.submit(
            ATTENTION, str(self.path), self._model_key, start, window, self.transcript.language or "en",
            self.transcript.task, self.settings.cache_folder, name="Cross-attention",
            on_result=self._attention_done, on_error=self._failed_attention)

    def _attention_done(self, amap: object) -> None:
        self._attention_job = 0
        self.attention_ready.emit(amap)

    def _failed_attention(self, report: ErrorReport) -> None:
        self._attention_job = 0
        self.error.emit(report.message, report.remedy)

    def shutdown(self) -> None:
        if self.recorder is not None:
            self.recorder.stop()  # the file on disk stays complete
            self.recorder = None
        if self._stopping is not None:
            self._stopping.join(JOIN_AT_CLOSE_S)  # bounded, as the Record panel's
        self.player.stop()
