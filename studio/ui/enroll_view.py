"""Enrolling a voice, in two steps: the prompt is checked, transcribed and encoded on the worker and shown (what
the check found, the transcript to correct, the codes with first-k playback); "Save voice" then stores it with the
user's text. Nothing is saved until then, and the recording itself is only read."""

from __future__ import annotations

import shutil
import tempfile
from html import escape
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from studio.audio.player import Player
from studio.engine.clone.enroll import EnrollmentPreview, listing
from studio.engine.clone.voices import FRAME_RATE, MAX_NAME, Voice
from studio.engine.waveform import Envelope
from studio.errors import StudioError
from studio.ui.prompt_check_view import BAD, LOOK, CheckFacts, PromptWaveform, elide, shrinkable
from studio.ui.settings import AppSettings
from studio.ui.token_grid import TokenGrid
from studio.ui.widgets import button
from studio.worker.errors import ErrorReport
from studio.worker.jobs import Job
from studio.worker.qt import QtWorker

LANGUAGE_NAMES = {"en": "English", "zh": "Chinese", "ja": "Japanese"}
IDS_DELAY_MS = 300  # phonemes are shown once typing pauses
TITLE_CHARS = 40  # of a file name in the title: a long one must not widen the window


PREVIEW = Job("studio.engine.clone.jobs", "preview_with_envelope_job")
PHONEMES = Job("studio.engine.clone.jobs", "phonemes_job")
SAVE = Job("studio.engine.clone.jobs", "save_enrollment_job")
DECODE = Job("studio.engine.clone.jobs", "decode_preview_job")


def _column(*items: QWidget | QLayout) -> QWidget:
    box = QWidget()
    lay = QVBoxLayout(box)
    lay.setContentsMargins(0, 0, 0, 0)
    for item in items:
        lay.addLayout(item) if isinstance(item, QLayout) else lay.addWidget(item)
    return box


class EnrollView(QWidget):
    saved = Signal(object)  # the saved Voice (with its path)
    closed = Signal()  # saved or given up: back to the library
    error = Signal(str, str)
    status = Signal(str)

    def __init__(self, worker: QtWorker, settings: AppSettings, library_folder: str | Path,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.worker, self.settings, self.library_folder = worker, settings, str(library_folder)
        self.codec = "24khz"  # EnCodec 24 kHz: a name, Hub repo or local file (tests use a random one)
        self.asr_model: str | None = None  # None: tiny.en for English, a multilingual model otherwise
        self.path: str | None = None
        self.preview: EnrollmentPreview | None = None
        self.reconstructions: dict[int, str] = {}  # k -> WAV of the first k codebooks of this preview
        self.player = Player()
        self._job = self._decode_job = 0  # the check (cancelled when another starts), a decode for listening
        self._save_job = 0  # never cancelled: the voice may be written already
        self._gen = 0  # bumped per recording and per transcription: late results of older ones are dropped
        self._out_dir = Path(tempfile.mkdtemp(prefix="voice-studio-enroll-"))
        self._ids_timer = QTimer(self, singleShot=True, interval=IDS_DELAY_MS)  # type: ignore[call-overload]
        self._ids_timer.timeout.connect(self._update_ids)
        self._build()
        worker.progress.connect(self._progress)
        worker.cancelled.connect(self._cancelled)
        self._set_ready(False)

    # ---- layout
    def _build(self) -> None:
        self.title = shrinkable(QLabel("<b>Enroll a voice</b>"))
        self.cancel_btn = button("Cancel", "Stop checking the recording", self.cancel)
        self.back_btn = button("← Voices", "Back to the voices library; nothing is saved", self.discard)
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.cancel_btn)
        head.addWidget(self.back_btn)
        self.message = shrinkable(QLabel(""))
        self.message.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.waveform = PromptWaveform()
        self.facts = CheckFacts()

        self.name = QLineEdit()
        self.name.setMaxLength(MAX_NAME)
        self.name.setPlaceholderText("A name for the voice")
        self.name.textChanged.connect(lambda _: self._update_save())
        self.language = QComboBox()
        for code, label in LANGUAGE_NAMES.items():
            self.language.addItem(label, code)
        self.language.currentIndexChanged.connect(self._language_changed)
        self.again_btn = button("Transcribe again", "Recognise the words again in the chosen language",
                                self.transcribe_again)
        lang_row = QHBoxLayout()
        lang_row.addWidget(self.language, 1)
        lang_row.addWidget(self.again_btn)
        self.language.setMinimumContentsLength(6)  # the combo shrinks, the form stays within a narrow panel
        self.language.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.transcript = QPlainTextEdit()
        self.transcript.setPlaceholderText("What the recording says, word for word")
        self.transcript.setFixedHeight(60)
        self.transcript.setToolTip("Correct the words to exactly what is said: the model lines up these phonemes "
                                   "with the recording")
        self.transcript.textChanged.connect(self._text_changed)
        self.ids_label = QLabel("")  # wraps at the phonemes' word gaps (see _show_ids)
        self.ids_label.setWordWrap(True)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        form.addRow("Name", self.name)
        form.addRow("Language", lang_row)
        form.addRow("Transcript", self.transcript)

        self.grid = TokenGrid()
        self.grid.setFixedHeight(100)
        self.grid.setMinimumWidth(120)
        self.grid.getAxis("bottom").showLabel(False)  # the waveform above names the shared time axis
        self.grid.getAxis("left").showLabel(False)  # room for the codebook numbers
        self.grid.setXLink(self.waveform)  # one time axis: the prompt's
        self.grid.hovered.connect(lambda text: self.hover.setText(text))
        self.k_slider = QSlider(Qt.Horizontal)
        self.k_slider.setRange(1, 8)
        self.k_slider.setValue(8)
        self.k_slider.setTickPosition(QSlider.TicksBelow)
        self.k_slider.valueChanged.connect(self._k_changed)
        self.k_label = QLabel("k = 8")
        self.play_btn = button("▶ Play k", "Play the prompt decoded from its first k codebooks", self.play_k)
        self.original_btn = button("▶ Original", "Play the part of the recording that becomes the voice",
                                   self.play_original)
        self.k_slider.setToolTip("Codebooks to decode: 1 is the coarse voice, each next one adds detail")
        k_row = QHBoxLayout()
        for w in (self.k_slider, self.k_label, self.play_btn, self.original_btn):
            k_row.addWidget(w)
        k_row.setStretchFactor(self.k_slider, 1)
        self.hover = QLabel("The prompt's EnCodec codes: the voice the model continues.")
        self.hover.setWordWrap(True)
        self.hover.setEnabled(False)
        self.save_btn = QPushButton("Save voice")
        self.save_btn.setDefault(True)
        self.save_btn.setToolTip("Add the voice to the library with this name and transcript")
        self.save_btn.clicked.connect(self.save)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(self.save_btn)

        # what the check found and the codes: shown once there is a preview
        self.check_box = _column(self.waveform, self.facts)
        self.codes_box = _column(self.grid, k_row, self.hover)
        body = QWidget()
        lay = QVBoxLayout(body)
        lay.setContentsMargins(0, 4, 4, 4)
        lay.addWidget(self.check_box)
        lay.addLayout(form)
        lay.addWidget(self.ids_label)  # below the form, not in it: a form row gives a wrapped label too much height
        lay.addWidget(self.codes_box)
        lay.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)  # the body wraps to the width instead
        scroll.setWidget(body)
        scroll.setFrameShape(QScrollArea.NoFrame)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addLayout(head)
        outer.addWidget(self.message)  # outside the scroll area: progress and refusals stay in sight
        outer.addWidget(scroll, 1)
        outer.addLayout(bottom)

    # ---- state
    @property
    def busy(self) -> bool:
        return bool(self._job or self._save_job)

    def _set_ready(self, ready: bool) -> None:
        """The form and the codes work once a preview is shown; Cancel only while a job runs."""
        for w in (self.name, self.language, self.transcript, self.again_btn, self.k_slider, self.play_btn,
                  self.original_btn):
            w.setEnabled(ready)
        self.language.setEnabled(not self.busy)
        self.cancel_btn.setVisible(bool(self._job))
        for box in (self.check_box, self.codes_box):
            box.setVisible(self.preview is not None)
        self._update_save()

    def _update_save(self) -> None:
        ok = (self.preview is not None and not self.busy and bool(self.name.text().strip())
              and bool(self.transcript.toPlainText().strip()))
        self.save_btn.setEnabled(ok)

    def _say(self, text: str, colour: str = "") -> None:
        self.message.setStyleSheet(f"color: {colour};" if colour else "")
        self.message.setText(text)

    def set_unavailable(self, problems: dict[str, str]) -> None:
        """Languages the engine cannot write phonemes for here are greyed out, the reason in their tooltip."""
        model = self.language.model()
        for i in range(self.language.count()):
            why = problems.get(self.language.itemData(i))
            model.item(i).setEnabled(why is None)
            self.language.setItemData(i, f"Unavailable: {why}" if why else None, Qt.ToolTipRole)
        if self.language.currentData() in problems:
            self.language.setCurrentIndex(self.language.findData("en"))

    # ---- step 1: check, transcribe, encode
    def start(self, path: str, language: str | None = None) -> None:
        """Check, transcribe and encode the recording at `path` on the worker; the previous one is dropped, and
        its check cancelled so that this one starts at once."""
        self._stop_check()
        self._drop_preview()
        self.path = path
        self.title.setText(f"<b>Enroll a voice</b> — {escape(elide(Path(path).name, TITLE_CHARS))}")
        self.title.setToolTip(path)
        self.name.setText(Path(path).stem[:MAX_NAME])
        if language is not None and self.language.findData(language) >= 0:
            self.language.setCurrentIndex(self.language.findData(language))
        self.transcript.blockSignals(True)
        self.transcript.clear()
        self.transcript.blockSignals(False)
        self.ids_label.setText("")
        self._run_preview()

    def transcribe_again(self) -> None:
        if self.path is not None and not self._save_job:
            self._stop_check()
            self._drop_preview()
            self._run_preview()

    def _run_preview(self) -> None:
        assert self.path is not None
        self._gen += 1
        gen = self._gen
        self._say("Checking the prompt…")
        self._job = self.worker.submit(
            PREVIEW, self.path, self.language.currentData(), self.settings.cache_folder, self.asr_model,
            self.codec, name=f"Enrolling {Path(self.path).name}",
            on_result=lambda r: self._previewed(*r) if gen == self._gen else None,
            on_error=lambda rep: self._refused(rep) if gen == self._gen else None)
        self._set_ready(False)

    def _previewed(self, preview: EnrollmentPreview, envelope: Envelope) -> None:
        self._job = 0
        self.preview = preview
        self.grid.show_codes(preview.codes, FRAME_RATE)
        self.grid.set_k(self.k_slider.value())
        self.waveform.show_check(preview.check, envelope)  # after the codes: its range, trimmed parts and all, wins
        self.facts.show_check(preview.check)
        self.transcript.setPlainText(preview.transcript)
        if preview.transcript_note:
            self._say(preview.transcript_note, LOOK)
        else:
            self._say("Check the transcript: correct any word that differs from the recording, then save.")
        self._set_ready(True)
        self.error.emit("", "")  # a good check clears an earlier refusal from the banner
        self.status.emit(f"Checked {Path(preview.source).name}: {preview.check.duration:.1f} s of speech")

    def _refused(self, report: ErrorReport) -> None:
        self._job = 0
        self._say(f"<b>{report.message}</b><br>{report.remedy}", BAD)
        self._set_ready(False)
        self.error.emit(report.message, report.remedy)

    def _progress(self, job_id: int, fraction: float, message: str) -> None:
        if job_id and job_id == self._job and message:
            self._say(message)

    def _cancelled(self, job_id: int, _partial: object) -> None:
        if job_id and job_id == self._job:
            self._job = 0
            self._say("Cancelled. Pick another recording, or Transcribe again to check this one.")
            self._set_ready(False)
            self.again_btn.setEnabled(self.path is not None)
        elif job_id and job_id == self._decode_job:
            self._decode_job = 0

    def _stop_check(self) -> bool:
        """Cancel the running check (not a save) and forget it: whatever it still sends is dropped."""
        if not self._job:
            return False
        self.worker.cancel(self._job)
        self._job = 0
        self._gen += 1
        return True

    def cancel(self) -> None:
        """Stop the check now: the view is ready for another recording at once, even while the worker is still
        winding the job down."""
        if self._stop_check():
            self._say("Cancelled. Pick another recording, or Transcribe again to check this one.")
            self._set_ready(False)
            self.again_btn.setEnabled(self.path is not None)

    def discard(self) -> None:
        """Back to the library: a running check is cancelled, nothing is saved."""
        self._stop_check()
        self._drop_preview()
        self.path = None
        self.closed.emit()

    def _drop_preview(self) -> None:
        self.player.stop()
        if self._decode_job:
            self.worker.cancel(self._decode_job)
            self._decode_job = 0
        self._gen += 1
        self.preview = None
        self.reconstructions.clear()
        self.waveform.clear_check()
        self.facts.setText("")
        self.grid.codes = None
        self.grid.image.clear()
        self.grid.k_band.hide()
        self._set_ready(False)

    # ---- the transcript and its phonemes
    def _text_changed(self) -> None:
        self._update_save()
        self._ids_timer.start()

    def _language_changed(self, _index: int) -> None:
        if self.preview is not None and self.preview.language != self.language.currentData():
            self._say(f"The transcript was recognised as {LANGUAGE_NAMES[self.preview.language]}: correct it, or "
                      "Transcribe again.", LOOK)
        self._ids_timer.start()

    def _update_ids(self) -> None:
        text = self.transcript.toPlainText()
        if not text.strip():
            self.ids_label.setText("")
            return
        gen, language = self._gen, self.language.currentData()
        self.worker.submit(
            PHONEMES, text, language, name="Phonemes",
            on_result=lambda r: self._show_ids(*r) if gen == self._gen else None,
            on_error=lambda rep: self._show_ids_error(rep) if gen == self._gen else None)

    def _show_ids(self, phonemes: str, count: int, dropped: list[str]) -> None:
        shown = escape(phonemes if len(phonemes) <= 120 else phonemes[:120] + "…").replace("_", "_\u200b")
        text = f"{count} phonemes: <span style='font-family: monospace'>{shown}</span>"  # wraps at word gaps
        if dropped:
            text += f"<br><span style='color:{LOOK}'>Not spoken (no pronunciation known): {listing(dropped)}</span>"
        self.ids_label.setText(text)

    def _show_ids_error(self, report: ErrorReport) -> None:
        self.ids_label.setText(f"<span style='color:{BAD}'>{report.message}</span>")

    # ---- listening
    def _k_changed(self, k: int) -> None:
        self.k_label.setText(f"k = {k}")
        self.grid.set_k(k)

    def play_k(self) -> None:
        """Play the prompt decoded from its first k codebooks (decoded on the worker once per k)."""
        if self.preview is None:
            return
        k = self.k_slider.value()
        if k in self.reconstructions:
            self._play(self.reconstructions[k])
            return
        gen = self._gen
        out = str(self._out_dir / f"prompt-{gen}-k{k}.wav")
        if self._decode_job:
            self.worker.cancel(self._decode_job)
        self._decode_job = self.worker.submit(
            DECODE, self.preview, k, out, self.codec, self.settings.cache_folder, name=f"Decoding {k} codebooks",
            on_result=lambda path: self._decoded(gen, k, path), on_error=self._decode_failed)

    def _decoded(self, gen: int, k: int, path: str) -> None:
        self._decode_job = 0
        if gen == self._gen:
            self.reconstructions[k] = path
            self._play(path)

    def _decode_failed(self, report: ErrorReport) -> None:
        self._decode_job = 0
        self.error.emit(report.message, report.remedy)

    def play_original(self) -> None:
        if self.preview is not None:
            c = self.preview.check
            self._play(self.preview.source, c.trimmed[0], c.original_duration - c.trimmed[1])

    def _play(self, path: str, start: float = 0.0, end: float | None = None) -> None:
        try:
            self.player.play(path, start, end)
        except StudioError as e:
            self.error.emit(e.message, e.remedy)

    # ---- step 2: save
    def save(self) -> None:
        if self.preview is None or self.busy:
            return
        gen = self._gen
        self._say("Saving…")
        self._save_job = self.worker.submit(
            SAVE, self.preview, self.name.text(), self.language.currentData(), self.transcript.toPlainText(),
            self.library_folder, name=f"Saving voice {self.name.text().strip()}",
            on_result=lambda v: self._saved(v, gen), on_error=lambda rep: self._save_failed(rep, gen))
        self._set_ready(True)

    def _saved(self, voice: Voice, gen: int) -> None:
        """The library hears of a saved voice even when the view has moved on to another recording."""
        self._save_job = 0
        self.status.emit(f"Saved the voice {voice.name}")
        if gen == self._gen:
            self._drop_preview()
            self.path = None
        else:
            self._set_ready(self.preview is not None)
        self.saved.emit(voice)
        if self.path is None:
            self.closed.emit()

    def _save_failed(self, report: ErrorReport, gen: int) -> None:
        self._save_job = 0
        if gen == self._gen:  # the form is still there: the user fixes the name or the text and saves again
            self._say(f"<b>{report.message}</b><br>{report.remedy}", BAD)
        self._set_ready(self.preview is not None)
        self.error.emit(report.message, report.remedy)

    def shutdown(self) -> None:
        self.player.stop()
        shutil.rmtree(self._out_dir, ignore_errors=True)  # decoded prompts are only for listening
