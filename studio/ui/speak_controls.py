"""The Speak view's synthesis settings: sampling (temperature, top-k, seed), the VALL-E X model and its precision,
and whether takes are transcribed back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLayoutItem,
    QProgressBar,
    QSizePolicy,
    QSpinBox,
    QWidget,
)

from studio.engine.clone.result import Settings
from studio.engine.clone.synthesis_jobs import PRECISIONS
from studio.hub.local_import import ImportedModel
from studio.ui.elided_label import ElidedLabel
from studio.ui.import_weights import add_model_entry, fill_picker, import_entry_taken
from studio.ui.widgets import button
from studio.worker.jobs import Job
from studio.worker.qt import QtWorker

CHOOSE_KEY = "choose"  # the model picker's "Choose file…" entry
MODEL_CHARS = 14  # the model picker shortens longer names (the whole name is in its list and tooltip)


class FlowLayout(QLayout):
    """Items left to right, wrapping onto another row when the width runs out (as Qt's flow layout example):
    the settings take one row on a wide window and two on a 1366-pixel screen."""

    def __init__(self, parent: QWidget | None = None, spacing: int = 10) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self._spacing = spacing

    def addItem(self, item: QLayoutItem) -> None:  # noqa: N802 - Qt override
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:  # noqa: N802 - Qt override
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:  # noqa: N802 - Qt override
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:  # noqa: N802 - Qt override
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt override
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt override
        return self._place(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:  # noqa: N802 - Qt override
        super().setGeometry(rect)
        self._place(rect, move=True)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        """All on one row."""
        hints = [item.sizeHint() for item in self._items]
        m = self.contentsMargins()
        return QSize(sum(h.width() for h in hints) + self._spacing * max(0, len(hints) - 1) + m.left() + m.right(),
                     max((h.height() for h in hints), default=0) + m.top() + m.bottom())

    def minimumSize(self) -> QSize:  # noqa: N802 - Qt override
        """The widest item alone on a row."""
        size = QSize()
        for item in self._items:
            size = size.expandedTo(item.minimumSize())
        m = self.contentsMargins()
        return size + QSize(m.left() + m.right(), m.top() + m.bottom())

    def _place(self, rect: QRect, move: bool) -> int:
        m = self.contentsMargins()
        area = rect.adjusted(m.left(), m.top(), -m.right(), -m.bottom())
        x, y, row_height = area.x(), area.y(), 0
        for item in self._items:
            hint = item.sizeHint()
            if x > area.x() and x + hint.width() > area.right() + 1:  # no room left on this row
                x, y, row_height = area.x(), y + row_height + self._spacing // 2, 0
            if move:
                item.setGeometry(QRect(QPoint(x, y), QSize(min(hint.width(), area.width()), hint.height())))
            x += hint.width() + self._spacing
            row_height = max(row_height, hint.height())
        return y + row_height - rect.y() + m.bottom()


def _pair(label: str, widget: QWidget) -> QWidget:
    """A setting and its name, kept together when the row wraps."""
    box = QWidget()
    lay = QHBoxLayout(box)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.setSpacing(4)
    if label:
        lay.addWidget(QLabel(label))
    lay.addWidget(widget)
    return box


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
        self.model.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.model.setMinimumContentsLength(MODEL_CHARS)
        self.model.addItem("VALL-E X", "vallex")
        self.model.setItemData(0, "Plachta/VALL-E-X vallex-checkpoint.pt (downloaded once, 1.5 GB)", 3)
        fill_picker(self.model, cache_folder, "valle")  # earlier imports, then "Import local weights…"
        self.model.addItem("Choose file…", CHOOSE_KEY)
        self._model_index = 0
        self.model.currentIndexChanged.connect(self._model_changed)
        self.model.currentIndexChanged.connect(self._model_tip)
        self._model_tip()
        self.precision = QComboBox()
        for key in PRECISIONS:
            self.precision.addItem(key, key)
        self.precision.setToolTip("fast: on a CPU int8 AR, and bfloat16 NAR where the CPU runs it faster; float32 on a "
                                  "GPU; auto: fast on a CPU, float32 on a GPU")
        self.check_words = QCheckBox("Check words")
        self.check_words.setChecked(True)
        self.check_words.setToolTip("Transcribe each take back and mark skipped, repeated or leaked words")
        lay = FlowLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        for label, w in (("Temperature", self.temperature), ("Top-k", self.top_k), ("Seed", self.seed),
                         ("Model", self.model), ("Precision", self.precision), ("", self.check_words)):
            lay.addWidget(_pair(label, w))
        self.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Preferred)

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

    def _model_tip(self) -> None:
        """The whole name of the model in use (the picker may shorten it)."""
        tip = self.model.currentData(Qt.ToolTipRole)
        self.model.setToolTip(f"{self.model.currentText()}\n{tip}" if tip else self.model.currentText())

    def set_model_file(self, path: str) -> None:
        """Use a VALL-E X checkpoint file (put in the picker and selected; the loader checks it)."""
        add_model_entry(self.model, ImportedModel("valle", "pt", Path(path).name, path), select=True)
        self._model_index = self.model.currentIndex()

    def add_imported(self, model: ImportedModel) -> None:
        """A model imported anywhere in the window: VALL-E X ones join this picker and are selected."""
        if model.kind == "valle":
            add_model_entry(self.model, model, select=True)
            self._model_index = self.model.currentIndex()


class RunBar(QWidget):
    """Synthesize and Cancel, the progress of the run with the step under way, and the device it runs on."""

    def __init__(self, synthesize: Callable[[], None], cancel: Callable[[], None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.synth_btn = button("Synthesize", "Speak every sentence in the voice", synthesize)
        self.synth_btn.setStyleSheet("font-weight: bold;")
        self.cancel_btn = button("Cancel", "Stop; the sentences already spoken are kept", cancel)
        self.cancel_btn.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setMaximumWidth(200)
        self.progress.setMinimumWidth(60)
        self.progress_label = QLabel()
        self.progress_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.device_label = DeviceLabel()
        self.device_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.device_label.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        for w in (self.synth_btn, self.cancel_btn, self.progress):
            lay.addWidget(w)
        lay.addWidget(self.progress_label, 1)  # the step under way and the device share what room is left
        lay.addWidget(self.device_label, 1)


DEVICE_LABEL = Job("studio.engine.clone.synthesis_jobs", "device_label_job")


class DeviceLabel(ElidedLabel):
    """Where the model runs and the memory in use there: asked of the worker before a run, then as each take
    and progress message tells it (shortened to its room: a GPU's name is long)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Device: —", parent)
        self.setToolTip("Where the model runs (Settings → Compute device), and its memory in use")
        self._job = 0

    def ask(self, worker: QtWorker) -> None:
        if not self._job:
            self._job = worker.submit(DEVICE_LABEL, name="Checking the compute device", on_result=self._known,
                                      on_error=lambda _report: self._known(""))

    def _known(self, label: str) -> None:
        self._job = 0
        if label:
            self.show_device(label)

    def show_device(self, label: str) -> None:
        self.setText(f"Device: {label}")
