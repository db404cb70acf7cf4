"""The Speak side of the Voice panel: text in the chosen voice, sentence by sentence.

The text is planned as it is typed (sentences that fit the clip the prompt leaves, on a thread of its own), each
sentence becomes a take as soon as the worker has spoken it, any one can be spoken again with a new seed, earlier
takes stay in its history, and the current takes play and save joined with the engine's pause."""

from __future__ import annotations

import functools
import re
import shutil
import tempfile
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from studio.audio.player import Player
from studio.engine.clone.result import Take
from studio.engine.clone.voices import Voice, load_voice
from studio.errors import StudioError
from studio.hub.local_import import ImportedModel
from studio.ui.sentence_list import WARN, SentenceList, plan_summary
from studio.ui.settings import AppSettings
from studio.ui.speak_controls import RunBar, SynthesisControls
from studio.ui.speak_output import SpeakOutput
from studio.ui.speak_plan import Plan, Planner
from studio.ui.speak_runs import Runs, fresh_seed
from studio.ui.take_history import Key, TakeHistory, moved_keys
from studio.ui.take_view import TakeView, scrolling
from studio.ui.widgets import button
from studio.worker.errors import ErrorReport
from studio.worker.jobs import Job
from studio.worker.qt import QtWorker

LANGUAGE_NAMES = {"en": "English", "zh": "Chinese", "ja": "Japanese"}
PLAN_DELAY_MS = 300  # typing pause before the plan is made again
_SENTENCE = re.compile(r"Sentence (\d+)")


SPEAK = Job("studio.engine.clone.synthesis_jobs", "speak_job")


class SpeakView(SpeakOutput, QWidget):
    error = Signal(str, str)  # an empty message clears the window's error banner
    status = Signal(str)
    import_requested = Signal()  # the model picker's "Import local weights…" entry
    take_ready = Signal(int, object)  # job's run number, Take: a take the running job made (on the UI thread)

    def __init__(self, worker: QtWorker, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.worker, self.settings = worker, settings
        self.voice: Voice | None = None
        self.plan: Plan | None = None
        self.history = TakeHistory()
        self.codec = "24khz"  # the EnCodec 24 kHz that decodes the codes (a local .th file offline)
        self.player = Player()
        self._runs = Runs()
        self._pending_synth = False
        self._plan_voice = ""  # the voice the shown plan was made for
        self._asked = False  # the banner shows a message of ours about the plan (no text, too long, no voice)
        self._out_dir = Path(tempfile.mkdtemp(prefix="voice-studio-speak-"))
        self._wavs: dict[tuple[int, ...], str] = {}  # takes (by id) -> their WAV for playback
        self._shown: Take | None = None
        self._playing: Take | None = None
        self._planner = Planner()
        self._build()
        self._plan_timer = QTimer(self, singleShot=True, interval=PLAN_DELAY_MS)
        self._plan_timer.timeout.connect(self.replan)
        self._poll = QTimer(self, interval=40)
        self._poll.timeout.connect(self._poll_plan)
        self._ticker = QTimer(self, interval=40)
        self._ticker.timeout.connect(self._tick)
        self._ticker.start()
        self.take_ready.connect(self._take_arrived)
        worker.started.connect(self._job_started)
        worker.progress.connect(self._job_progress)
        worker.cancelled.connect(self._job_cancelled)
        self._show_voice()

    # ---- layout -------------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.voice_label = QLabel()
        self.voice_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.language = QComboBox()
        for code, name in LANGUAGE_NAMES.items():
            self.language.addItem(name, code)
        self.language.setToolTip("The language of the text; a voice can speak another language than its own")
        self.language.currentIndexChanged.connect(lambda _: self.replan())
        top = QHBoxLayout()
        top.addWidget(self.voice_label, 1)
        top.addWidget(QLabel("Text in"))
        top.addWidget(self.language)
        self.text = QPlainTextEdit()
        self.text.setPlaceholderText("Type or paste what the voice should say.")
        self.text.setMaximumHeight(80)  # four lines: on a 768-pixel screen the takes need the room
        self.text.textChanged.connect(lambda: self._plan_timer.start())
        self.plan_label = QLabel()
        self.plan_label.setWordWrap(True)

        self.controls = SynthesisControls(self.settings.cache_folder)
        self.controls.import_requested.connect(self.import_requested)

        run = RunBar(self.synthesize, self.cancel)
        self.synth_btn, self.cancel_btn, self.progress = run.synth_btn, run.cancel_btn, run.progress
        self.progress_label, self.device_label = run.progress_label, run.device_label

        self.sentences = SentenceList()
        self.sentences.history_of = lambda row: (self.history.entries(self._key(row)),
                                                 self.history.chosen_index(self._key(row)))
        self.sentences.selected.connect(self._row_selected)
        self.sentences.play_requested.connect(self.play_sentence)
        self.sentences.redo_requested.connect(self.regenerate)
        self.sentences.take_chosen.connect(self.choose_take)
        self._take_view: TakeView | None = None
        hint = QLabel("Each sentence's take appears here once it is spoken: its waveform, spectrogram and codec "
                      "tokens beside the prompt's, and where the model looked in the text.")
        hint.setWordWrap(True)
        hint.setAlignment(Qt.AlignCenter)
        hint.setEnabled(False)
        self._take_area = scrolling(hint, 100)  # on a short screen the take scrolls, the window fits
        split = QSplitter(Qt.Vertical)
        split.addWidget(self.sentences)
        split.addWidget(self._take_area)
        split.setCollapsible(0, False)
        split.setSizes([160, 600])  # on a 768-pixel screen the list keeps its two rows, the take the rest

        self.play_btn = button("▶ Play all", "Play the current takes joined with a short pause", self.play_all)
        self.stop_btn = button("■ Stop", "Stop playback", self.stop)
        self.save_btn = button("Save WAV…", "Save the current takes joined, 24 kHz WAV", self.save_dialog)
        self.total_label = QLabel()
        self.total_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        bottom = QHBoxLayout()
        for w in (self.play_btn, self.stop_btn, self.save_btn):
            bottom.addWidget(w)
        bottom.addWidget(self.total_label, 1)

        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.text)
        lay.addWidget(self.plan_label)
        lay.addWidget(self.controls)
        lay.addWidget(run)
        lay.addWidget(split, 1)
        lay.addLayout(bottom)
        self._update_buttons()

    # ---- voice, model, device -------------------------------------------------------------------------------
    def set_voice(self, path: str) -> None:
        """Speak in the voice saved at `path` (the Voices side calls this); '' clears it."""
        if not path:
            self.voice = None
        else:
            try:
                self.voice = load_voice(path)
            except StudioError as e:
                self.error.emit(e.message, e.remedy)
                return
            index = self.language.findData(self.voice.language)
            self.language.blockSignals(True)
            self.language.setCurrentIndex(max(0, index))
            self.language.blockSignals(False)
        self._show_voice()
        self.replan()

    def _show_voice(self) -> None:
        v = self.voice
        if v is None:
            self.voice_label.setText("<b>No voice chosen</b> — pick one in the list, or enroll a recording.")
        else:
            self.voice_label.setText(f"Voice <b>{v.name}</b> · {LANGUAGE_NAMES.get(v.language, v.language)} · "
                                     f"{v.duration:.1f} s prompt")
            self.voice_label.setToolTip(f"{v.path or ''}\nPrompt text: {v.prompt_text}")
        self._update_buttons()

    def set_model_file(self, path: str) -> None:
        """Speak with this VALL-E X checkpoint file."""
        self.controls.set_model_file(path)

    def add_imported(self, model: ImportedModel) -> None:
        self.controls.add_imported(model)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if not self._runs:  # what a run would use, before the first one
            self.device_label.ask(self.worker)

    # ---- the plan -----------------------------------------------------------------------------------------
    @property
    def language_code(self) -> str:
        return str(self.language.currentData())

    @property
    def prompt_seconds(self) -> float:
        return self.voice.duration if self.voice is not None else 0.0

    def replan(self) -> None:
        """Plan the text now (typing waits for a pause first)."""
        self._plan_timer.stop()
        self._planner.request(self.text.toPlainText(), self.language_code, self.prompt_seconds)
        self._poll.start()
        self.plan_label.setText("Planning sentences…")
        self._update_buttons()

    def _plan_current(self) -> bool:
        p = self.plan
        return (p is not None and not self._plan_timer.isActive() and not self._planner.busy
                and p.text == self.text.toPlainText() and p.language == self.language_code
                and p.prompt_seconds == self.prompt_seconds)

    def _poll_plan(self) -> None:
        plan = self._planner.take()
        if plan is None:
            return
        self._poll.stop()
        old, self.plan = self.plan, plan
        voice = self._voice_key()
        if old is not None and self._plan_voice == voice and old.language == plan.language:
            moves = moved_keys([s.text for s in old.sentences], [s.text for s in plan.sentences], voice,
                               plan.language)
            self.history.move(moves)  # sentences typed in above others: the others keep their takes
            self._runs.move(moves)
        self._plan_voice = voice
        self.sentences.set_sentences(plan.sentences)
        self._refresh_all_rows()
        self._show_summary(plan)
        if self._asked:  # "no text", "too long", "choose a voice" were about what was there before
            self._asked = False
            self.error.emit("", "")
        if not self._runs:  # so were "Done." and "Cancelled; …"
            self.progress.setValue(0)
            self.progress_label.setText("")
        self._update_buttons()
        if self.sentences.current < 0 and self.sentences.count:
            self.sentences.select(0)
        elif self.sentences.count:
            self._row_selected(self.sentences.current)
        if self._pending_synth:
            self._pending_synth = False
            self.synthesize()

    def _show_summary(self, plan: Plan) -> None:
        self.plan_label.setText(plan_summary(plan, self.voice.duration if self.voice is not None else None))
        self.plan_label.setEnabled(bool(plan.text.strip()))  # the hint for an empty box is greyed, not an error

    def _voice_key(self) -> str:
        return (self.voice.path or self.voice.name) if self.voice is not None else ""

    def _key(self, row: int) -> Key:
        """Row `row` of the plan shown: its takes are kept under this key."""
        p = self.plan
        text = p.sentences[row].text if p is not None and 0 <= row < len(p.sentences) else ""
        return self._voice_key(), p.language if p is not None else self.language_code, row, text

    def _row_of(self, key: Key) -> int | None:
        row = key[2]
        return row if 0 <= row < self.sentences.count and self._key(row) == key else None

    # ---- synthesis ----------------------------------------------------------------------------------------
    def synthesize(self) -> None:
        """Speak every sentence of the text (each with seed + its number)."""
        if not self._ready_to_speak():
            return
        rows = list(range(self.sentences.count))
        self._submit(rows, [self.controls.seed.value() + i for i in rows], again=False)

    def regenerate(self, row: int) -> None:
        """Speak sentence `row` again with a seed that none of its takes, made or on the way, has."""
        if not self._ready_to_speak() or not 0 <= row < self.sentences.count:
            return
        key = self._key(row)
        used = self.history.seeds(key) | self._runs.seeds_in_flight(key)
        self._submit([row], [fresh_seed(self.controls.seed.value() + row, used)], again=True)

    def _ready_to_speak(self) -> bool:
        if self.voice is None:
            self._ask("Choose a voice first.", "Pick one in the voices list, or enroll a recording.")
            return False
        if not self.text.toPlainText().strip():
            self._ask("There is no text to speak.", "Type a sentence in the text box.")
            return False
        if not self._plan_current():
            self._pending_synth = True  # the plan being made for the current text is used
            if not self._planner.busy or self._plan_timer.isActive():
                self.replan()
            return False
        assert self.plan is not None
        if self.plan.error is not None:
            self._ask(self.plan.error.message, self.plan.error.remedy)
            return False
        return True

    def _ask(self, message: str, remedy: str) -> None:
        """A message about what to do before speaking; it goes when the text or the voice changes."""
        self._asked = True
        self.error.emit(message, remedy)

    def _submit(self, rows: list[int], seeds: list[int], again: bool) -> None:
        assert self.voice is not None and self.plan is not None
        run = self._runs.start([self._key(i) for i in rows], seeds, rows[0])
        c = self.controls
        job = self.worker.submit(
            SPEAK, self.voice, [k[3] for k in run.keys], self.language_code, c.settings(), model=c.model_key,
            precision=c.precision.currentData(), check_words=c.check_words.isChecked(),
            cache_dir=self.settings.cache_folder or None, on_update=functools.partial(self.take_ready.emit, run.number),
            first_index=rows[0], seeds=seeds, codec=self.codec,
            name=f"Speaking sentence {rows[0] + 1} again (seed {seeds[0]})" if again
            else f"Speaking {len(rows)} sentence{'s' if len(rows) > 1 else ''}",
            on_result=lambda _s, run=run: self._job_ended(run.job, "done"),
            on_error=lambda r, run=run: self._failed(run.job, r))
        self._runs.attach(run, job)
        self._asked = False
        self.error.emit("", "")
        for i in rows:
            self._refresh_row(i)
        self._update_buttons()

    def cancel(self) -> None:
        """Stop every run of this view; the takes already spoken stay."""
        for job in self._runs:
            self.worker.cancel(job)

    def _job_started(self, job_id: int, _name: str) -> None:
        if job_id in self._runs:
            self.progress.setValue(0)
            self._refresh_all_rows()

    def _job_progress(self, job_id: int, fraction: float, message: str) -> None:
        run = self._runs.of_job(job_id)
        if run is None:
            return
        self.progress.setValue(int(fraction * 1000))
        text = message
        if " · " in message:  # the engine appends the device to each step's message
            text, _, device = message.rpartition(" · ")
            self.device_label.show_device(device)
        self.progress_label.setText(text)
        m = _SENTENCE.match(text)
        key = run.key_of_message(int(m.group(1))) if m else None
        row = self._row_of(key) if key is not None else None
        if row is not None:
            self.sentences.row(row).set_state("speaking: " + text.split(": ", 1)[-1], WARN)

    def _take_arrived(self, run_number: int, take: Take) -> None:
        """A take, on the UI thread. It may come just before its job's cancel (the engine hands over a finished
        take, unchecked, when Cancel stops the listening back): it is kept like any other."""
        run = self._runs.of_number(run_number)
        if run is None:  # from a run long forgotten: kept under the row it was made for
            key: Key = (self._voice_key(), self.language_code, take.index, take.text)
        else:
            key = run.key_of(take)
            self._runs.arrived(run, key)
        self.history.add(key, take)
        self.device_label.show_device(take.device)
        row = self._row_of(key)
        if row is not None:
            self._refresh_row(row)
            if row == self.sentences.current:
                self._row_selected(row)
        self._update_totals()

    def _job_cancelled(self, job_id: int, _partial: object) -> None:
        self._job_ended(job_id, "cancelled")

    def _failed(self, job_id: int, report: ErrorReport) -> None:
        self._job_ended(job_id, "failed")
        self.error.emit(report.message, report.remedy)

    def _job_ended(self, job_id: int, how: str) -> None:
        run = self._runs.end(job_id)
        if run is None:
            return
        if not self._runs:  # the last job of the batch: say what all of them did
            self.progress.setValue(1000 if how == "done" else 0)
            spoken, asked = self._runs.batch_counts(run.batch)
            self.progress_label.setText({"done": "Done.", "failed": "Stopped by an error.",
                                         "cancelled": f"Cancelled; {spoken} of {asked} sentence"
                                                      f"{'' if asked == 1 else 's'} spoken"
                                                      + (", kept." if spoken else ".")}[how])
        self._refresh_all_rows()
        self._update_buttons()
        if how == "cancelled":
            self.status.emit("Speaking cancelled; the takes already spoken are kept.")

    # ---- rows and takes -----------------------------------------------------------------------------------
    def _refresh_all_rows(self) -> None:
        for i in range(self.sentences.count):
            self._refresh_row(i)

    def _refresh_row(self, i: int) -> None:
        key = self._key(i)
        row = self.sentences.row(i)
        row.show_take(self.history.current(key), len(self.history.entries(key)))
        if self._runs.waiting(key):
            row.set_state("queued…", WARN)

    def current_takes(self) -> list[Take | None]:
        """The take in use for each sentence of the plan (None where there is none yet)."""
        return [self.history.current(self._key(i)) for i in range(self.sentences.count)]

    def choose_take(self, row: int, index: int) -> None:
        """Bring back an earlier take of sentence `row` (its index in the history)."""
        key = self._key(row)
        if not self.history.entries(key):
            return
        self.history.choose(key, index)
        self._refresh_row(row)
        self._row_selected(self.sentences.current)
        self._update_totals()

    @property
    def take_view(self) -> TakeView:
        """Built once the window is on screen (VoicePanel.finish_start) or when first needed: its eight plots
        were 200 ms of the time to the first paint (Zen 3)."""
        if self._take_view is None:
            self._take_view = TakeView()
            self._take_view.seek_requested.connect(self._seek_shown)
            self._take_area.setWidget(self._take_view)  # the hint goes
        return self._take_view

    def _row_selected(self, row: int) -> None:
        take = self.history.current(self._key(row)) if row >= 0 else None
        if take is None or self.voice is None:
            self._shown = None
            if self._take_view is not None:
                self._take_view.clear()
            return
        if take is not self._shown:
            self._shown = take
            self.take_view.show_take(take, self.voice.audio_tokens.T, row + 1)

    def _update_buttons(self) -> None:
        running = bool(self._runs)
        self.synth_btn.setEnabled(not running and self.voice is not None)
        self.cancel_btn.setEnabled(running)
        self._update_totals()

    def _update_totals(self) -> None:
        takes = [t for t in self.current_takes() if t is not None]
        self.play_btn.setEnabled(bool(takes))
        self.save_btn.setEnabled(bool(takes))
        missing = self.sentences.count - len(takes)
        self.total_label.setText(f"{len(takes)} take{'s' if len(takes) != 1 else ''}, "
                                 f"{sum(t.duration for t in takes):.1f} s of speech"
                                 + (f" · {missing} sentence{'s' if missing != 1 else ''} not spoken yet"
                                    if missing and takes else "") if takes else "")

    def shutdown(self) -> None:
        self.cancel()
        self._planner.close()
        self.player.stop()
        shutil.rmtree(self._out_dir, ignore_errors=True)  # playback copies only
