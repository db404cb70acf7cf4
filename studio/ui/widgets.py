"""Small reusable widgets: level meter, error banner, job bar, plots for spectrograms and waveforms."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QLinearGradient, QPainter
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from studio.audio.io import AudioInfo, probe
from studio.engine.render import colormap_table
from studio.errors import StudioError

# Every image in the app is (rows, columns) = (frequency or codebook or token, time): set once, for every widget,
# whether or not a theme was applied.
pg.setConfigOptions(imageAxisOrder="row-major")


def fmt_time(seconds: float) -> str:
    # whole tenths, cut down as a clock does; the small margin keeps 1.2 (1.19999... in binary) at 0:01.2
    whole, tenth = divmod(int(max(0.0, seconds) * 10 + 1e-6), 10)
    h, rem = divmod(whole, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}.{tenth}" if h else f"{m}:{s:02d}.{tenth}"


def dropped_files(event: QDropEvent | QDragEnterEvent) -> list[Path]:
    urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
    return [Path(u.toLocalFile()) for u in urls if u.isLocalFile()]


class FileDropMixin:
    """Accept dropped local files and pass them to `on_files_dropped`."""

    def on_files_dropped(self, paths: list[Path]) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if dropped_files(event):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        paths = dropped_files(event)
        if paths:
            event.acceptProposedAction()
            self.on_files_dropped(paths)


class PanelJob:
    """A panel that runs one job at a time (`self._job`, 0 when none) with its own progress bar (0..1000) and
    label beside its Cancel button."""

    def cancel(self) -> None:
        if self._job:  # type: ignore[attr-defined]
            self.worker.cancel(self._job)  # type: ignore[attr-defined]

    def _progress(self, job_id: int, fraction: float, message: str) -> None:
        if job_id == self._job:  # type: ignore[attr-defined]
            self.bar.setValue(int(fraction * 1000))  # type: ignore[attr-defined]
            self.progress_label.setText(message)  # type: ignore[attr-defined]


AUDIO_FILTER = "Audio files (*.wav *.flac *.ogg *.opus *.mp3 *.aiff *.aif *.w64 *.caf);;All files (*)"


class AudioFilePanel(FileDropMixin):
    """A panel that shows one audio file: Open… dialog, drops, and playback of a range.

    Needs `player`, `path`, `play_btn` and an `error` signal on the panel, and an `open_file(path)` method."""

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open audio", "", AUDIO_FILTER)  # type: ignore[arg-type]
        if path:
            self.open_file(path)  # type: ignore[attr-defined]

    def on_files_dropped(self, paths: list[Path]) -> None:
        self.open_file(str(paths[0]))  # type: ignore[attr-defined]

    def probe_or_report(self, path: str) -> AudioInfo | None:
        """The file's facts, or None after showing why it cannot be read."""
        try:
            return probe(path)
        except StudioError as e:
            self.error.emit(e.message, e.remedy)  # type: ignore[attr-defined]
            return None

    def start_ticker(self, interval_ms: int) -> QTimer:
        """Call the panel's `_tick` (playhead, live updates) every `interval_ms` on the UI thread."""
        timer = QTimer(self, interval=interval_ms)  # type: ignore[call-overload]
        timer.timeout.connect(self._tick)  # type: ignore[attr-defined]
        timer.start()
        return timer

    def play_range(self, start: float, end: float | None = None) -> None:
        if self.path is None:  # type: ignore[attr-defined]
            return
        try:
            self.player.play(self.path, start, end)  # type: ignore[attr-defined]
            self.play_btn.setText("❚❚ Pause")  # type: ignore[attr-defined]
        except StudioError as e:
            self.error.emit(e.message, e.remedy)  # type: ignore[attr-defined]


class LevelMeter(QWidget):
    """Peak meter in dBFS with a hold line; green, then amber, then red near clipping."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(160, 14)
        self.setMaximumHeight(18)
        self.level_db = -90.0
        self._hold = -90.0

    def set_level(self, peak: float) -> None:
        self.level_db = 20 * np.log10(max(peak, 1e-5))
        self._hold = max(self.level_db, self._hold - 0.5)
        self.setToolTip(f"Peak {self.level_db:.1f} dBFS")
        self.update()

    def paintEvent(self, event: object) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        r = self.rect()
        p.fillRect(r, self.palette().base())
        p.setPen(self.palette().mid().color())
        p.drawRect(r.adjusted(0, 0, -1, -1))
        frac = min(1.0, max(0.0, (self.level_db + 60) / 60))
        grad = QLinearGradient(0, 0, r.width(), 0)
        grad.setColorAt(0.0, QColor("#2e7d32"))
        grad.setColorAt(0.75, QColor("#f9a825"))
        grad.setColorAt(1.0, QColor("#c62828"))
        p.fillRect(QRectF(0, 0, r.width() * frac, r.height()), grad)
        hold = min(1.0, max(0.0, (self._hold + 60) / 60)) * r.width()
        p.setPen(self.palette().text().color())
        p.drawLine(int(hold), 0, int(hold), r.height())
        p.end()


class ErrorBanner(QWidget):
    """A dismissable message at the top of the window: what went wrong and what to do."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("errorBanner")
        self.setStyleSheet("#errorBanner { background: #8e2424; border-radius: 4px; } "
                           "QLabel { color: white; } QPushButton { color: white; }")
        self.setAttribute(Qt.WA_StyledBackground, True)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 6, 6, 6)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        close = QPushButton("Dismiss")
        close.setFlat(True)
        close.clicked.connect(self.hide)
        lay.addWidget(self.label, 1)
        lay.addWidget(close)
        self.hide()

    def show_error(self, message: str, remedy: str = "") -> None:
        """Show a failure; an empty message (a panel's later success) hides the banner instead."""
        if not message:
            self.hide()
            return
        # file names are the user's: "<" or "&" in one is text, not markup
        message, remedy = html.escape(message, quote=False), html.escape(remedy, quote=False)
        self.label.setText(f"<b>{message}</b>" + (f"<br>{remedy}" if remedy else ""))
        self.show()

    @property
    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""


class JobBar(QWidget):
    """Progress of the running job, with a cancel button; lives in the status bar."""

    cancel_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel()
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setMaximumWidth(220)
        self.bar.setTextVisible(False)
        self.cancel = QPushButton("Cancel")
        self.cancel.clicked.connect(lambda: self.cancel_requested.emit(self.job_id))
        for w in (self.label, self.bar, self.cancel):
            lay.addWidget(w)
        self.job_id = 0
        self.hide()

    def begin(self, job_id: int, name: str) -> None:
        self.job_id = job_id
        self.label.setText(name)
        self.bar.setValue(0)
        self.show()

    def update_progress(self, job_id: int, fraction: float, message: str) -> None:
        if job_id == self.job_id:
            self.bar.setValue(int(fraction * 1000))
            if message:
                self.label.setText(message)

    def end(self, job_id: int) -> None:
        if job_id == self.job_id:
            self.hide()


class MelAxis(pg.AxisItem):
    """Left axis for a mel image: rows are bands; labels show each band's centre frequency in Hz."""

    def __init__(self) -> None:
        super().__init__("left")
        self.freqs: np.ndarray | None = None

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:  # noqa: N802
        if self.freqs is None:
            return super().tickStrings(values, scale, spacing)
        out = []
        for v in values:
            i = int(np.clip(round(v - 0.5), 0, len(self.freqs) - 1))
            f = self.freqs[i]
            out.append(f"{f / 1000:.1f}k" if f >= 1000 else f"{f:.0f}")
        return out


class SpectrogramPlot(pg.PlotWidget):
    """Time (s) on x, frequency on y; an image per spectrogram result, a playhead, x-only zoom and pan."""

    clicked_time = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        self.mel_axis = MelAxis()
        super().__init__(parent, axisItems={"left": self.mel_axis}, enableMenu=False)  # none built: 6 ms a plot
        self.setLabel("bottom", "Time", units="s")
        self.setLabel("left", "Frequency (Hz)")
        self.plotItem.setMouseEnabled(x=True, y=False)
        self.plotItem.vb.setLimits(xMin=0)
        self.image = pg.ImageItem()
        self.addItem(self.image)
        self.playhead = pg.InfiniteLine(0, angle=90, pen=pg.mkPen("#4fc3f7", width=2))
        self.addItem(self.playhead)
        self.playhead.hide()
        self.cmap = "magma"
        self.scene().sigMouseClicked.connect(self._clicked)

    def set_colormap(self, name: str) -> None:
        self.cmap = name
        self.image.setLookupTable(colormap_table(name))

    def show_spectrogram(self, image: np.ndarray, t0: float, t1: float, freqs: np.ndarray, vmin: float,
                         vmax: float, mel: bool) -> None:
        self.image.setImage(image, levels=(vmin, vmax), autoLevels=False)
        self.image.setLookupTable(colormap_table(self.cmap))
        if mel:
            self.mel_axis.freqs = freqs
            height = float(len(freqs))
        else:
            self.mel_axis.freqs = None
            height = float(freqs[-1]) if len(freqs) else 1.0
        self.image.setRect(QRectF(t0, 0, max(t1 - t0, 1e-6), height))
        self.plotItem.vb.setLimits(yMin=0, yMax=height)
        self.setYRange(0, height, padding=0)
        self.mel_axis.picture = None
        self.mel_axis.update()

    def set_playhead(self, seconds: float | None) -> None:
        if seconds is None:
            self.playhead.hide()
        else:
            self.playhead.setValue(seconds)
            self.playhead.show()

    def _clicked(self, ev: object) -> None:
        pos = self.plotItem.vb.mapSceneToView(ev.scenePos())  # type: ignore[attr-defined]
        if self.plotItem.vb.sceneBoundingRect().contains(ev.scenePos()):  # type: ignore[attr-defined]
            self.clicked_time.emit(max(0.0, pos.x()))


class EnvelopeCurve(pg.PlotDataItem):
    """A min/max envelope drawn as one vertical segment per bucket (low to high), as Audacity draws its overview:
    at 2000 buckets the segments overlap into a solid band. A FillBetweenItem between a low and a high curve looked
    the same but cost 25 ms of the UI thread per waveform (its path rebuilt once per curve, then a 4000-vertex
    polygon filled); the segments cost 1.5 ms."""

    def __init__(self, color: str = "#26a69a") -> None:
        super().__init__(pen=pg.mkPen(color))

    def show(self, t: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:  # type: ignore[override]
        # a silent bucket (low == high) still gets its one-pixel tick: the pen draws a zero-length segment's cap
        self.setData(np.repeat(np.asarray(t, dtype=np.float64), 2),
                     np.column_stack([np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)]).ravel(),
                     connect="pairs")

    def clear_envelope(self) -> None:
        self.setData([], [])

    def bands(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(times, low, high) as shown; empty arrays when nothing is."""
        xs, ys = self.getData()
        if xs is None or ys is None:
            return np.zeros(0), np.zeros(0), np.zeros(0)
        return xs[::2], ys[::2], ys[1::2]


class WaveformPlot(pg.PlotWidget):
    """Min/max envelope of a recording with a playhead; click to seek."""

    clicked_time = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, enableMenu=False)
        self.setLabel("bottom", "Time", units="s")
        self.plotItem.setMouseEnabled(x=True, y=False)
        self.plotItem.hideAxis("left")
        self.setYRange(-1, 1, padding=0.05)
        self.envelope = EnvelopeCurve()
        self.addItem(self.envelope)
        self.playhead = pg.InfiniteLine(0, angle=90, pen=pg.mkPen("#ff7043", width=2))
        self.addItem(self.playhead)
        self.scene().sigMouseClicked.connect(self._clicked)

    def show_envelope(self, t: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        self.envelope.show(t, lo, hi)
        if len(t):
            self.setXRange(0, float(t[-1]), padding=0)

    def clear_envelope(self) -> None:
        self.show_envelope(np.zeros(0), np.zeros(0), np.zeros(0))

    def _clicked(self, ev: object) -> None:
        pos = self.plotItem.vb.mapSceneToView(ev.scenePos())  # type: ignore[attr-defined]
        self.clicked_time.emit(max(0.0, pos.x()))


def button(text: str, tip: str, slot: Callable[[], None], parent: QWidget | None = None) -> QPushButton:
    b = QPushButton(text, parent)
    b.setToolTip(tip)
    b.clicked.connect(slot)
    return b
