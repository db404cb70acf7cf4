""""Import local weights…" in the window: one dialog for files and folders, the check and copy on the worker, and
the imported model added to (and selected in) the picker of the panel that uses it."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QWidget

from studio.hub.local_import import ImportedModel, imported_models
from studio.ui.settings import AppSettings
from studio.worker.errors import ErrorReport
from studio.worker.jobs import Job
from studio.worker.qt import QtWorker

IMPORT_KEY = "import"  # the picker entry that opens the dialog
IMPORT_LABEL = "Import local weights…"
DIALOG_TITLE = ("Import local weights: pick a .pt / .th file, or model.bin, model.safetensors or config.json "
                "inside a model folder")
DIALOG_FILTER = "Model weights (*.pt *.pth *.th *.bin *.safetensors config.json);;All files (*)"


def pick_weights(parent: QWidget | None) -> str:
    """One dialog for both: a file is the model, a file inside a model folder means the folder (Qt has no
    native dialog that picks either a file or a folder)."""
    path, _ = QFileDialog.getOpenFileName(parent, DIALOG_TITLE, "", DIALOG_FILTER)
    return path


IMPORT = Job("studio.hub.local_import", "import_job")


def add_model_entry(combo: QComboBox, model: ImportedModel, select: bool) -> None:
    """Put an imported model in a picker, above the import entry (once), and select it if asked."""
    index = combo.findData(model.path)
    if index < 0:
        at = combo.findData(IMPORT_KEY)
        index = at if at >= 0 else combo.count()
        combo.insertItem(index, model.label, model.path)
        combo.setItemData(index, f"{model.format} model imported to {model.path}", 3)  # Qt.ToolTipRole
    if select:
        combo.setCurrentIndex(index)


def import_entry_taken(combo: QComboBox, previous: int) -> bool:
    """True when the user chose the import entry: the pick goes back to `previous` (the dialog then opens)."""
    if combo.currentData() != IMPORT_KEY:
        return False
    combo.blockSignals(True)
    combo.setCurrentIndex(previous)
    combo.blockSignals(False)
    return True


def fill_picker(combo: QComboBox, cache_dir: str, kind: str) -> None:
    """The imported models of `kind`, then the import entry, at the end of a picker."""
    for model in reversed(imported_models(cache_dir or None, kind)):
        add_model_entry(combo, model, select=False)
    if combo.findData(IMPORT_KEY) < 0:
        combo.addItem(IMPORT_LABEL, IMPORT_KEY)


class WeightsImporter(QObject):
    """Runs imports for the File menu and the pickers' entries; panels with an `import_requested` signal and an
    `add_imported(model)` method are told of every import."""

    imported = Signal(object)  # ImportedModel
    error = Signal(str, str)
    status = Signal(str)

    def __init__(self, worker: QtWorker, settings: AppSettings, panels: Iterable[QObject] = (),
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.worker, self.settings = worker, settings
        self._job = 0
        worker.cancelled.connect(lambda job_id, _partial: self._cancelled(job_id))
        for panel in panels:
            panel.import_requested.connect(self.choose)  # type: ignore[attr-defined]
            self.imported.connect(panel.add_imported)  # type: ignore[attr-defined]

    def choose(self) -> None:
        parent = self.parent()
        path = pick_weights(parent if isinstance(parent, QWidget) else None)
        if path:
            self.import_path(path)

    def import_path(self, path: str) -> None:
        if self._job:
            self.error.emit("An import is already running.", "Wait for it to finish, then import the next model.")
            return
        self._job = self.worker.submit(IMPORT, path, self.settings.cache_folder,
                                       name=f"Importing {Path(path).name}", on_result=self._done,
                                       on_error=self._failed)

    @property
    def busy(self) -> bool:
        return bool(self._job)

    def _done(self, model: ImportedModel) -> None:
        self._job = 0
        self.error.emit("", "")
        self.status.emit(f"Imported {model.name} ({model.kind}, {model.format}) to {model.path}")
        self.imported.emit(model)

    def _cancelled(self, job_id: int) -> None:
        if job_id == self._job:
            self._job = 0
            self.status.emit("Import cancelled; nothing was copied.")

    def _failed(self, report: ErrorReport) -> None:
        self._job = 0
        self.error.emit(report.message, report.remedy)
