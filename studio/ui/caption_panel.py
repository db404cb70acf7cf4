"""Caption panel: pictures in, a BLIP caption out, and what each word of it looked at in the picture."""

from __future__ import annotations

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
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from studio.engine.caption.overlay import blend
from studio.engine.caption.result import CaptionResult
from studio.errors import StudioError
from studio.outputs import check_output, write_bytes, write_text
from studio.ui.caption_image_view import CaptionImageView, to_qimage
from studio.ui.caption_inputs import IMAGE_FILTER, clipboard_bytes, load_display, save_pasted
from studio.ui.caption_tokens import TokenStrip, patch_readout
from studio.ui.import_weights import fill_picker, import_entry_taken
from studio.ui.settings import AppSettings
from studio.ui.widgets import FileDropMixin, button
from studio.worker.errors import ErrorReport
from studio.worker.qt import QtWorker

MODELS = [("BLIP base", "base"), ("BLIP large", "large")]


def _caption(ctx: object, image: str, prompt: str, options: dict[str, int], model: str, cache_dir: str
             ) -> CaptionResult:
    from studio.engine.caption.decoding import DecodeOptions  # torch loads on the worker, never on the UI thread
    from studio.engine.caption.jobs import caption_job

    opts = DecodeOptions(**options)
    opts.validate()
    return caption_job(ctx, image, prompt, opts, model, cache_dir or None)  # type: ignore[arg-type]


def _spin(low: int, high: int, value: int, tip: str) -> QSpinBox:
    s = QSpinBox()
    s.setRange(low, high)
    s.setValue(value)
    s.setToolTip(tip)
    return s


class CaptionPanel(FileDropMixin, QWidget):
    error = Signal(str, str)  # an empty message clears the window's error banner
    status = Signal(str)

    def __init__(self, worker: QtWorker, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.worker, self.settings = worker, settings
        self.images: list[Path] = []
        self.path: Path | None = None
        self.rgb: np.ndarray | None = None  # the picture as shown (at most DISPLAY_SIDE)
        self.results: dict[str, CaptionResult] = {}
        self.result: CaptionResult | None = None
        self.token = -1
        self._job = 0
        self._job_path: Path | None = None
        self._pasted = 0
        self._paste_dir = Path(tempfile.mkdtemp(prefix="voice-studio-paste-"))
        self._build()
        self.worker.progress.connect(self._progress)
        self.worker.cancelled.connect(self._on_cancelled)
        paste = QShortcut(QKeySequence.Paste, self, activated=self.paste)
        paste.setContext(Qt.WidgetWithChildrenShortcut)  # the prompt field keeps its own text paste

    # ---- layout -------------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.file_label = QLabel("No picture")
        self.file_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.model = QComboBox()
        for label, key in MODELS:
            self.model.addItem(label, key)
        fill_picker(self.model, self.settings.cache_folder, "blip")  # then "Import local weights…": a folder
        self._model_index = 0
        self.model.currentIndexChanged.connect(self._model_changed)
        self.prompt = QLineEdit()
        self.prompt.setPlaceholderText("Prompt: the caption's start, e.g. \"a photograph of\" (optional)")
        top = QHBoxLayout()
        top.addWidget(button("Open…", "Open one or more pictures (or drop them, or paste with Ctrl+V)",
                             self.choose_files))
        top.addWidget(self.file_label, 1)
        top.addWidget(QLabel("Model"))
        top.addWidget(self.model)
        top.addWidget(self.prompt, 2)

        self.beams = _spin(1, 10, 3, "Beam search width: 1 is greedy; more beams list alternative captions")
        self.max_len = _spin(1, 100, 20, "Most new tokens in the caption")
        self.min_len = _spin(0, 100, 0, "The end token is not allowed before this many new tokens")
        self.no_repeat = _spin(0, 6, 0, "No n-gram of this size may appear twice (0: off)")
        self.run_btn = button("Caption", "Caption the picture shown", self.start)
        self.cancel_btn = button("Cancel", "Stop captioning", self.cancel)
        self.cancel_btn.setEnabled(False)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setMaximumWidth(160)
        self.progress_label = QLabel("")
        opts = QHBoxLayout()
        for text, w in (("Beams", self.beams), ("Max length", self.max_len), ("Min length", self.min_len),
                        ("No-repeat n-gram", self.no_repeat)):
            opts.addWidget(QLabel(text))
            opts.addWidget(w)
        opts.addStretch(1)
        for w in (self.progress_label, self.bar, self.run_btn, self.cancel_btn):
            opts.addWidget(w)

        self.thumbs = QListWidget()
        self.thumbs.setViewMode(QListView.IconMode)
        self.thumbs.setFlow(QListView.LeftToRight)
        self.thumbs.setWrapping(False)
        self.thumbs.setIconSize(QSize(64, 44))
        self.thumbs.setFixedHeight(72)
        self.thumbs.setMovement(QListView.Static)
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

        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addLayout(opts)
        lay.addWidget(self.thumbs)
        lay.addWidget(split, 1)
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
        item = QListWidgetItem(QIcon(QPixmap.fromImage(to_qimage(np.asarray(small)))), path.name[:14], self.thumbs)
        item.setToolTip(str(path))
        item.setData(Qt.UserRole, str(path))
        self.thumbs.setVisible(len(self.images) > 1)

    def _thumb_picked(self, row: int) -> None:
        if 0 <= row < len(self.images) and self.images[row] != self.path:
            try:
                self._show_picture(self.images[row], load_display(self.images[row]))
            except StudioError as e:  # changed or removed since it was opened
                self.error.emit(e.message, e.remedy)

    def _show_picture(self, path: Path, rgb: np.ndarray) -> None:
        self.path, self.rgb = path, rgb
        self.thumbs.blockSignals(True)
        self.thumbs.setCurrentRow(self.images.index(path))
        self.thumbs.blockSignals(False)
        shown = "pasted picture" if path.parent == self._paste_dir else path.name
        self.file_label.setText(f"<b>{shown}</b>")
        self.file_label.setToolTip(str(path))
        self.view.set_image(rgb)
        self._show_result(self.results.get(str(path)))
        self.status.emit(f"Ready to caption {shown}")

    # ---- model picker -------------------------------------------------------------------------------------
    def _model_changed(self, index: int) -> None:
        if import_entry_taken(self.model, self._model_index):  # a BLIP folder, picked here
            folder = QFileDialog.getExistingDirectory(self, "Choose a BLIP model folder (config.json, "
                                                      "model.safetensors, tokenizer.json)")
            if folder:
                self.add_model_folder(folder)
            return
        self._model_index = index

    def add_model_folder(self, folder: str | Path) -> None:
        """A local BLIP folder (transformers' save_pretrained layout) as a picker entry, selected."""
        folder = str(folder)
        index = self.model.findData(folder)
        if index < 0:
            index = max(0, self.model.count() - 1)  # above the import entry
            self.model.insertItem(index, f"{Path(folder).name} (folder)", folder)
            self.model.setItemData(index, folder, Qt.ToolTipRole)
        self.model.setCurrentIndex(index)

    def options(self) -> dict[str, int]:
        beams = self.beams.value()
        return dict(beam_size=beams, num_return=beams, max_new_tokens=self.max_len.value(),
                    min_new_tokens=self.min_len.value(), no_repeat_ngram_size=self.no_repeat.value())

    # ---- running ------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self.path is None:
            self.error.emit("No picture chosen.", "Open, drop or paste a picture first.")
            return
        if self._job:
            return
        self.bar.setValue(0)
        self.run_btn.setEnabled(False)
        self.cancel_btn.setEnabled(True)
        self._job_path = self.path
        self._job = self.worker.submit(_caption, str(self.path), self.prompt.text().strip(), self.options(),
                                       str(self.model.currentData()), self.settings.cache_folder,
                                       name=f"Captioning {self.path.name}", on_result=self._finished,
                                       on_error=self._failed)

    def cancel(self) -> None:
        if self._job:
            self.worker.cancel(self._job)

    def _progress(self, job_id: int, fraction: float, message: str) -> None:
        if job_id == self._job:
            self.bar.setValue(int(fraction * 1000))
            self.progress_label.setText(message)

    def _finished(self, result: CaptionResult) -> None:
        path = self._job_path
        self._end_job()
        self.bar.setValue(1000)
        self.progress_label.setText(f"{result.seconds:.1f} s")
        if path is None:
            return
        self.results[str(path)] = result
        self.error.emit("", "")
        if path == self.path:
            self._show_result(result)
        self.status.emit(f"Captioned {path.name}: {result.text}")

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
        if result.pieces:
            self.tokens.setCurrentRow(0)  # the first word's attention, so the overlay is there at once

    def select_token(self, index: int) -> None:
        self.token = index
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
        if path:
            self.export_to(path)

    def export_to(self, path: str | Path) -> None:
        """`path`.png: the picture with the overlay shown (or the plain picture); `path`.txt: the caption.
        Both atomic, neither over the input picture; a failure is a message."""
        if self.result is None or self.path is None or self.rgb is None:
            return
        from PIL import Image

        png = Path(path).with_suffix(".png")
        txt = png.with_suffix(".txt")
        try:
            for out, suffix in ((png, ".png"), (txt, ".txt")):
                check_output(out, [self.path], [suffix])
            picture = self.view.overlay if self.view.overlay is not None else self.rgb
            buf = io.BytesIO()
            Image.fromarray(picture).save(buf, "PNG")
            write_bytes(png, buf.getvalue())
            write_text(txt, self.result.text + "\n")
        except StudioError as e:
            self.error.emit(e.message, e.remedy)
            return
        self.status.emit(f"Saved {png} and {txt.name}")

    def shutdown(self) -> None:
        if self._job:
            self.worker.cancel(self._job)
        import shutil

        shutil.rmtree(self._paste_dir, ignore_errors=True)
