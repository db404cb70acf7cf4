"""What the prompt check found, for the enrollment view: the recording's waveform with the trimmed silence and the
long pauses shaded, and the measurements in plain words (each marked fine, worth a look, or a problem)."""

from __future__ import annotations

from html import escape

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

from studio.engine.clone.prompt_check import BEST_S, PAUSE_S, PromptCheck, seconds_text
from studio.engine.waveform import Envelope
from studio.ui.widgets import EnvelopeCurve

OK, LOOK, BAD = "#43a047", "#f9a825", "#e53935"
NOISE_HINT = ("Noise in a prompt is copied into every output: the clone speaks in the same room, with the same "
              "hiss.")
TRIM_BRUSH = (128, 128, 128, 90)
PAUSE_BRUSH = (249, 168, 37, 90)


def shrinkable(label: QLabel) -> QLabel:
    """A wrapped label whose text (file names, paths, phonemes) never sets the panel's minimum width."""
    label.setWordWrap(True)
    label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
    label.setMinimumWidth(1)
    return label


def elide(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars // 2 - 1] + "…" + text[-(chars // 2):]


class PromptWaveform(pg.PlotWidget):
    """The recording as a min/max envelope, in the prompt's time (0 = where the kept speech starts, as in the
    check's pause times and the codes below it): the silence the check trims is shaded grey, the pauses it flags
    amber, so the user sees which part becomes the voice."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, enableMenu=False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.hideAxis("left")
        self.setLabel("bottom", "Time in the prompt", units="s")
        self.setYRange(-1, 1, padding=0.05)
        self.setFixedHeight(92)
        self.envelope = EnvelopeCurve()
        self.addItem(self.envelope)
        self.regions: list[tuple[str, float, float]] = []  # (kind, start, end) in seconds of the prompt
        self._items: list[pg.GraphicsObject] = []

    def show_check(self, check: PromptCheck, envelope: Envelope | None) -> None:
        """`envelope`: of the whole recording (its times from the file's start); None draws the kept part only."""
        self.clear_check()
        lead, tail = check.trimmed
        if envelope is None:
            envelope = _envelope(check.samples, check.sample_rate, lead)
        self.envelope.show(envelope.times - lead, envelope.low, envelope.high)
        if lead > 0.005:
            self.regions.append(("trimmed", -lead, 0.0))
        if tail > 0.005:
            self.regions.append(("trimmed", check.duration, check.duration + tail))
        self.regions += [("pause", a, b) for a, b in check.pauses]
        for kind, a, b in self.regions:
            brush = TRIM_BRUSH if kind == "trimmed" else PAUSE_BRUSH
            region = pg.LinearRegionItem((a, b), movable=False, brush=pg.mkBrush(*brush), pen=pg.mkPen(None))
            region.setToolTip(f"{kind}: {a:.2f}–{b:.2f} s")
            # labels stay inside the plot: the lead-in's from its left edge, the tail's from its right edge
            x, anchor = ((a, (0, 0)) if a < 0 else (b, (1, 0)) if kind == "trimmed" else ((a + b) / 2, (0.5, 0)))
            label = pg.TextItem(kind, color="#bbbbbb" if kind == "trimmed" else "#f9a825", anchor=anchor)
            label.setPos(x, 1.0)
            for item in (region, label):
                self.addItem(item)
                self._items.append(item)
        self.setXRange(-lead, max(check.duration + tail, 0.1), padding=0)

    def clear_check(self) -> None:
        for item in self._items:
            self.removeItem(item)
        self._items, self.regions = [], []
        self.envelope.clear_envelope()


def _envelope(samples: np.ndarray, rate: int, offset: float, points: int = 800) -> Envelope:
    per = max(1, -(-len(samples) // points))
    n = -(-len(samples) // per)
    padded = np.pad(samples, (0, n * per - len(samples))).reshape(n, per)
    times = offset + (np.arange(n) + 0.5) * per / rate
    return Envelope(times, padded.min(axis=1), padded.max(axis=1), offset + len(samples) / rate)


def check_rows(c: PromptCheck) -> list[tuple[str, str, str]]:
    """(what, finding, colour) for each measurement of the check: the figures only, short enough for one line of a
    narrow panel; what to do about them is in the warnings. The silence trimmed is shaded on the waveform."""
    length = f"{seconds_text(c.duration, *BEST_S)} s kept of {c.original_duration:.1f} s recorded"
    rows = [("Length", length, OK if BEST_S[0] <= c.duration <= BEST_S[1] else LOOK)]
    kind = "stereo" if c.channels == 2 else f"{c.channels} channels"
    if c.channels == 1:
        rows.append(("Channels", "mono", OK))
    elif c.channel_note:  # a silent or inverted channel: not the average, and the recording setup is worth a look
        rows.append(("Channels", f"{kind}: {c.channel_note}", LOOK))
    else:
        rows.append(("Channels", f"{kind}, mixed down to mono (averaged)", OK))
    if c.pauses:
        spans = ", ".join(f"{a:.1f}–{b:.1f} s" for a, b in c.pauses)
        rows.append(("Pauses", f"{len(c.pauses)} longer than {PAUSE_S} s ({spans})", LOOK))
    else:
        rows.append(("Pauses", f"none longer than {PAUSE_S} s", OK))
    colour = {"clean": OK, "audible": LOOK}.get(c.noise_rating, BAD)
    rows.append(("Noise", f"{c.noise_rating}: SNR {c.snr_db:.0f} dB (floor {c.noise_floor_db:.0f} dBFS)", colour))
    peak = round(c.peak_db, 1) + 0.0  # not "-0.0"
    if c.clipped:
        rows.append(("Peak", f"{peak:.1f} dBFS, clipped (flat tops at full scale)", BAD))
    else:
        rows.append(("Peak", f"{peak:.1f} dBFS, not clipped", OK if c.peak_db >= -20 else LOOK))
    return rows


class CheckFacts(QLabel):
    """The check's measurements as a small table and the warnings as a list; the noise hint is its tooltip."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setToolTip(NOISE_HINT)
        self.setTextFormat(Qt.RichText)
        self.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.setAlignment(Qt.AlignTop | Qt.AlignLeft)

    def show_check(self, c: PromptCheck, extra_warnings: list[str] | None = None) -> None:
        cells = "".join(f"<tr><td style='color:{colour}'>●</td><td><b>{escape(what)}</b>&nbsp;</td>"
                        f"<td>{escape(text)}</td></tr>" for what, text, colour in check_rows(c))
        html = f"<table cellspacing='1'>{cells}</table>"
        warnings = [*c.warnings, *(extra_warnings or [])]
        if warnings:
            items = "".join(f"<li>{escape(w)}</li>" for w in warnings)
            html += f"<p style='color:{LOOK}; margin-bottom:0'><b>Worth fixing</b></p>" \
                    f"<ul style='margin-top:0; margin-left:-16px'>{items}</ul>"
        self.setText(html)
