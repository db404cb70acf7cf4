"""One take, inspected: its waveform and log-mel, the 8-codebook tokens of the voice's prompt and of the generated
speech side by side, where the AR attention of a hovered frame looked in the text, and the round-trip words.

Time runs from the start of the prompt: the prompt's frames come first (shaded), the generated speech after them,
so the sound, the spectrogram and the tokens line up on one axis."""

from __future__ import annotations

import functools
import html
import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QScrollArea, QSizePolicy, QSplitter, QTabWidget, QVBoxLayout, QWidget

from studio.audio.mel import mel_frequencies
from studio.engine.clone.result import FRAME_RATE, MEL_BANDS, MEL_HOP, SAMPLE_RATE, Take
from studio.ui.draw_steps import DrawSteps
from studio.ui.take_history import describe_take
from studio.ui.token_grid import TokenGrid
from studio.ui.widgets import SpectrogramPlot, WaveformPlot
from studio.ui.word_marks import WordMarks

TOP_POSITIONS = 3  # phonemes highlighted for a hovered frame
ROOM_ABOVE = 2.2  # rows' worth of room above codebook 1 for 'prompt' / 'generated'
LOOKED_HINT = "Hover the generated tokens to see where the model looked in the text for that frame."


def envelope(samples: np.ndarray, points: int = 2000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times, low, high) of buckets of the samples, for drawing."""
    per = max(1, -(-len(samples) // points))
    padded = np.pad(samples, (0, (-len(samples)) % per))
    buckets = padded.reshape(-1, per)
    return (np.arange(len(buckets)) + 0.5) * per / SAMPLE_RATE, buckets.min(axis=1), buckets.max(axis=1)


def scrolling(widget: QWidget, min_height: int) -> QScrollArea:
    """`widget` in a frameless scroll area that can be made as low as `min_height`."""
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.NoFrame)
    area.setWidget(widget)
    area.setMinimumHeight(min_height)
    return area


class TakeGrid(TokenGrid):
    """The token grid with the prompt's frames first; hovering a generated frame says which one."""

    frame_hovered = Signal(int)  # generated frame index

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.n_prompt = 0
        self.prompt_band = pg.LinearRegionItem(movable=False, brush=pg.mkBrush(255, 255, 255, 45),
                                               pen=pg.mkPen(255, 255, 255, 160))
        self.prompt_text = pg.TextItem("prompt", color="#ffffff", anchor=(0.5, 1.0))
        self.generated_text = pg.TextItem("generated", color="#ffffff", anchor=(0.5, 1.0))
        for item in (self.prompt_band, self.prompt_text, self.generated_text):
            item.setZValue(5)
            self.addItem(item)
            item.hide()
        self.setLabel("bottom", "time from the prompt's start", units="s")
        self.setMinimumHeight(110)
        self.scene().sigMouseMoved.connect(self._moved_frame)
        self.getViewBox().sigResized.connect(self._label_rows)

    def _label_rows(self) -> None:
        """Number every codebook row while the rows are as tall as the text, else every other (or third): eight
        labels over a short grid run into one another."""
        if self.codes is None:
            return
        rows = self.codes.shape[0]
        row_px = self.getViewBox().height() / (rows + ROOM_ABOVE)
        step = max(1, math.ceil(self.fontMetrics().height() * 0.9 / max(row_px, 1e-3)))
        self.getAxis("left").setTicks([[(i + 0.5, str(i + 1)) for i in range(0, rows, step)], []])

    def show_take(self, prompt_codes: np.ndarray, codes: np.ndarray) -> None:
        self.n_prompt = prompt_codes.shape[1]
        self.show_codes(np.concatenate([prompt_codes, codes], axis=1).astype(np.int16), FRAME_RATE)
        p, total = self.n_prompt / FRAME_RATE, (self.n_prompt + codes.shape[1]) / FRAME_RATE
        self.prompt_band.setRegion((0, p))
        self.prompt_text.setPos(p / 2, 0)
        self.generated_text.setPos((p + total) / 2, 0)
        for item in (self.prompt_band, self.prompt_text, self.generated_text):
            item.show()
        self.setXRange(0, total, padding=0)
        self.setYRange(-ROOM_ABOVE, 8, padding=0)  # room above codebook 1 for the labels
        self._label_rows()

    def clear_take(self) -> None:
        self.codes = None
        self.image.clear()
        for item in (self.prompt_band, self.prompt_text, self.generated_text):
            item.hide()

    def describe(self, t: float, row: int) -> str:
        assert self.codes is not None
        frame = int(t * self.frame_rate)
        part = f"prompt frame {frame}" if frame < self.n_prompt else f"generated frame {frame - self.n_prompt}"
        return f"{t:.3f} s · {part} · codebook {row + 1} · code {int(self.codes[row, frame])}"

    def _moved_frame(self, pos: object) -> None:
        if self.codes is None:
            return
        frame = int(self.getViewBox().mapSceneToView(pos).x() * self.frame_rate)
        if self.n_prompt <= frame < self.codes.shape[1]:
            self.frame_hovered.emit(frame - self.n_prompt)


class TakeView(QWidget):
    seek_requested = Signal(float)  # seconds into the take

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.take: Take | None = None
        self.offset = 0.0  # seconds of prompt before the generated speech on the time axis
        self._attention: np.ndarray | None = None
        self._steps = DrawSteps(self)  # what show_take has still to draw
        self.header = QLabel("Synthesize, then pick a sentence to inspect its take.")
        self.header.setWordWrap(True)
        self.wave = WaveformPlot()
        self.wave.setMinimumHeight(24)
        self.spec = SpectrogramPlot()
        self.spec.setMinimumHeight(40)
        self.spec.setLabel("left", "Hz")  # 'Frequency (Hz)' does not fit a short plot, and ran into 'codebook'
        self.spec.getViewBox().sigResized.connect(self._spec_ticks)
        for plot in (self.wave, self.spec):
            plot.plotItem.hideAxis("bottom")  # the grid below them has the time axis
        self.grid = TakeGrid()
        for plot in (self.wave, self.spec):
            plot.setXLink(self.grid)
            plot.clicked_time.connect(lambda t: self.seek_requested.emit(max(0.0, t - self.offset)))
        self.grid.clicked_time.connect(lambda t: self.seek_requested.emit(max(0.0, t - self.offset)))
        self.hover = QLabel("Hover the tokens: time, frame, codebook and code.")
        self.hover.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.grid.hovered.connect(lambda text: self.hover.setText(text))
        self.looked = QLabel(LOOKED_HINT)
        self.looked.setWordWrap(True)
        self.grid.frame_hovered.connect(self.hover_frame)
        self.phonemes = QLabel()
        self.phonemes.setWordWrap(True)
        self.phonemes.setTextFormat(Qt.RichText)
        self.phonemes.setStyleSheet("font-size: 15px;")
        self.bars = pg.PlotWidget(enableMenu=False)
        self.bars.setMinimumHeight(36)
        self.bars.getViewBox().sigResized.connect(
            lambda: self.bars.getAxis("left").setStyle(showValues=self.bars.getViewBox().height() >= 60))
        self.bars.hideButtons()
        self.bars.setMouseEnabled(x=False, y=False)
        self.prompt_bars = pg.BarGraphItem(x=[], height=[], width=1.0, brush=pg.mkBrush(140, 140, 140, 90), pen=None)
        self.text_bars = pg.BarGraphItem(x=[], height=[], width=0.85, brush="#4c9be8", pen=None)
        self.top_bars = pg.BarGraphItem(x=[], height=[], width=0.85, brush="#ffd600", pen=None)
        for item in (self.prompt_bars, self.text_bars, self.top_bars):
            self.bars.addItem(item)

        sound = QSplitter(Qt.Vertical)
        for w in (self.wave, self.spec, self.grid):
            sound.addWidget(w)
        sound.setSizes([60, 110, 180])
        attention = QWidget()
        att_lay = QVBoxLayout(attention)
        att_lay.setContentsMargins(0, 0, 0, 0)
        att_lay.setSpacing(2)
        att_lay.addWidget(self.hover)
        att_lay.addWidget(self.looked)
        att_lay.addWidget(self.phonemes)
        att_lay.addWidget(self.bars, 1)
        take_page = QSplitter(Qt.Vertical)
        take_page.addWidget(sound)
        take_page.addWidget(attention)
        take_page.setSizes([340, 150])
        self.words = WordMarks()
        self.tabs = QTabWidget()
        self.tabs.addTab(take_page, "Sound, tokens, attention")
        self.tabs.addTab(self.words, "Words heard back")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.header)
        lay.addWidget(self.tabs, 1)
        lay.addStretch(0)  # holds the header at the top while there are no tabs
        self.tabs.hide()  # empty plots say nothing: shown with the first take

    def _spec_ticks(self) -> None:
        """A frequency every 20 mel bands when there is room for five labels, else every 40."""
        room = self.spec.getViewBox().height() / (MEL_BANDS / 20 + 1)
        major = 20 if room >= self.fontMetrics().height() else 40
        self.spec.getAxis("left").setTickSpacing(major, major / 2)

    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt override
        """No height of its own: in its scroll area it takes the room there is (down to its minimum), not the sum
        of every plot's preferred height that its wrapping labels would otherwise ask for."""
        return -1

    def clear(self) -> None:
        self.take, self._attention = None, None
        self._steps.clear()
        self.header.setText("Synthesize, then pick a sentence to inspect its take.")
        self.wave.clear_envelope()
        self.spec.image.clear()
        self.grid.clear_take()
        self.phonemes.setText("")
        self.looked.setText(LOOKED_HINT)
        for item in (self.prompt_bars, self.text_bars, self.top_bars):
            item.setOpts(x=[], height=[])
        self.words.clear()
        self.tabs.hide()

    def show_take(self, take: Take, prompt_codes: np.ndarray, sentence_number: int) -> None:
        """Draw the take in steps, one plot per turn of the event loop: drawn at once, the waveform, spectrogram,
        token grid and attention bars held the window for about 50 ms (ui_stall); a step and its repaint stay
        short. A newer take replaces the steps still to come."""
        self.take, self._attention = take, None  # hovering reads nothing until the attention is drawn
        self.offset = prompt_codes.shape[1] / FRAME_RATE
        self.header.setText(f"<b>Sentence {sentence_number}</b> · {describe_take(take)} · made in "
                            f"{take.seconds:.1f} s on {html.escape(take.device)}"
                            + (f" · <span style='color:#f9a825'>not spoken: {html.escape(' '.join(take.dropped))}"
                               "</span>" if take.dropped else ""))
        # the tabs' first show lays out eight plots (12-20 ms): a step of its own
        self._steps.start([self.tabs.show, self._draw_wave, self._draw_spectrogram,
                           functools.partial(self._draw_grid, prompt_codes), self._draw_attention])

    @property
    def drawing(self) -> bool:
        """Steps of the last show_take still to come."""
        return self._steps.pending

    def _draw_wave(self) -> None:
        t, lo, hi = envelope(self.take.samples)  # type: ignore[union-attr]
        self.wave.show_envelope(t + self.offset, lo, hi)

    def _draw_spectrogram(self) -> None:
        mel = self.take.mel  # type: ignore[union-attr]
        if mel is None:
            self.spec.image.clear()
            return
        top = float(mel.max())
        self.spec.show_spectrogram(mel, self.offset, self.offset + mel.shape[1] * MEL_HOP / SAMPLE_RATE,
                                   mel_frequencies(MEL_BANDS, SAMPLE_RATE / 2), top - 2.0, top, mel=True)

    def _draw_grid(self, prompt_codes: np.ndarray) -> None:
        self.grid.show_take(prompt_codes, self.take.codes)  # type: ignore[union-attr]
        for line in (self.wave.playhead, self.grid.playhead):
            line.setValue(self.offset)  # the take's start

    def _draw_attention(self) -> None:
        take = self.take
        assert take is not None
        att = take.attention_mean
        self._attention = att if att is not None and att.size else None
        self.phonemes.setText(html.escape(take.phonemes))
        self.looked.setText(LOOKED_HINT)
        self.words.show_take(take)
        if self._attention is not None:
            self.hover_frame(0)

    def hover_frame(self, n: int) -> str:
        """Show where generated frame n's AR attention (averaged over layers) fell in the text; returns the
        read-out that is shown."""
        take, att = self.take, self._attention
        if take is None or att is None or not 0 <= n < att.shape[0]:
            return ""
        w = att[n]
        p = take.n_prompt_ids
        sentence = w[p:]
        top = [int(i) for i in np.argsort(sentence)[::-1][:TOP_POSITIONS] if sentence[i] > 0]
        total = float(w.sum()) or 1.0
        xs = np.arange(len(w))
        self.prompt_bars.setOpts(x=xs[:p], height=w[:p])
        self.text_bars.setOpts(x=xs[p:], height=w[p:])
        self.top_bars.setOpts(x=[p + i for i in top], height=[float(sentence[i]) for i in top])
        self.bars.setYRange(0, max(float(w.max()), 1e-3), padding=0.05)
        self.bars.setXRange(-0.5, len(w) - 0.5, padding=0)
        self.bars.getAxis("bottom").setTicks([[(p + i, ch) for i, ch in enumerate(take.phonemes)], []])
        rank = {i: r for r, i in enumerate(top)}
        chars = []
        for i, ch in enumerate(take.phonemes):
            if i in rank:
                alpha = 1.0 - 0.25 * rank[i]
                chars.append(f"<span style='background: rgba(255,214,0,{alpha:.2f}); color: black'>"
                             f"{html.escape(ch)}</span>")
            else:
                chars.append(html.escape(ch))
        self.phonemes.setText("".join(chars))
        looked = ", ".join(f"‘{take.phonemes[i]}’ ({sentence[i] / total:.0%})" for i in top)
        text = (f"Generated frame {n} ({n / FRAME_RATE:.2f} s into the take) looked at {looked}; "
                f"{float(w[:p].sum()) / total:.0%} on the prompt's text (grey).")
        self.looked.setText(text)
        return text

    def set_playhead(self, seconds: float | None) -> None:
        """`seconds` into the take (None hides it)."""
        if seconds is None:
            self.spec.set_playhead(None)
            return
        t = self.offset + seconds
        self.grid.playhead.setValue(t)
        self.wave.playhead.setValue(t)
        self.spec.set_playhead(t)
