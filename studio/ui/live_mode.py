"""Live mode of the Transcribe panel: record from the input device and transcribe while it records (the panel
mixes this in; it owns the table, the buttons and the worker)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont

from studio.audio.devices import find_device
from studio.audio.library import Library
from studio.audio.recorder import Recorder
from studio.engine.asr.live import LiveFeed, LiveUpdate
from studio.engine.asr.result import Transcript
from studio.errors import StudioError
from studio.ui.off_thread import JOIN_AT_CLOSE_S, call_off_ui
from studio.ui.widgets import fmt_time
from studio.worker.errors import ErrorReport
from studio.worker.jobs import Job

LIVE_STEP = Job("studio.engine.asr.jobs", "live_step_job")


class LiveMode:
    """Methods of the Transcribe panel for live transcription."""

    def toggle_live(self) -> None:
        if self.recorder is None:
            self.start_live()
        else:
            self.stop_live()

    def start_live(self) -> None:
        if self._job or self._live_job or self._stopping is not None or self.live is not None:
            return  # a job, or the last live session still finishing
        key = self.settings.input_device
        device = find_device(key) if key else None
        rec = Recorder(Library(self.settings.recordings_folder).new_path("live"), device)
        try:
            rec.start()
        except StudioError as e:
            self.error.emit(e.message, e.remedy)
            return
        self.player.stop()
        self.recorder, self._live_path = rec, str(rec.path)
        self.error.emit("", "")  # a new session: the banner of an earlier one's failure goes
        lang = self.language.currentData()
        self.live = LiveFeed(rec.samplerate, language=None if lang == "auto" else lang,
                             task=self.task.currentData())
        self._model_key = self.model.currentData()
        self.segments, self.transcript, self._partial = [], None, False
        self.table.setRowCount(0)
        self._set_has_transcript(False)
        self.live_btn.setText("■ Stop live")
        self.run_btn.setEnabled(False)
        self.file_label.setText(f"<b>Live</b> — recording to {rec.path.name}")
        self.status.emit(f"Live transcription; recording to {rec.path}")

    def stop_live(self) -> None:
        rec, self.recorder = self.recorder, None
        if rec is None or self.live is None:
            return
        self.live_btn.setText("● Live")
        self.live_btn.setEnabled(False)  # until the last step is in
        self._stopping = call_off_ui(self, rec.stop, lambda path: self._live_stopped(rec, path),
                                     "live-recorder-stop")

    def _live_stopped(self, rec: Recorder, path: Path) -> None:
        self._stopping = None
        feed = self.live
        if feed is None:  # the session failed while the stream closed: _live_failed has ended it
            return
        if rec.frames_written == 0 and not rec.error:  # stopped before the first sound: no recording to keep
            self.live = None
            path.unlink(missing_ok=True)  # the studio's own empty file, never a user's
            self.live_btn.setEnabled(True)
            self.run_btn.setEnabled(True)
            self.file_label.setText(self.OPEN_HINT)
            self.status.emit("Live stopped before any sound arrived from the input: nothing was recorded.")
            return
        feed.push(rec.read_new())
        self._live_job = self.worker.submit(
            LIVE_STEP, feed, feed.take(), self._model_key, True, self.settings.cache_folder,
            name="Finishing live transcript",
            on_result=lambda u: self._live_finished(u, str(path)), on_error=self._live_failed)

    def _live_pump(self) -> None:
        """Feed the recorder's new samples to the session; keep one decoding step in flight."""
        rec, feed = self.recorder, self.live
        if rec is None or feed is None:
            return
        feed.push(rec.read_new())
        if rec.error:
            self.error.emit(rec.error, "The audio recorded before the problem is kept in the file.")
            self.stop_live()
            return
        if not self._live_job and feed.has_new_audio():
            self._live_job = self.worker.submit(LIVE_STEP, feed, feed.take(), self._model_key, False,
                                                self.settings.cache_folder, name="Live transcription",
                                                on_result=self._live_update, on_error=self._live_failed)

    def _live_update(self, update: LiveUpdate) -> None:
        self._live_job = 0
        self.segments = list(update.final)
        self._filling = True
        self.table.setRowCount(0)
        for seg in update.final:
            self._append_row(seg)
        grey = QColor(self.palette().placeholderText().color())
        italic = QFont(self.table.font())
        italic.setItalic(True)
        for seg in update.tentative:  # the current guess: shown, not yet final
            self._append_row(seg)
            for col in range(3):
                item = self.table.item(self.table.rowCount() - 1, col)
                item.setForeground(grey)
                item.setFont(italic)
                item.setFlags(item.flags() & ~Qt.ItemIsEditable)
        self._filling = False
        self.table.scrollToBottom()
        self.progress_label.setText(f"Live: {fmt_time(update.audio_seconds)} heard")

    def _live_finished(self, update: LiveUpdate, path: str) -> None:
        self._live_job = 0
        self.live = None
        self.live_btn.setEnabled(True)
        self.run_btn.setEnabled(True)
        if not self.open_file(path):
            return
        self.transcript = Transcript(path, self._model_key, update.language or "en", update.task, self.duration,
                                     list(update.final))
        self.segments = self.transcript.segments
        self._filling = True
        self.table.setRowCount(0)
        for seg in self.segments:
            self._append_row(seg)
        self._filling = False
        self._set_has_transcript(bool(self.segments))
        self.transcript_ready.emit(self.transcript)
        self.progress_label.setText(f"Live transcript of {Path(path).name}: {len(self.segments)} segments")

    def _live_failed(self, report: ErrorReport) -> None:
        """Live mode ends; the recording, saved as it was made, opens in the panel so Transcribe gives its text
        (the rows heard so far, some of them guesses, go with the session)."""
        self._live_job = 0
        if self.recorder is not None:
            self.recorder.stop()
            self.recorder = None
        if self._stopping is not None:  # the file opens below: let the stop that is under way close it first
            self._stopping.join(JOIN_AT_CLOSE_S)
        self.live = None
        self.live_btn.setText("● Live")
        self.live_btn.setEnabled(True)
        self.run_btn.setEnabled(True)
        remedy = report.remedy
        if self.open_file(self._live_path):
            remedy = f"The recording is saved as {Path(self._live_path).name} and open here: press Transcribe."
        self.error.emit(report.message, remedy)
