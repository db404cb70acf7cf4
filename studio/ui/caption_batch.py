"""The Caption panel's folder view, for dataset builders: every picture of a folder captioned one job at a time
(cancel between pictures and between tokens), the captions in an editable table, written as `.txt` sidecars with
an optional trigger word, exported as CSV or JSON. Sidecars already there are read first, so work resumes."""

from __future__ import annotations

import html
import time
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.engine.caption.batch import export_table, images_in, read_sidecar, shared_sidecars, write_sidecar
from studio.engine.caption.result import CaptionResult
from studio.errors import StudioError
from studio.ui.caption_image_view import to_qimage
from studio.ui.caption_inputs import load_display
from studio.ui.caption_options import CaptionOptions
from studio.ui.widgets import button
from studio.worker.errors import ErrorReport
from studio.worker.jobs import Job
from studio.worker.qt import QtWorker

PICTURE, CAPTION, STATE = range(3)
PREVIEW_SIDE = 260
_BAD = QColor(200, 60, 40, 90)


CAPTION_ONE = Job("studio.engine.caption.jobs", "batch_with")


def _item(text: str, editable: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    flags = Qt.ItemIsSelectable | Qt.ItemIsEnabled
    item.setFlags(flags | Qt.ItemIsEditable if editable else flags)
    return item


class CaptionBatchView(QWidget):
    error = Signal(str, str)
    status = Signal(str)
    open_picture = Signal(str)  # double-clicked: caption it with attention in the Pictures tab

    def __init__(self, worker: QtWorker, options: CaptionOptions, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.worker, self.opts = worker, options
        self.folder: Path | None = None
        self.images: list[Path] = []
        self._queue: list[int] = []  # rows still to caption in this run
        self._notes: dict[int, str] = {}  # row -> a warning that stays in its State (a shared or unreadable .txt)
        self._run: tuple[str, dict[str, int], tuple[str, str]] = ("", {}, ("", ""))  # prompt, options, setup
        self._job, self._row, self._done, self._failures, self._total = 0, -1, 0, 0, 0
        self._started = 0.0
        self._build()
        worker.progress.connect(self._progress)
        worker.cancelled.connect(self._on_cancelled)

    def _build(self) -> None:
        self.folder_label = QLabel("No folder")
        self.folder_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.skip_done = QCheckBox("Skip pictures that have a caption")
        self.skip_done.setChecked(True)
        self.skip_done.setToolTip("Caption only the empty rows (a sidecar found in the folder counts as a caption)")
        self.run_btn = button("Caption all", "Caption the folder's pictures, one after the other", self.caption_all)
        self.cancel_btn = button("Cancel", "Stop after the picture being captioned now", self.cancel)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setMaximumWidth(160)
        self.progress_label = QLabel("")
        top = QHBoxLayout()
        top.addWidget(button("Choose folder…", "A folder of pictures (not its subfolders)", self.choose_folder))
        top.addWidget(self.folder_label, 1)
        for w in (self.skip_done, self.progress_label, self.bar, self.run_btn, self.cancel_btn):
            top.addWidget(w)

        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Picture", "Caption (double-click to edit)", "State"])
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(PICTURE, QHeaderView.Interactive)
        header.setSectionResizeMode(CAPTION, QHeaderView.Stretch)
        header.setSectionResizeMode(STATE, QHeaderView.Interactive)
        self.table.setColumnWidth(PICTURE, 180)
        self.table.setColumnWidth(STATE, 230)  # a long message is elided; its tooltip holds all of it
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.DoubleClicked | QAbstractItemView.EditKeyPressed)
        self.table.setWordWrap(True)
        self.table.verticalHeader().hide()
        self.table.itemChanged.connect(self._edited)
        self.table.currentCellChanged.connect(lambda row, *_: self._preview(row))
        self.table.cellDoubleClicked.connect(self._double_clicked)
        self.preview = QLabel("Pick a row to see its picture.\nDouble-click a picture's name to see where each "
                              "word of its caption looked.")
        self.preview.setAlignment(Qt.AlignCenter)
        self.preview.setWordWrap(True)
        self.preview.setMinimumWidth(PREVIEW_SIDE)
        split = QSplitter(Qt.Horizontal)
        split.addWidget(self.table)
        split.addWidget(self.preview)
        split.setStretchFactor(0, 3)
        split.setSizes([760, PREVIEW_SIDE + 20])

        self.prefix = QLineEdit()
        self.prefix.setPlaceholderText("Trigger word / prefix put before each caption, e.g. \"ohwx person, \"")
        self.overwrite = QCheckBox("Replace existing .txt")
        self.overwrite.setToolTip("Without this, a sidecar already beside a picture is left as it is")
        self.write_btn = button("Write sidecars", "Write <picture>.txt beside each captioned picture",
                                self.write_sidecars)
        self.csv_btn = button("Export CSV…", "Save the table as file,caption rows", lambda: self.export_dialog("csv"))
        self.json_btn = button("Export JSON…", "Save the table as a JSON list", lambda: self.export_dialog("json"))
        bottom = QHBoxLayout()
        bottom.addWidget(QLabel("Prefix"))
        bottom.addWidget(self.prefix, 1)
        for w in (self.overwrite, self.write_btn, self.csv_btn, self.json_btn):
            bottom.addWidget(w)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(split, 1)
        lay.addLayout(bottom)
        self._set_running(False)

    # ---- the folder ---------------------------------------------------------------------------------------
    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder of pictures")
        if folder:
            self.set_folder(folder)

    def set_folder(self, folder: str | Path) -> bool:
        """List the folder's pictures with the captions already beside them. False (and a message) if none."""
        if self._job:
            self.error.emit("A folder is being captioned.", "Cancel it first, then choose another folder.")
            return False
        try:
            images = images_in(folder)
        except StudioError as e:
            self.error.emit(e.message, e.remedy)
            return False
        self.folder, self.images = Path(folder), images
        clashes = shared_sidecars(images)
        self._notes = {}
        self.table.blockSignals(True)
        self.table.setRowCount(len(images))
        for row, path in enumerate(images):
            name = _item(path.name)
            name.setToolTip(str(path))
            self.table.setItem(row, PICTURE, name)
            found, problem = read_sidecar(path)
            self.table.setItem(row, CAPTION, _item(found or "", editable=True))
            self.table.setItem(row, STATE, _item(""))
            if path in clashes:
                self._notes[row] = f"shares {path.stem}.txt with another picture"
            elif problem:
                self._notes[row] = f"{problem} (left as it is)"
            self._set_state(row, "from its .txt" if found is not None else "")
        self.table.blockSignals(False)
        self.folder_label.setText(f"<b>{html.escape(self.folder.name)}</b> — {len(images)} pictures")
        self.folder_label.setToolTip(str(self.folder))
        self.error.emit("", "")
        self._set_running(False)
        return True

    def captions(self) -> list[tuple[Path, str]]:
        """(picture, caption) for every row with a caption, as the table shows them (edits included)."""
        out = []
        for row, path in enumerate(self.images):
            text = self.table.item(row, CAPTION).text().strip()
            if text:
                out.append((path, text))
        return out

    def _set_state(self, row: int, text: str, bad: bool = False) -> None:
        note = self._notes.get(row, "")
        text = " · ".join(t for t in (text, note) if t)
        item = self.table.item(row, STATE)
        item.setText(text)
        item.setToolTip(text)
        item.setBackground(_BAD if bad or note else QColor(0, 0, 0, 0))

    def _edited(self, item: QTableWidgetItem) -> None:
        if item.column() == CAPTION:
            self._set_state(item.row(), "edited")

    def _preview(self, row: int) -> None:
        if not 0 <= row < len(self.images):
            return
        try:
            rgb = load_display(self.images[row])
        except StudioError as e:
            self.preview.setText(e.message)
            return
        pixmap = QPixmap.fromImage(to_qimage(rgb))
        self.preview.setPixmap(pixmap.scaled(PREVIEW_SIDE, PREVIEW_SIDE, Qt.KeepAspectRatio, Qt.SmoothTransformation))

    def _double_clicked(self, row: int, column: int) -> None:
        if column == PICTURE and 0 <= row < len(self.images):
            self.open_picture.emit(str(self.images[row]))

    # ---- captioning ---------------------------------------------------------------------------------------
    def caption_all(self) -> None:
        if self._job or not self.images:
            if not self.images:
                self.error.emit("No folder chosen.", "Choose a folder of pictures first.")
            return
        skip = self.skip_done.isChecked()
        self._queue = [r for r in range(len(self.images))
                       if not (skip and self.table.item(r, CAPTION).text().strip())]
        if not self._queue:
            self.status.emit("Every picture has a caption; untick 'Skip pictures that have a caption' to redo them.")
            return
        # what this run asks for, read once: a prompt typed for the Pictures tab meanwhile changes nothing here
        self._run = (self.opts.prompt_text(), self.opts.options(), self.opts.setup())
        self._done, self._failures, self._total = 0, 0, len(self._queue)
        self._started = time.perf_counter()
        self.error.emit("", "")
        self._set_running(True)
        self._next()

    def _next(self) -> None:
        if not self._queue:
            bad = f"; {self._failures} could not be read (see the table)" if self._failures else ""
            self._finish(f"Captioned {self._done} of {self._total} pictures{bad}")
            return
        self._row = self._queue.pop(0)
        path = self.images[self._row]
        self._set_state(self._row, "captioning…")
        self.table.scrollToItem(self.table.item(self._row, PICTURE))
        prompt, options, setup = self._run
        self._job = self.worker.submit(CAPTION_ONE, str(path), prompt, options, setup, self.opts.settings.cache_folder,
                                       name=f"Captioning {path.name}", on_result=self._captioned,
                                       on_error=self._failed)

    def _captioned(self, result: CaptionResult) -> None:
        row, self._job = self._row, 0
        self._done += 1
        self.table.blockSignals(True)
        self.table.item(row, CAPTION).setText(result.text)
        self.table.blockSignals(False)
        self._set_state(row, f"captioned in {result.seconds:.1f} s")
        self._show_count()
        self._next()

    def _failed(self, report: ErrorReport) -> None:
        row, self._job = self._row, 0
        path = self.images[row]
        if path.name not in report.message and str(path) not in report.message:
            # not about this picture (missing weights, out of memory): every other picture would fail alike
            self._set_state(row, "")
            self._finish("Stopped")
            self.error.emit(report.message, report.remedy)
            return
        self._failures += 1
        self._set_state(row, report.message.replace(str(path), path.name), bad=True)
        self._show_count()
        self._next()

    def _show_count(self) -> None:
        seen = self._total - len(self._queue)
        self.bar.setValue(int(1000 * seen / max(1, self._total)))
        per = (time.perf_counter() - self._started) / max(1, seen)
        self.progress_label.setText(f"{seen} / {self._total} · {per:.1f} s each")

    def _progress(self, job_id: int, fraction: float, message: str) -> None:
        if job_id and job_id == self._job and message.startswith(("Loading", "Downloading")):
            self.progress_label.setText(message)

    def cancel(self) -> None:
        self._queue = []
        if self._job:
            self.worker.cancel(self._job)

    def _on_cancelled(self, job_id: int, _partial: object = None) -> None:
        if job_id and job_id == self._job:
            self._set_state(self._row, "")
            self._finish(f"Cancelled after {self._done} of {self._total} pictures")

    def _finish(self, message: str) -> None:
        self._job, self._row, self._queue = 0, -1, []
        self._set_running(False)
        self.progress_label.setText(message)
        self.status.emit(message)

    def _set_running(self, running: bool) -> None:
        self.run_btn.setEnabled(not running)
        self.cancel_btn.setEnabled(running)
        for w in (self.write_btn, self.csv_btn, self.json_btn):
            w.setEnabled(not running and bool(self.images))

    # ---- writing ------------------------------------------------------------------------------------------
    def write_sidecars(self) -> None:
        """A .txt beside every captioned picture; existing ones only when 'Replace existing .txt' is ticked."""
        written, problems = 0, []
        clashes = shared_sidecars(self.images)
        rows = {p: r for r, p in enumerate(self.images)}
        for path, text in self.captions():
            row = rows[path]
            try:
                if path in clashes:
                    raise StudioError(f"{path.stem}.txt would hold the captions of two pictures.",
                                      "Rename one of them.")
                write_sidecar(path, text, self.prefix.text(), self.overwrite.isChecked())
            except StudioError as e:
                problems.append(e)
                self._set_state(row, e.message, bad=True)
                continue
            written += 1
            self._notes.pop(row, None)  # its .txt is now the one shown
            self._set_state(row, f"written to {path.stem}.txt")
        summary = f"Wrote {written} sidecar file{'s' if written != 1 else ''}"
        if problems:
            first = problems[0]
            more = f" ({len(problems) - 1} more in the table.)" if len(problems) > 1 else ""
            self.error.emit(f"{summary}; {len(problems)} not written: {first.message}{more}", first.remedy)
        else:
            self.error.emit("", "")
        self.status.emit(summary)

    def export_dialog(self, fmt: str) -> None:
        if not self.images or self.folder is None:
            return
        default = self.folder.parent / f"{self.folder.name}-captions.{fmt}"
        path, _ = QFileDialog.getSaveFileName(self, "Export captions", str(default), f"{fmt.upper()} (*.{fmt})")
        if path:
            self.export_to(path)

    def export_to(self, path: str | Path) -> bool:
        rows = self.captions()
        if not rows:
            self.error.emit("No picture has a caption yet.", "Caption the folder (or type captions) first.")
            return False
        try:
            out = export_table(rows, path, self.prefix.text())
        except StudioError as e:
            self.error.emit(e.message, e.remedy)
            return False
        self.error.emit("", "")
        self.status.emit(f"Saved {len(rows)} captions to {out}")
        return True

    def shutdown(self) -> None:
        self.cancel()
