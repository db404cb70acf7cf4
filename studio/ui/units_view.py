"""Speech units under a spectrogram: the controls (encoder, layer, k, or a saved codebook), the strip
(studio.ui.units_strip), every occurrence of one unit played in a row, compare mode and the statistics window.
The work runs on the worker (studio.engine.units.jobs)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QFileDialog, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from studio.engine.units.codebook import Codebook, is_pretrained_file, load_codebook, save_codebook, sidecar
from studio.engine.units.pretrained import LAYER as PRETRAINED_LAYER
from studio.engine.units.pretrained import MODEL as PRETRAINED_MODEL
from studio.engine.units.pretrained import PRETRAINED, is_pretrained_name, pretrained_k
from studio.engine.units.result import UnitsAnalysis, UnitsComparison, UnitsResult
from studio.errors import StudioError
from studio.hub.local_import import ImportedModel
from studio.ui.import_weights import add_model_entry, fill_picker, import_entry_taken
from studio.ui.unit_stats_view import UnitStatsDialog
from studio.ui.units_strip import UnitsStrip
from studio.ui.widgets import AUDIO_FILTER, button, fmt_time
from studio.ui.words_lane import WordsLane
from studio.worker.jobs import Job
from studio.worker.qt import QtWorker

UNITS = Job("studio.engine.units.jobs", "units_job")
COMPARE = Job("studio.engine.units.jobs", "compare_job")
OCCURRENCES = Job("studio.engine.units.jobs", "occurrences_job")
WORDS = Job("studio.engine.units.jobs", "words_job")
MODELS = [("HuBERT base", "hubert-base"), ("HuBERT large", "hubert-large"), ("wav2vec 2.0 base", "wav2vec2-base")]
KS = (50, 100, 200)
NO_CODEBOOK = "Fit on this file"
HINT = "Units: compute them to see one colour per unit here, on the same time axis."
NO_FILE = "Units: open a recording, then compute them to see one colour per unit here, on the same time axis."
NO_AUDIO = "Units are taken from audio: this file has none (a code file). Open a recording to see its units."


class UnitsView(QWidget):
    """The controls and the strip. `path()` names the recording the panel shows."""

    error = Signal(str, str)
    play_range = Signal(float, float)
    play_file = Signal(str)
    play_file_range = Signal(str, float, float)
    units_ready = Signal(object)  # UnitsAnalysis
    import_requested = Signal()  # the picker's "Import local weights…" entry

    def __init__(self, worker: QtWorker, path: Callable[[], Path | None], cache_dir: Callable[[], str],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.worker, self._path, self._cache_dir = worker, path, cache_dir
        self.analysis: UnitsAnalysis | None = None
        self.codebook_path: str | None = None
        self.picked_unit: int | None = None
        self._job = 0
        self._out_dir: Path | None = None
        self.model = QComboBox()
        for label, key in MODELS:
            self.model.addItem(label, key)
        fill_picker(self.model, cache_dir(), "hubert")  # earlier imports, then "Import local weights…"
        self._model_index = 0
        self.model.currentIndexChanged.connect(self._model_changed)
        self.model.setToolTip("The self-supervised speech encoder whose features are clustered into units")
        self.layer = QSpinBox(minimum=0, maximum=48, value=6)
        self.layer.setToolTip("Transformer layer whose output is used (6 is the usual one for HuBERT base units)")
        self.k = QComboBox()
        for k in KS:
            self.k.addItem(str(k), k)
        self.k.setCurrentIndex(1)
        self.codebook = QComboBox()
        self.codebook.addItem(NO_CODEBOOK, None)
        for name in PRETRAINED:  # downloaded by the units job on first use
            self.codebook.addItem(f"textless-lib k = {pretrained_k(name)}", name)
            self.codebook.setItemData(self.codebook.count() - 1, "The public pretrained k-means of textless-lib "
                                      "(GSLM) for HuBERT base, layer 6; downloaded once", Qt.ToolTipRole)
        self.codebook.addItem("Load codebook…", "load")
        self.codebook.setToolTip("k-means fitted on this recording, or a saved codebook (its model and layer win)")
        self.codebook.setSizeAdjustPolicy(QComboBox.AdjustToContents)
        self.codebook.activated.connect(self._codebook_picked)
        self.compute_btn = button("Compute units", "Features, then the nearest of k centres for every 20 ms",
                                  self.compute)
        self.save_btn = button("Save codebook…", "Write the codebook (.npy + .json) to use on other recordings",
                               self.save_codebook)
        self.play_unit_btn = button("▶ All of unit –", "Every run of the last clicked unit, one after another",
                                    self.play_unit)
        self.compare_btn = button("Compare with…", "Another take of the same text: its units with this codebook, "
                                  "aligned here (DTW), where they differ shaded", self.choose_comparison)
        self.stats_btn = button("Statistics…", "Frames per unit, each unit's mean spectrum, purity against the "
                                "transcript's words", self.show_stats)
        for b in (self.save_btn, self.play_unit_btn, self.compare_btn, self.stats_btn):
            b.setEnabled(False)
        self.words_box = QCheckBox("Words")
        self.words_box.setToolTip("The words under the units (transcribed with word times by tiny.en, on the worker):"
                                  " hover a word for the units inside it, click it to hear it")
        self.words_box.toggled.connect(lambda _: self._want_words())
        self.words: tuple[str, list[tuple[str, float, float]]] | None = None  # (recording, its words)
        self._words_job = 0
        self._words_for = ""  # the recording the words job under way is for
        self.stats_dialog: UnitStatsDialog | None = None
        self.comparison: UnitsComparison | None = None
        self._compare_job = 0
        self._no_audio = NO_FILE
        self.info = QLabel(HINT)
        self.info.setWordWrap(True)
        bar = QHBoxLayout()
        for w in (QLabel("Units"), self.model, QLabel("layer"), self.layer, QLabel("k"), self.k, self.codebook,
                  self.compute_btn, self.words_box, self.save_btn, self.play_unit_btn, self.compare_btn,
                  self.stats_btn):
            bar.addWidget(w)
        bar.addStretch(1)
        self.strip = UnitsStrip()
        self.strip.hovered.connect(self.info.setText)
        self.strip.run_clicked.connect(self._run_clicked)
        self.lane = WordsLane()
        self.lane.setXLink(self.strip)
        self.lane.hide()
        self.lane.hovered.connect(self.info.setText)
        self.lane.word_clicked.connect(self.play_range)
        self.other = UnitsStrip("B")
        self.other.setXLink(self.strip)
        self.other.hide()
        self.other.hovered.connect(self.info.setText)
        self.other.run_clicked.connect(self._other_clicked)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(bar)
        lay.addWidget(self.strip)
        lay.addWidget(self.lane)
        lay.addWidget(self.other)
        lay.addWidget(self.info)
        self.refresh()

    def _model_changed(self, index: int) -> None:
        if import_entry_taken(self.model, self._model_index):  # the dialog opens; the pick stays as it was
            self.import_requested.emit()
            return
        self._model_index = index

    def add_imported(self, model: ImportedModel) -> None:
        """A model imported anywhere in the window: HuBERT / wav2vec 2.0 ones join this picker and are selected."""
        if model.kind == "hubert":
            add_model_entry(self.model, model, select=True)

    def clear(self) -> None:
        """A new recording: its units are not computed yet."""
        if self._job:
            self.worker.cancel(self._job)
            self._job = 0
        self.analysis = None
        self.picked_unit = None
        self.strip.set_result(None)
        self.lane.hide()  # until this recording's words are known (refresh asks for them)
        self.lane.set_units(None)
        self.clear_comparison()
        self.save_btn.setEnabled(False)
        self.compare_btn.setEnabled(False)
        self.stats_btn.setEnabled(False)
        if self.stats_dialog is not None:
            self.stats_dialog.done_with()
            self.stats_dialog.hide()
        self.play_unit_btn.setEnabled(False)
        self.play_unit_btn.setText("▶ All of unit –")
        self.refresh()

    def refresh(self, no_audio: str = NO_FILE) -> None:
        """After the panel changed its file: units can be computed only where there is audio (else `no_audio`)."""
        self._no_audio = no_audio
        has_audio = self._path() is not None
        self.compute_btn.setEnabled(has_audio)
        self.words_box.setEnabled(has_audio)  # a code file has no audio to transcribe
        self.info.setText(HINT if has_audio else no_audio)
        # after the panel's own jobs for the new file (its spectrogram first): they are queued as this returns
        QTimer.singleShot(0, self, self._want_words)

    def _want_words(self) -> None:
        """With Words ticked, the words of the recording shown: known ones at once, else transcribed."""
        path = self._path()
        if path is None or not self.words_box.isChecked():
            if self._words_job:  # unticked, or no recording: a transcription under way is not wanted
                self.worker.cancel(self._words_job)
                self._words_job = 0
            self.lane.hide()
            return
        if self.words is not None and self.words[0] == str(path):
            self.lane.show()
            return
        if self._words_job and self._words_for == str(path):  # already under way for this recording
            return
        if self._words_job:
            self.worker.cancel(self._words_job)
        self.lane.hide()
        self._words_for = str(path)
        self._words_job = self.worker.submit(
            WORDS, str(path), "tiny.en", self._cache_dir(), name=f"Words of {path.name}",
            on_result=lambda words, p=str(path): self._words_done(p, words), on_error=self._words_failed)

    def _words_done(self, path: str, words: list[tuple[str, float, float]]) -> None:
        self._words_job = 0
        if self._path() is None or str(self._path()) != path:  # the panel moved on meanwhile
            return
        self.words = (path, words)
        self.lane.set_words(words)
        self.lane.set_units(self.analysis.result if self.analysis is not None else None)
        self.lane.setVisible(self.words_box.isChecked())
        if not words:
            self.info.setText("Words: none were heard in this recording.")

    def _words_failed(self, rep: object) -> None:
        self._words_job = 0
        self.words_box.setChecked(False)
        self.error.emit(rep.message, rep.remedy)  # type: ignore[attr-defined]

    def _codebook_picked(self, index: int) -> None:
        if self.codebook.itemData(index) != "load":
            self.use_codebook(self.codebook.itemData(index))
            return
        path, _ = QFileDialog.getOpenFileName(self, "Load a codebook", "", "Codebook (*.npy *.json);;textless-lib / "
                                              "fairseq k-means, for the model and layer chosen (*.bin *.pkl);;All "
                                              "files (*)")
        if path:
            self.use_codebook(path)
        else:  # cancelled: the choice stays what it was
            self._show_choice()

    def _show_choice(self) -> None:
        self.codebook.setCurrentIndex(0 if self.codebook_path is None else self.codebook.findData(self.codebook_path))

    def use_codebook(self, path: str | None) -> None:
        """Units from the saved codebook at `path` (None: fit on the recording). It is read here (numpy only, a few
        kB): one that cannot be read is said now and not offered; its k and layer are shown and locked."""
        if path is None:
            self.codebook_path = None
            self.codebook.setCurrentIndex(0)
            self._lock_to(None)
            return
        if is_pretrained_name(path):  # nothing to read yet: its model, layer and k are known
            self.codebook_path = path
            self.codebook.setCurrentIndex(self.codebook.findData(path))
            self._lock(PRETRAINED_MODEL, PRETRAINED_LAYER, pretrained_k(path))
            self.info.setText(f"Units with textless-lib's k = {pretrained_k(path)} codebook for HuBERT base layer 6 "
                              "(downloaded once, on Compute).")
            return
        try:
            if is_pretrained_file(path):
                cb = load_codebook(path, self.model.currentData() or "", self.layer.value())
            else:
                path = str(sidecar(Path(path))[0])  # NAME.json and NAME.npy are one codebook
                cb = load_codebook(path)
        except StudioError as e:
            self.error.emit(e.message, e.remedy)
            self._show_choice()
            return
        self.codebook_path = path
        at = self.codebook.findData(path)
        if at < 0:
            self.codebook.insertItem(1, f"Codebook: {Path(path).with_suffix('').name}", path)
            at = 1
        self.codebook.setCurrentIndex(at)
        self._lock_to(cb, pretrained=is_pretrained_file(path))

    def _lock_to(self, cb: Codebook | None, pretrained: bool = False) -> None:
        """k (and, for our codebooks, the model and layer) come from the codebook: shown, not editable."""
        if cb is None:
            for w in (self.k, self.layer, self.model):
                w.setEnabled(True)
            return
        # a km.bin file does not say its model and layer: the user's choice stays
        self._lock(None if pretrained else cb.model, None if pretrained else cb.layer, cb.k)

    def _lock(self, model: str | None, layer: int | None, k: int) -> None:
        """Show k (and the model and layer, where known) and lock them."""
        if model is not None:
            self._show_model(model)
        self.model.setEnabled(model is None)
        if self.k.findData(k) < 0:
            self.k.addItem(str(k), k)
        self.k.setCurrentIndex(self.k.findData(k))
        self.k.setEnabled(False)
        if layer is not None:
            self.layer.setValue(layer)
        self.layer.setEnabled(layer is None)

    def _show_model(self, model: str) -> None:
        """Select the picker's entry for a codebook's model (an alias, a repo id or a real path), adding one if the
        picker has none."""
        import os

        for i in range(self.model.count()):
            data = self.model.itemData(i)
            if isinstance(data, str) and (data == model or (os.path.isabs(model) and os.path.exists(data)
                                                            and os.path.realpath(data) == model)):
                self.model.setCurrentIndex(i)
                return
        self.model.insertItem(0, f"{Path(model).name or model} (the codebook's)", model)
        self.model.setCurrentIndex(0)

    def compute(self) -> None:
        path = self._path()
        if path is None:
            self.error.emit("Units are computed from audio: open a recording first.",
                            "A code file (.ecdc, .npz) holds no audio to take units from."
                            if self._no_audio == NO_AUDIO else "")
            return
        if self._job:
            self.worker.cancel(self._job)
        self.compute_btn.setEnabled(False)
        self.info.setText("Computing units…")
        self._job = self.worker.submit(
            UNITS, str(path), self.model.currentData(), self.layer.value(), self.k.currentData(),
            self.codebook_path, self._cache_dir(), name=f"Units of {path.name}",
            on_result=self._done, on_error=self._failed)

    def _failed(self, rep: object) -> None:
        self._job = 0
        self.compute_btn.setEnabled(True)
        self.info.setText("Units: not computed (see the message above).")
        self.error.emit(rep.message, rep.remedy)  # type: ignore[attr-defined]

    def _done(self, analysis: UnitsAnalysis) -> None:
        self._job = 0
        self.compute_btn.setEnabled(True)
        path = self._path()
        if path is None or Path(analysis.source) != path:  # the panel moved on to another file meanwhile
            return
        self.analysis = analysis
        self.error.emit("", "")  # a success clears what an earlier failure left in the banner
        r = analysis.result
        self.strip.set_result(r)
        self.lane.set_units(r)
        self.clear_comparison()
        self.save_btn.setEnabled(analysis.fitted_here)
        self.compare_btn.setEnabled(True)
        self.stats_btn.setEnabled(True)
        if self.stats_dialog is not None and self.stats_dialog.isVisible():
            self.stats_dialog.show_for(analysis, self._words_of(analysis))
        used = int((r.histogram() > 0).sum())
        how = ("fitted on this recording" if analysis.fitted_here else "textless-lib's codebook"
               if is_pretrained_name(self.codebook_path) else "from the saved codebook")
        self.info.setText(f"{r.model} layer {r.layer}, k = {r.k} ({how}): {r.units.size} frames, "
                          f"{len(r.run_starts())} runs, {used} units used. Hover for a unit; click to play its run.")
        self.units_ready.emit(analysis)

    def _run_clicked(self, start: float, end: float, unit: int) -> None:
        self.pick_unit(unit)
        self.play_range.emit(start, end)

    def pick_unit(self, unit: int) -> None:
        self.picked_unit = unit
        self.play_unit_btn.setText(f"▶ All of unit {unit}")
        self.play_unit_btn.setEnabled(True)

    def show_stats(self) -> None:
        if self.analysis is None:
            return
        if self.stats_dialog is None:
            self.stats_dialog = UnitStatsDialog(self.worker, self._cache_dir(), self)
            self.stats_dialog.error.connect(self.error)
            self.stats_dialog.unit_picked.connect(lambda u: (self.pick_unit(u), self.play_unit()))
        self.stats_dialog.show_for(self.analysis, self._words_of(self.analysis))
        self.stats_dialog.show()
        self.stats_dialog.raise_()

    def _words_of(self, analysis: UnitsAnalysis) -> list[tuple[str, float, float]] | None:
        """The words lane's words when they are this recording's (the statistics then need no transcription)."""
        return self.words[1] if self.words is not None and self.words[0] == str(analysis.source) else None

    def play_unit(self) -> None:
        if self.analysis is None or self.picked_unit is None:
            return
        spans = self.analysis.result.occurrences(self.picked_unit)
        if self._out_dir is None:
            self._out_dir = Path(tempfile.mkdtemp(prefix="voice-studio-units-"))
        out = self._out_dir / f"unit-{self.picked_unit}.wav"
        self.worker.submit(OCCURRENCES, self.analysis.source, spans, str(out),
                           name=f"Unit {self.picked_unit}: {len(spans)} runs",
                           on_result=self.play_file.emit,
                           on_error=lambda rep: self.error.emit(rep.message, rep.remedy))

    # ---- compare mode ----------------------------------------------------------------------------------------
    def choose_comparison(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Compare with another take", "", AUDIO_FILTER)
        if path:
            self.compare_with(path)

    def compare_with(self, path: str) -> None:
        if self.analysis is None:
            return
        if self._compare_job:
            self.worker.cancel(self._compare_job)
        self.info.setText(f"Comparing with {Path(path).name}…")
        first = self.analysis
        self._compare_job = self.worker.submit(
            COMPARE, first, path, self._cache_dir(), name=f"Units of {Path(path).name}, aligned",
            on_result=lambda c: self._compared(first, c), on_error=self._compare_failed)

    def _compare_failed(self, rep: object) -> None:
        self._compare_job = 0
        self.info.setText("Not compared (see the message above).")
        self.error.emit(rep.message, rep.remedy)  # type: ignore[attr-defined]

    def _compared(self, first: UnitsAnalysis, cmp: UnitsComparison) -> None:
        self._compare_job = 0
        if self.analysis is not first:  # units recomputed or another file meanwhile
            return
        self.comparison = cmp
        a = first.result
        warped = UnitsResult(cmp.other.result.units[cmp.b_at_a], a.frame_rate, a.k, a.model, a.layer, a.duration)
        self.other.set_result(warped)
        self.other.show()
        for strip in (self.strip, self.other):
            strip.mark(cmp.differing)
        where = ", ".join(f"{fmt_time(x)}–{fmt_time(y)}" for x, y in cmp.differing[:6])
        more = f" and {len(cmp.differing) - 6} more" if len(cmp.differing) > 6 else ""
        self.info.setText(f"B = {Path(cmp.other.source).name} on this time axis: {cmp.agreement:.0%} of aligned "
                          f"frames share a unit" + (f"; they differ at {where}{more} (shaded)" if where else "")
                          + ". Click B to hear that part of B.")

    def clear_comparison(self) -> None:
        if self._compare_job:
            self.worker.cancel(self._compare_job)
            self._compare_job = 0
        self.comparison = None
        self.other.set_result(None)
        self.other.hide()
        for strip in (self.strip, self.other):
            strip.mark([])

    def _other_clicked(self, start: float, end: float, unit: int) -> None:
        """A run of B as drawn on A's axis: play those frames of B from B's own file."""
        cmp = self.comparison
        if cmp is None:
            return
        rate = cmp.other.result.frame_rate
        f0 = int(round(start * rate))
        f1 = max(f0 + 1, int(round(end * rate)))
        b0, b1 = int(cmp.b_at_a[f0]), int(cmp.b_at_a[min(f1, len(cmp.b_at_a)) - 1]) + 1
        self.play_file_range.emit(cmp.other.source, b0 / rate, b1 / rate)

    def save_codebook(self, path: str | None = None) -> None:
        if self.analysis is None:
            return
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Save the codebook", "units-codebook.npy", "Codebook (*.npy)")
            if not path:
                return
        try:
            npy, _ = save_codebook(self.analysis.codebook, path)
        except StudioError as e:
            self.error.emit(e.message, e.remedy)
            return
        self.info.setText(f"Saved the codebook to {npy} (and its .json).")

    def shutdown(self) -> None:
        if self._words_job:
            self.worker.cancel(self._words_job)
        if self.stats_dialog is not None:
            self.stats_dialog.done_with()
        if self._out_dir is not None:
            import shutil

            shutil.rmtree(self._out_dir, ignore_errors=True)  # the unit collections are only for listening
