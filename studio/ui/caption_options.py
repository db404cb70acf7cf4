"""What a caption is asked for, shared by the Caption panel's picture and folder views: the BLIP model (base,
large, imported or a local folder), the prompt, beams, lengths and the repetition guard."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QSpinBox, QWidget

from studio.hub.local_import import ImportedModel
from studio.ui.import_weights import add_model_entry, fill_picker, import_entry_taken
from studio.ui.settings import AppSettings

MODELS = [("BLIP base", "base"), ("BLIP large", "large")]


def _spin(low: int, high: int, value: int, tip: str) -> QSpinBox:
    s = QSpinBox()
    s.setRange(low, high)
    s.setValue(value)
    s.setToolTip(tip)
    return s


class CaptionOptions(QWidget):
    import_requested = Signal()  # the picker's "Import local weights…" entry

    def __init__(self, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.model = QComboBox()
        for label, key in MODELS:
            self.model.addItem(label, key)
        fill_picker(self.model, settings.cache_folder, "blip")  # then "Import local weights…": a folder
        self._model_index = 0
        self.model.currentIndexChanged.connect(self._model_changed)
        self.prompt = QLineEdit()
        self.prompt.setPlaceholderText("Prompt: the caption's start, e.g. \"a photograph of\" (optional)")
        self.beams = _spin(1, 10, 3, "Beam search width: 1 is greedy; more beams list alternative captions")
        self.max_len = _spin(1, 100, 20, "Most new tokens in the caption")
        self.min_len = _spin(0, 100, 0, "The end token is not allowed before this many new tokens")
        self.no_repeat = _spin(0, 6, 0, "No phrase of this many tokens may appear twice (0: off); 3 stops "
                               "\"a hat on top of a hat…\"")
        self.precision = QComboBox()
        self.precision.addItem("exact", "float32")
        self.precision.addItem("fast", "fast")
        self.precision.setToolTip("exact: float32, the captions transformers gives; fast: on a CPU an int8 decoder "
                                  "and, where the CPU runs it faster, a bfloat16 image encoder (close calls may go "
                                  "the other way)")
        # the minimum never passes the maximum (transformers would quietly ignore it)
        self.max_len.valueChanged.connect(self.min_len.setMaximum)
        self.min_len.setMaximum(self.max_len.value())
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Model"))
        row.addWidget(self.model)
        row.addWidget(self.prompt, 1)
        for text, w in (("Precision", self.precision), ("Beams", self.beams), ("Length", self.min_len),
                        ("to", self.max_len), ("No-repeat n-gram", self.no_repeat)):
            row.addWidget(QLabel(text))
            row.addWidget(w)

    def model_key(self) -> str:
        return str(self.model.currentData())

    def setup(self) -> tuple[str, str]:
        """(model, precision): what the worker loads."""
        return self.model_key(), str(self.precision.currentData())

    def prompt_text(self) -> str:
        return self.prompt.text().strip()

    def options(self) -> dict[str, int]:
        """DecodeOptions fields (the worker builds the dataclass: torch stays off the UI thread)."""
        beams = self.beams.value()
        return dict(beam_size=beams, num_return=beams, max_new_tokens=self.max_len.value(),
                    min_new_tokens=self.min_len.value(), no_repeat_ngram_size=self.no_repeat.value())

    def _model_changed(self, index: int) -> None:
        if import_entry_taken(self.model, self._model_index):  # the dialog opens; the pick stays as it was
            self.import_requested.emit()
            return
        self._model_index = index

    def add_imported(self, model: ImportedModel) -> None:
        """A model imported anywhere in the window: BLIP folders join this picker and are selected."""
        if model.kind == "blip":
            add_model_entry(self.model, model, select=True)

    def add_model_folder(self, folder: str | Path) -> None:
        """A local BLIP folder (transformers' save_pretrained layout) as a picker entry, selected, used where it
        is (the CLI's --model FOLDER; Import local weights… copies one into the cache instead)."""
        folder = str(folder)
        index = self.model.findData(folder)
        if index < 0:
            index = max(0, self.model.count() - 1)  # above the import entry
            self.model.insertItem(index, f"{Path(folder).name} (folder)", folder)
            self.model.setItemData(index, folder, Qt.ToolTipRole)
        self.model.setCurrentIndex(index)
