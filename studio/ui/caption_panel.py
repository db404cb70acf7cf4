"""Caption panel: pictures in, a BLIP caption out, and what each word of it looked at in the picture; a second
tab captions a whole folder for a dataset (studio.ui.caption_batch)."""

from __future__ import annotations

import html
import io
import tempfile
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QSizePolicy,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from studio.engine.caption.overlay import blend, token_sheet
from studio.engine.caption.result import CaptionResult
from studio.engine.render import write_png
from studio.errors import StudioError
from studio.hub.local_import import ImportedModel
from studio.outputs import check_output, write_bytes, write_text
from studio.ui.caption_batch import CaptionBatchView
from studio.ui.caption_image_view import CaptionImageView, to_qimage
from studio.ui.caption_inputs import IMAGE_FILTER, clipboard_bytes, load_display, save_pasted
from studio.ui.caption_options import CaptionOptions
from studio.ui.caption_tokens import AlternativesStrip, TokenStrip, patch_readout
from studio.ui.settings import AppSettings
from studio.ui.widgets import FileDropMixin, PanelJob, button
from studio.worker.errors import ErrorReport
from studio.worker.jobs import Job
from studio.worker.qt import QtWorker

EXPORT_SIDE = 4096  # overlays are exported at the picture's own size up to this (a 50 MP blend would need GBs)


CAPTION = Job("studio.engine.caption.jobs", "caption_with")
CONTINUE = Job("studio.engine.caption.jobs", "continue_with")


def export_paths(path: str | Path) -> tuple[Path, Path, Path]:
    """What Export writes for a chosen name: the overlay .png, the caption .txt and the <name>-tokens.png sheet."""
    png = Path(path).with_suffix(".png")
    return png, png.with_suffix(".txt"), png.with_name(f"{png.stem}-tokens.png")


class CaptionPanel(PanelJob, FileDropMixin, QWidget):
    error = Signal(str, str)  # an empty message clears the window's error banner
    status = Signal(str)
    import_requested = Signal()  # the model picker's "Import local weights…" entry

    def __init__(self, worker: QtWorker, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.worker, self.settings = worker, settings
        self.images: list[Path] = []
        self.path: Path | None = None
        self.rgb: np.ndarray | None = None  # the picture as shown (at most DISPLAY_SIDE)
        self.results: dict[str, CaptionResult] = {}
        self.setups: dict[str, tuple[str, str]] = {}  # picture -> (model, precision) that wrote its caption
        self._job_setup: tuple[str, str] = ("", "")
        self.result: CaptionResult | None = None
        self.token = -1
        self._job = 0
        self._job_path: Path | None = None
        self._select_after = 0  # the token shown when a caption arrives (the replaced one after a continuation)
        self._pasted = 0
        self._paste_dir = Path(tempfile.mkdtemp(prefix="voice-studio-paste-"))
        self._build()
        self.worker.progress.connect(self._progress)
        self.worker.cancelled.connect(self._on_cancelled)
        paste = QShortcut(QKeySequence.Paste, self, activated=self.paste)
        paste.setContext(Qt.WidgetWithChildrenShortcut)  # the prompt field keeps its own text paste
        remove = QShortcut(QKeySequence.Delete, self.thumbs, activated=self.remove_picture)
        remove.setContext(Qt.WidgetShortcut)

    # ---- layout -------------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.file_label = QLabel("No picture")
        self.file_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.opts = CaptionOptions(self.settings)
        self.opts.import_requested.connect(self.import_requested)
        # the option widgets by their names, as the rest of the panel and its tests use them
        self.model, self.prompt, self.beams = self.opts.model, self.opts.prompt, self.opts.beams
        self.max_len, self.min_len, self.no_repeat = self.opts.max_len, self.opts.min_len, self.opts.no_repeat
        self.run_btn = button("Caption", "Caption the picture shown", self.start)
        self.cancel_btn = button("Cancel", "Stop captioning", self.cancel)
        self.cancel_btn.setEnabled(False)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setMaximumWidth(160)
        self.progress_label = QLabel("")
        top = QHBoxLayout()
        top.addWidget(button("Open…", "Open one or more pictures (or drop them, or paste with Ctrl+V)",
                             self.choose_files))
        top.addWidget(self.file_label, 1)
        for w in (self.progress_label, self.bar, self.run_btn, self.cancel_btn):
            top.addWidget(w)

        self.thumbs = QListWidget()
        self.thumbs.setViewMode(QListView.IconMode)
        self.thumbs.setFlow(QListView.LeftToRight)
        self.thumbs.setWrapping(False)
        self.thumbs.setIconSize(QSize(64, 44))
        self.thumbs.setFixedHeight(72)
        self.thumbs.setMovement(QListView.Static)
        self.thumbs.setToolTip("Pictures opened here; Delete takes the selected one off the strip (the file stays)")
        self.thumbs.currentRowChanged.connect(self._thumb_picked)
        self.thumbs.hide()

        self.view = CaptionImageView()
        self.view.hovered.connect(self._hovered)
        self.caption_label = QLabel("")
        self.caption_label.setWordWrap(True)
        self.caption_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        font = self.caption_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        self.caption_label.setFont(font)
        self.tokens = TokenStrip()
        self.tokens.token_selected.connect(self.select_token)
        self.alternatives = AlternativesStrip()
        self.alternatives.chosen.connect(self.continue_with)
        self.layer = QComboBox()
        self.head = QComboBox()
        for combo in (self.layer, self.head):
            combo.addItem("average", None)
            combo.currentIndexChanged.connect(lambda _i: self._refresh_overlay())
        self.hover_label = QLabel("Click a token to see where it looked; hover the picture to see which tokens "
                                  "looked at a spot.")
        self.hover_label.setWordWrap(True)
        self.candidates = QListWidget()
        self.candidates.setWordWrap(True)  # whole captions, no sideways scrolling
        self.candidates.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.candidates.setToolTip("The beams, best first, with transformers' score (mean log-probability)")
        self.copy_btn = button("Copy caption", "Copy the caption to the clipboard", self.copy_caption)
        self.export_btn = button("Export…", "Save the caption (.txt) and the overlay shown (.png)", self.export_dialog)
        heads = QHBoxLayout()
        for w in (QLabel("Layer"), self.layer, QLabel("Head"), self.head):
            heads.addWidget(w)
        heads.addStretch(1)
        actions = QHBoxLayout()
        actions.addStretch(1)
        actions.addWidget(self.copy_btn)
        actions.addWidget(self.export_btn)
        side = QWidget()
        col = QVBoxLayout(side)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(QLabel("<b>Caption</b> (click a token)"))
        col.addWidget(self.caption_label)
        col.addWidget(self.tokens)
        col.addWidget(QLabel("Alternatives here (click one to continue the caption from it)"))
        col.addWidget(self.alternatives)
        col.addLayout(heads)
        col.addWidget(self.hover_label)
        col.addWidget(QLabel("<b>Beam candidates</b>"))
        col.addWidget(self.candidates, 1)
        col.addLayout(actions)
        split = QSplitter(Qt.Horizontal)
        split.addWidget(self.view)
        split.addWidget(side)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([620, 420])

        page = QWidget()
        pictures = QVBoxLayout(page)
        pictures.addLayout(top)
        pictures.addWidget(self.thumbs)
        pictures.addWidget(split, 1)
        self.batch = CaptionBatchView(self.worker, self.opts)
        self.batch.error.connect(self.error)
        self.batch.status.connect(self.status)
        self.batch.open_picture.connect(self._open_from_batch)
        self.tabs = QTabWidget()
        self.tabs.addTab(page, "Pictures")
        self.tabs.addTab(self.batch, "Folder (dataset)")
        lay = QVBoxLayout(self)
        lay.addWidget(self.opts)
        lay.addWidget(self.tabs, 1)
        self._show_result(None)

    # ---- pictures in --------------------------------------------------------------------------------------
    def choose_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open pictures", "", IMAGE_FILTER)
        if paths:
            self.open_files([Path(p) for p in paths])

    def on_files_dropped(self, paths: list[Path]) -> None:
        self.open_files(paths)

    def open_file(self, path: str | Path) -> bool:
        return self.open_files([Path(path)]) > 0

    def open_files(self, paths: list[Path]) -> int:
        """Add pictures to the strip and show the first good one. Bad files are skipped with a message."""
        shown: tuple[Path, np.ndarray] | None = None
        failures: list[StudioError] = []
        for path in paths:
            try:
                rgb = load_display(path)
            except StudioError as e:
                failures.append(e)
                continue
            path = Path(path)
            if path not in self.images:
                self.images.append(path)
                self._add_thumb(path, rgb)
            shown = shown or (path, rgb)
        if failures:
            more = f" ({len(failures) - 1} more could not be opened.)" if len(failures) > 1 else ""
            self.error.emit(failures[0].message + more, failures[0].remedy)
        elif shown:
            self.error.emit("", "")
        if shown:
            self._show_picture(*shown)
        return len(paths) - len(failures)

    def paste(self) -> None:
        """Ctrl+V: a picture (or picture files) from the clipboard."""
        mime = QApplication.clipboard().mimeData()
        if mime.hasUrls() and all(u.isLocalFile() for u in mime.urls()):
            self.open_files([Path(u.toLocalFile()) for u in mime.urls()])
            return
        data = clipboard_bytes(mime)
        if data is None:
            self.error.emit("The clipboard holds no picture.", "Copy a picture (or picture files), then paste.")
            return
        self.paste_bytes(data)

    def paste_bytes(self, data: bytes) -> bool:
        try:
            self._pasted += 1
            path = save_pasted(data, self._paste_dir, self._pasted)
        except StudioError as e:
            self.error.emit(e.message, e.remedy)
            return False
        return self.open_files([path]) > 0

    def _add_thumb(self, path: Path, rgb: np.ndarray) -> None:
        from PIL import Image

        small = Image.fromarray(rgb)
        small.thumbnail((128, 96))
        # on a fixed canvas: a 10000 x 50 picture would make a 128 x 1 icon Qt cannot paint
        canvas = Image.new("RGB", (128, 96), (128, 128, 128))
        canvas.paste(small, ((128 - small.width) // 2, (96 - small.height) // 2))
        item = QListWidgetItem(QIcon(QPixmap.fromImage(to_qimage(np.asarray(canvas)))), path.name[:14], self.thumbs)
        item.setToolTip(f"{path}\nDelete takes it off the strip (the file stays)")
        item.setData(Qt.UserRole, str(path))
        self.thumbs.setVisible(len(self.images) > 1)

    def remove_picture(self) -> None:
        """Delete on the strip: the picture shown leaves the panel (the file stays where it is)."""
        if self.path is None or self.path not in self.images or self._job:
            return
        row = self.images.index(self.path)
        self.images.pop(row)
        self.results.pop(str(self.path), None)
        self.thumbs.blockSignals(True)
        self.thumbs.takeItem(row)
        self.thumbs.blockSignals(False)
        self.thumbs.setVisible(len(self.images) > 1)
        self.path = self.rgb = None
        self.view.set_image(None)
        self._show_result(None)
        self.file_label.setText("No picture")
        for candidate in self.images[row:] + self.images[:row][::-1]:  # the next one that still opens
            try:
                self._show_picture(candidate, load_display(candidate))
                return
            except StudioError:
                continue

    def _thumb_picked(self, row: int) -> None:
        if 0 <= row < len(self.images) and self.images[row] != self.path:
            try:
                self._show_picture(self.images[row], load_display(self.images[row]))
            except StudioError as e:  # changed or removed since it was opened: the strip stays on what is shown
                self.error.emit(e.message, e.remedy)
                self.thumbs.blockSignals(True)
                self.thumbs.setCurrentRow(self.images.index(self.path) if self.path in self.images else -1)
                self.thumbs.blockSignals(False)

    def _show_picture(self, path: Path, rgb: np.ndarray) -> None:
        self.path, self.rgb = path, rgb
        self.thumbs.blockSignals(True)
        self.thumbs.setCurrentRow(self.images.index(path))
        self.thumbs.blockSignals(False)
        shown = "pasted picture" if path.parent == self._paste_dir else path.name
        self.file_label.setText(f"<b>{html.escape(shown)}</b>")
        self.file_label.setToolTip(str(path))
        self.view.set_image(rgb)
        self._show_result(self.results.get(str(path)))
        self.status.emit(f"Ready to caption {shown}")

    # ---- model picker -------------------------------------------------------------------------------------
    def add_model_folder(self, folder: str | Path) -> None:
        self.opts.add_model_folder(folder)

    def add_imported(self, model: ImportedModel) -> None:
        self.opts.add_imported(model)

    def _open_from_batch(self, path: str) -> None:
        self.tabs.setCurrentIndex(0)
        self.open_file(path)

    # ---- running ------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self.path is None:
            self.error.emit("No picture chosen.", "Open, drop or paste a picture first.")
            return
        if self._job:
            return
        self._begin_job(self.opts.setup())
        self._select_after = 0
        self._job = self.worker.submit(CAPTION, str(self.path), self.opts.prompt_text(), self.opts.options(),
                                       self._job_setup, self.settings.cache_folder,
                                       name=f"Captioning {self.path.name}", on_result=self._finished,
                                       on_error=self._failed)

    def continue_with(self, choice: int) -> None:
        """The caption continued from alternative `choice` of the selected token (on the worker)."""
        r = self.result
        if r is None or self._job or self.path is None or not 0 <= self.token < len(r.tokens):
            return
        self._begin_job(self.setups.get(str(self.path), self.opts.setup()))  # the model that wrote the caption
        self._select_after = self.token
        self._job = self.worker.submit(CONTINUE, r, self.token, choice, self.opts.options(), self._job_setup,
                                       self.settings.cache_folder, name=f"Continuing the caption of {self.path.name}",
                                       on_result=self._finished, on_error=self._failed)

    def _begin_job(self, setup: tuple[str, str]) -> None:
        self._job_setup = setup
        self.bar.setValue(0)
        self.run_btn.setEnabled(False)
        self.cancel_btn.setEnabled(True)
        self._job_path = self.path

    def _finished(self, result: CaptionResult) -> None:
        path = self._job_path
        self._end_job()
        self.bar.setValue(1000)
        self.progress_label.setText(f"{result.seconds:.1f} s")
        if path is None:
            return
        self.results[str(path)] = result
        self.setups[str(path)] = self._job_setup
        self.error.emit("", "")
        if path == self.path:
            self._show_result(result)
        self.status.emit(f"Captioned {path.name} in {result.seconds:.1f} s")

    def _failed(self, report: ErrorReport) -> None:
        self._end_job()
        self.progress_label.setText("Failed")
        self.error.emit(report.message, report.remedy)

    def _on_cancelled(self, job_id: int, _partial: object = None) -> None:
        if job_id == self._job:
            self._end_job()
            self.progress_label.setText("Cancelled")

    def _end_job(self) -> None:
        self._job, self._job_path = 0, None
        self.run_btn.setEnabled(True)
        self.cancel_btn.setEnabled(False)

    # ---- the caption and its attention --------------------------------------------------------------------
    def _show_result(self, result: CaptionResult | None) -> None:
        self.result, self.token = result, -1
        self.caption_label.setText(result.text if result else "—")
        self.candidates.clear()
        has = result is not None
        for w in (self.copy_btn, self.export_btn, self.layer, self.head):
            w.setEnabled(has)
        if result is None:
            self.tokens.set_tokens([], [], [])
            self.alternatives.clear()
            self.view.set_overlay(None)
            return
        self.tokens.set_tokens(result.pieces, result.token_probs, result.top5)
        for c in result.candidates:
            self.candidates.addItem(f"{c.score:+.3f}   {c.text}")
        att = result.cross_attention
        for combo, n, name in ((self.layer, 0, "layer"), (self.head, 1, "head")):
            combo.blockSignals(True)
            combo.clear()
            combo.addItem("average", None)
            for i in range(0 if att is None else att.shape[n]):
                combo.addItem(f"{name} {i + 1}", i)
            combo.blockSignals(False)
        if result.pieces:  # the first word's attention (or the replaced one's), so the overlay is there at once
            self.tokens.setCurrentRow(min(self._select_after, len(result.pieces) - 1))

    def select_token(self, index: int) -> None:
        self.token = index
        r = self.result
        if r is not None and 0 <= index < len(r.tokens):
            self.alternatives.set_alternatives(r.top5[index], r.pieces[index])
        else:
            self.alternatives.clear()
        self._refresh_overlay()

    def _refresh_overlay(self) -> None:
        r = self.result
        if r is None or r.cross_attention is None or self.rgb is None or not 0 <= self.token < len(r.tokens):
            self.view.set_overlay(None)
            return
        m = r.patch_map(self.token, self.layer.currentData(), self.head.currentData())
        self.view.set_overlay(blend(self.rgb, m), (float(m.min()), float(m.max())))

    def _hovered(self, fx: float, fy: float) -> None:
        """Which tokens looked hardest at the patch under the mouse (with the layer/head chosen)."""
        r = self.result
        if r is None or r.cross_attention is None or fx < 0:
            self.view.marker = None
            self.view.update()
            return
        g = r.grid
        row, col = min(g - 1, int(fy * g)), min(g - 1, int(fx * g))
        words = patch_readout(r, row, col, self.layer.currentData(), self.head.currentData())
        self.hover_label.setText(f"Patch row {row + 1}, column {col + 1} — looked at most by {words}")
        self.view.marker = ((col + 0.5) / g, (row + 0.5) / g)
        self.view.update()

    # ---- copy and export ----------------------------------------------------------------------------------
    def copy_caption(self) -> None:
        if self.result is not None:
            QApplication.clipboard().setText(self.result.text)
            self.status.emit("Caption copied")

    def export_dialog(self) -> None:
        if self.result is None or self.path is None:
            return
        folder = Path.home() if self.path.parent == self._paste_dir else self.path.parent
        default = folder / f"{self.path.stem}-caption.png"
        path, _ = QFileDialog.getSaveFileName(self, "Export caption and overlay", str(default), "PNG (*.png)")
        if not path:
            return
        # the dialog asked about the name typed; the files written beside it are asked about here
        there = [p for p in export_paths(path) if p.exists() and p != Path(path)]
        if there:
            names = ", ".join(p.name for p in there)
            answer = QMessageBox.question(self, "Replace files?", f"{names} already exist(s) in {there[0].parent}. "
                                          "Replace?", QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
            if answer != QMessageBox.Yes:
                return
        self.export_to(path, replace=[*there, Path(path)])

    def export_to(self, path: str | Path, replace: list[Path] | tuple[Path, ...] = ()) -> None:
        """`path`.png: the picture at its own size (up to EXPORT_SIDE) with the overlay shown, or plain;
        `path`-tokens.png: every token's overlay (the layer / head chosen), as the CLI's sheet; `path`.txt: the
        caption. All atomic, none over the input picture, none over an existing file unless it is in `replace`
        (the user said yes to it); a failure is a message."""
        if self.result is None or self.path is None or self.rgb is None:
            return
        from PIL import Image

        from studio.engine.caption.image import open_image

        png, txt, sheet = export_paths(path)
        r = self.result
        try:
            for out in (png, txt, sheet):
                check_output(out, [self.path], [out.suffix])
                if out.exists() and out not in replace:
                    raise StudioError(f"'{out}' already exists; nothing was exported.",
                                      "Choose another name (Export… asks before replacing files).")
            full = open_image(self.path)
            full.thumbnail((EXPORT_SIDE, EXPORT_SIDE), Image.BICUBIC)
            picture = np.asarray(full, dtype=np.uint8)
            if self.view.overlay is not None:
                m = self.result.patch_map(self.token, self.layer.currentData(), self.head.currentData())
                picture = blend(picture, m)
            buf = io.BytesIO()
            Image.fromarray(picture).save(buf, "PNG")
            write_bytes(png, buf.getvalue())
            write_text(txt, r.text + "\n")
            if r.cross_attention is not None and r.tokens:
                layer, head = self.layer.currentData(), self.head.currentData()
                maps = [r.patch_map(i, layer, head) for i in range(len(r.tokens))]
                write_png(sheet, token_sheet(np.asarray(full, dtype=np.uint8), maps, r.pieces))
        except StudioError as e:
            self.error.emit(e.message, e.remedy)
            return
        self.error.emit("", "")
        self.status.emit(f"Saved {png}, {sheet.name} and {txt.name}")

    def shutdown(self) -> None:
        self.batch.shutdown()
        if self._job:
            self.worker.cancel(self._job)
        import shutil

        shutil.rmtree(self._paste_dir, ignore_errors=True)
