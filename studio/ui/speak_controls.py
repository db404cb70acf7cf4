"""The Speak view's synthesis settings: sampling (temperature, top-k, seed), the VALL-E X model and its precision,
and whether takes are transcribed back."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QHBoxLayout, QLabel, QSpinBox, QWidget

from studio.engine.clone.result import Settings
from studio.engine.clone.synthesis_jobs import PRECISIONS
from studio.hub.local_import import ImportedModel
from studio.ui.import_weights import add_model_entry, fill_picker, import_entry_taken
from studio.worker.qt import QtWorker

CHOOSE_KEY = "choose"  # the model picker's "Choose file…" entry


class SynthesisControls(QWidget):
    import_requested = Signal()  # the picker's "Import local weights…" entry

    def __init__(self, cache_folder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.temperature = QDoubleSpinBox(decimals=2, minimum=0.05, maximum=2.0, singleStep=0.05, value=1.0)
        self.temperature.setToolTip("Sampling temperature: lower is steadier, higher more varied")
        self.top_k = QSpinBox(minimum=0, maximum=1024, value=0)
        self.top_k.setSpecialValueText("all")
        self.top_k.setToolTip("Sample among the k likeliest codes of each frame (all: every code)")
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1, value=1)
        self.seed.setToolTip("Sentence i is drawn with seed + i, so a run can be repeated exactly")
        self.model = QComboBox()
        self.model.addItem("VALL-E X", "vallex")
        self.model.setItemData(0, "Plachta/VALL-E-X vallex-checkpoint.pt (downloaded once, 1.5 GB)", 3)
        fill_picker(self.model, cache_folder, "valle")  # earlier imports, then "Import local weights…"
        self.model.addItem("Choose file…", CHOOSE_KEY)
        self._model_index = 0
        self.model.currentIndexChanged.connect(self._model_changed)
        self.precision = QComboBox()
        for key in PRECISIONS:
            self.precision.addItem(key, key)
        self.precision.setToolTip("fast: int8 AR and bfloat16 NAR on a CPU (about 4x quicker), float32 on a GPU; "
                                  "auto: fast on a CPU, float32 on a GPU")
        self.check_words = QCheckBox("Check words")
        self.check_words.setChecked(True)
        self.check_words.setToolTip("Transcribe each take back and mark skipped, repeated or leaked words")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        for label, w in (("Temperature", self.temperature), ("Top-k", self.top_k), ("Seed", self.seed),
                         ("Model", self.model), ("Precision", self.precision)):
            lay.addWidget(QLabel(label))
            lay.addWidget(w)
        lay.addWidget(self.check_words)
        lay.addStretch(1)

    def settings(self, seed: int | None = None) -> Settings:
        return Settings(temperature=self.temperature.value(), top_k=self.top_k.value(),
                        seed=self.seed.value() if seed is None else seed)

    @property
    def model_key(self) -> str:
        """'vallex' or a checkpoint path."""
        return str(self.model.currentData())

    def _model_changed(self, index: int) -> None:
        if import_entry_taken(self.model, self._model_index):
            self.import_requested.emit()
            return
        if self.model.currentData() == CHOOSE_KEY:
            self.model.blockSignals(True)
            self.model.setCurrentIndex(self._model_index)
            self.model.blockSignals(False)
            path, _ = QFileDialog.getOpenFileName(self, "VALL-E X checkpoint", "", "Checkpoints (*.pt *.pth)")
            if path:
                self.set_model_file(path)
            return
        self._model_index = index

    def set_model_file(self, path: str) -> None:
        """Use a VALL-E X checkpoint file (put in the picker and selected; the loader checks it)."""
        add_model_entry(self.model, ImportedModel("valle", "pt", Path(path).name, path), select=True)
        self._model_index = self.model.currentIndex()

    def add_imported(self, model: ImportedModel) -> None:
        """A model imported anywhere in the window: VALL-E X ones join this picker and are selected."""
        if model.kind == "valle":
            add_model_entry(self.model, model, select=True)
            self._model_index = self.model.currentIndex()


def _device(ctx: object) -> str:
    from studio.engine.clone.synthesis_jobs import device_label  # torch: on the worker

    return device_label(ctx.device)  # type: ignore[attr-defined]


class DeviceLabel(QLabel):
    """Where the model runs and the memory in use there: asked of the worker before a run, then as each take
    and progress message tells it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Device: —", parent)
        self.setToolTip("Where the model runs (Settings → Compute device), and its memory in use")
        self._job = 0

    def ask(self, worker: QtWorker) -> None:
        if not self._job:
            self._job = worker.submit(_device, name="Checking the compute device", on_result=self._known,
                                      on_error=lambda _report: self._known(""))

    def _known(self, label: str) -> None:
        self._job = 0
        if label:
            self.show_device(label)

    def show_device(self, label: str) -> None:
        self.setText(f"Device: {label}")
