"""The Voice panel: the voices library and enrollment on the left, speaking text in the chosen voice on the right."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent, QUndoStack
from PySide6.QtWidgets import QHBoxLayout, QSplitter, QWidget

from studio.hub.local_import import ImportedModel
from studio.ui.settings import AppSettings
from studio.ui.speak_view import SpeakView
from studio.ui.voices_view import VoicesView
from studio.worker.qt import QtWorker


class VoicePanel(QWidget):
    error = Signal(str, str)
    status = Signal(str)
    import_requested = Signal()

    def __init__(self, worker: QtWorker, settings: AppSettings, undo: QUndoStack | None = None,
                 voices_folder: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.voices = VoicesView(worker, settings, undo, voices_folder or settings.voices_folder)
        self.speak = SpeakView(worker, settings)
        split = QSplitter(Qt.Horizontal)
        split.addWidget(self.voices)
        split.addWidget(self.speak)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 5)
        split.setSizes([380, 900])
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)
        self.voices.voice_selected.connect(self.speak.set_voice)
        self.voices.voices_changed.connect(self._voices_changed)
        for view in (self.voices, self.speak):
            view.error.connect(self.error)
            view.status.connect(self.status)
        self.speak.import_requested.connect(self.import_requested)
        # looking in the Hub's cache imports huggingface_hub: 160 ms of start-up (Zen 3) for a panel not yet shown
        self._settings, self._codec_chosen = settings, False

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        self._pick_codec_once()
        super().showEvent(event)

    def finish_start(self) -> None:
        """What the window's first paint did not wait for (the main window calls it once it is on screen): built
        then, it costs no stall when the panel is first shown or during a job."""
        self._pick_codec_once()
        self.speak.take_view  # noqa: B018 - built on first use

    @property
    def codec(self) -> str:
        self._pick_codec_once()
        return self.speak.codec

    @codec.setter
    def codec(self, value: str) -> None:
        """The EnCodec 24 kHz both sides decode and encode with (a local release file offline, or in tests)."""
        self._codec_chosen = True  # no later pick replaces it
        self.speak.codec = value
        self.voices.codec = value

    def _pick_codec_once(self) -> None:
        """Before the panel is first shown or its codec first read (every job here starts from the panel on
        screen; an enrollment from the Record panel reads it first)."""
        if not self._codec_chosen:
            self._codec_chosen = True
            self._pick_offline_codec(self._settings.cache_folder)

    def _voices_changed(self) -> None:
        """A renamed voice moves to a new file and a deleted one is gone: the Speak side follows the selection."""
        self.speak.set_voice(self.voices.selected_path() or "")

    def enroll_file(self, path: str) -> None:
        self._pick_codec_once()
        self.voices.enroll_file(path)

    def add_imported(self, model: ImportedModel) -> None:
        """A VALL-E X checkpoint goes to the Speak side's picker; an EnCodec 24 kHz becomes the codec both sides
        use (offline, the Hub's facebook/encodec_24khz cannot be fetched)."""
        if model.kind == "encodec" and _is_24khz(model):
            self.codec = model.path
            self.status.emit(f"The Voice panel now decodes with the imported codec {model.name}.")
        self.speak.add_imported(model)

    def _pick_offline_codec(self, cache_dir: str) -> None:
        """The newest imported EnCodec 24 kHz when the Hub's is not in the cache."""
        from studio.hub.download import cached_file
        from studio.hub.local_import import imported_models

        # studio.hub.encodec_weights.HF_REPOS["24khz"] (not imported: it imports torch)
        if cached_file("facebook/encodec_24khz", "model.safetensors", cache_dir=cache_dir or None) is not None:
            return
        for model in imported_models(cache_dir or None, "encodec"):
            if _is_24khz(model):
                self.codec = model.path
                return

    def toggle_play(self) -> None:
        self.speak.toggle_play()

    def shutdown(self) -> None:
        self.voices.shutdown()
        self.speak.shutdown()


def _is_24khz(model: ImportedModel) -> bool:
    """From its config (a Hugging Face folder) or its name (a release .th); a wrong guess is refused by the engine
    with a message that names the rate."""
    import json
    from pathlib import Path

    config = Path(model.path) / "config.json"
    if config.is_file():
        try:
            return json.loads(config.read_text(encoding="utf-8")).get("sampling_rate") == 24000
        except (OSError, ValueError, AttributeError):
            return False
    return "48" not in Path(model.path).name
