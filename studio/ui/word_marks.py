"""The round-trip check of one take, word by word: the asked words coloured by what the transcriber heard in their
place, and for a clicked word the AR attention around it (frames x text positions, the word's phonemes marked),
which shows whether the model read past a skipped word or read a repeated one twice."""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSplitter, QVBoxLayout, QWidget

from studio.engine.clone.result import FRAME_RATE, Take, WordMark
from studio.engine.clone.roundtrip import words
from studio.engine.render import colormap_table, percentiles

KIND_COLORS = {"ok": "", "skipped": "#e53935", "changed": "#fb8c00", "repeated": "#ab47bc", "leaked": "#42a5f5",
               "extra": "#9e9e9e"}
KIND_HELP = {"skipped": "not heard", "changed": "heard as another word", "repeated": "said again",
             "leaked": "a word of the voice's prompt", "extra": "heard, never asked"}
CONTEXT_ROWS = 24  # text positions shown around a clicked word


def phoneme_groups(phonemes: str) -> list[tuple[int, int]]:
    """(start, end) of each word in a phoneme string: words are separated by '_' (spaces in the text)."""
    groups, start = [], 0
    for i, ch in enumerate(phonemes + "_"):
        if ch in "_ ":
            if i > start:
                groups.append((start, i))
            start = i + 1
    return groups


def word_span(phonemes: str, n_words: int, index: int) -> tuple[int, int]:
    """Phoneme positions of asked word `index` of `n_words`. When the counts differ (a number read as several
    words, Chinese compared per character but grouped per word) the word takes its proportional share."""
    groups = phoneme_groups(phonemes) or [(0, len(phonemes))]
    if len(groups) == n_words:
        return groups[index]
    share = len(groups) / max(1, n_words)  # phoneme words per asked word, rounded half up at both ends
    g0 = min(len(groups) - 1, int(index * share + 0.5))
    g1 = max(g0 + 1, min(len(groups), int((index + 1) * share + 0.5)))
    return groups[g0][0], groups[g1 - 1][1]


def mark_index(marks: list[WordMark], i: int) -> tuple[int, int]:
    """The asked words a mark sits on: its own, or for a word only heard, the asked words either side of it."""
    if marks[i].asked_index is not None:
        return marks[i].asked_index, marks[i].asked_index  # type: ignore[return-value]
    before = [m.asked_index for m in marks[:i] if m.asked_index is not None]
    after = [m.asked_index for m in marks[i + 1:] if m.asked_index is not None]
    lo = before[-1] if before else (after[0] if after else 0)
    return lo, after[0] if after else lo


class WordMarks(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.take: Take | None = None
        self.attention: np.ndarray | None = None  # (frames, text positions), averaged over layers
        self.selected = -1
        legend = " ".join(f"<span style='color:{KIND_COLORS[k]}'>■ {k}</span> ({v})" for k, v in KIND_HELP.items())
        self.legend = QLabel(legend)
        self.legend.setWordWrap(True)
        self.marks_label = QLabel()
        self.marks_label.setWordWrap(True)
        self.marks_label.setTextInteractionFlags(Qt.LinksAccessibleByMouse)
        self.marks_label.linkActivated.connect(lambda link: self.select_mark(int(link.split(":")[1])))
        self.marks_label.setStyleSheet("font-size: 15px;")
        self.heard = QLabel()
        self.heard.setWordWrap(True)
        self.heard.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.focus_title = QLabel("Click a word to see where the model read it.")
        self.focus_title.setWordWrap(True)

        self.matrix = pg.PlotWidget(enableMenu=False)
        self.matrix.setMinimumHeight(60)
        self.matrix.hideButtons()
        self.matrix.getViewBox().invertY(True)
        self.matrix.setLabel("bottom", "generated speech", units="s")
        self.matrix.setLabel("left", "text (phonemes)")
        self.matrix_img = pg.ImageItem()
        self.matrix_img.setLookupTable(colormap_table("viridis"))
        self.matrix.addItem(self.matrix_img)
        self.prompt_band = pg.LinearRegionItem(orientation="horizontal", movable=False, brush=pg.mkBrush(0, 0, 0, 150))
        self.prompt_label = pg.TextItem("prompt text", color="#bbbbbb", anchor=(0, 0.5))
        self.word_band = pg.LinearRegionItem(orientation="horizontal", movable=False,
                                             brush=pg.mkBrush(255, 214, 0, 70), pen=pg.mkPen("#ffd600"))
        for item in (self.prompt_band, self.prompt_label, self.word_band):
            self.matrix.addItem(item)
            item.hide()
        self.focus = pg.PlotWidget(enableMenu=False)
        self.focus.setMinimumHeight(36)
        self.focus.getViewBox().sigResized.connect(  # values over a short plot run into one another
            lambda: self.focus.getAxis("left").setStyle(showValues=self.focus.getViewBox().height() >= 60))
        self.focus.hideButtons()
        self.focus.setXLink(self.matrix)
        self.focus.setMouseEnabled(x=True, y=False)
        self.focus_curve = self.focus.plot(pen=pg.mkPen("#ffd600", width=2), fillLevel=0,
                                           brush=pg.mkBrush(255, 214, 0, 60))
        plots = QSplitter(Qt.Vertical)
        plots.addWidget(self.matrix)
        plots.addWidget(self.focus)
        plots.setSizes([260, 80])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        for w in (self.marks_label, self.heard, self.legend, self.focus_title):
            lay.addWidget(w)
        lay.addWidget(plots, 1)

    def clear(self) -> None:
        self.take, self.attention, self.selected = None, None, -1
        self.marks_label.setText("")
        self.heard.setText("")
        self.matrix_img.clear()
        self.focus_curve.setData([], [])
        for item in (self.prompt_band, self.prompt_label, self.word_band):
            item.hide()

    def show_take(self, take: Take) -> None:
        self.clear()
        self.take = take
        rt = take.round_trip
        if rt is None:
            self.marks_label.setText(html.escape(take.text))
            self.heard.setText("<i>Words not checked: “Check words” was off, the transcriber for this language is "
                               "not on this computer, or Cancel stopped the listening back.</i>")
        else:
            self.marks_label.setText(self._marks_html(rt.marks))
            self.heard.setText(f"Heard: “{html.escape(rt.heard)}” — {len(rt.problems)} problem"
                               f"{'' if len(rt.problems) == 1 else 's'}, word error rate "
                               f"{rt.word_error_rate:.0%}")
        if take.attention_mean is None or take.attention_mean.size == 0:
            self.focus_title.setText("This take kept no attention.")
            return
        self.attention = take.attention_mean
        frames, positions = self.attention.shape
        lo, hi = percentiles(self.attention, 1, 99.5)
        self.matrix_img.setImage(self.attention.T, autoLevels=False, levels=(float(lo), float(max(hi, lo + 1e-6))))
        self.matrix_img.setRect(0, 0, frames / FRAME_RATE, positions)
        n = take.n_prompt_ids
        self.prompt_band.setRegion((0, n))
        self.prompt_label.setPos(0, n / 2)
        for item in (self.prompt_band, self.prompt_label):
            item.setVisible(n > 0)
        ticks = [(n + (a + b) / 2, take.phonemes[a:b]) for a, b in phoneme_groups(take.phonemes)]
        self.matrix.getAxis("left").setTicks([ticks, []])
        self.matrix.setXRange(0, frames / FRAME_RATE, padding=0)
        self.matrix.setYRange(0, positions, padding=0)
        self.focus_title.setText("Click a word to see where the model read it: its phonemes are marked in the "
                                 "attention of each generated frame over the text.")
        problems = [i for i, m in enumerate(rt.marks) if m.kind != "ok"] if rt is not None else []
        if problems:
            self.select_mark(problems[0])

    def _marks_html(self, marks: list[WordMark]) -> str:
        parts = []
        plain = self.palette().text().color().name()  # links are blue unless told otherwise
        for i, m in enumerate(marks):
            word = html.escape(m.word)
            if m.kind == "changed":
                word += f"→{html.escape(m.heard)}"
            color = KIND_COLORS.get(m.kind, "")
            line = "line-through" if m.kind == "skipped" else "none"
            style = f"color:{color or plain}; text-decoration:{line}"
            weight = "; font-weight:bold" if i == self.selected else ""
            tip = KIND_HELP.get(m.kind, "heard as asked")
            parts.append(f"<a href='mark:{i}' style='{style}{weight}' title='{tip}'>{word}</a>")
        return " ".join(parts)

    def select_mark(self, i: int) -> None:
        """Show the attention around mark i: the rows of its phonemes marked and centred, and how much of each
        frame's attention fell on them."""
        take, att = self.take, self.attention
        if take is None or take.round_trip is None or not 0 <= i < len(take.round_trip.marks):
            return
        marks = take.round_trip.marks
        self.selected = i
        self.marks_label.setText(self._marks_html(marks))
        n_words = max(1, len(words(take.text)))
        first, last = mark_index(marks, i)
        a = word_span(take.phonemes, n_words, min(first, n_words - 1))[0]
        b = word_span(take.phonemes, n_words, min(last, n_words - 1))[1]
        m = marks[i]
        what = f"‘{m.word}’ ({m.kind}{': heard ‘' + m.heard + '’' if m.heard else ''})"
        self.focus_title.setText(f"{html.escape(what)} — phonemes {a + 1}–{b} “{html.escape(take.phonemes[a:b])}”. "
                                 "Below: how much of each frame's attention fell on them.")
        if att is None:
            return
        n = take.n_prompt_ids
        self.word_band.setRegion((n + a, n + b))
        self.word_band.show()
        top = max(0, n + a - CONTEXT_ROWS // 2)
        self.matrix.setYRange(top, min(att.shape[1], n + b + CONTEXT_ROWS // 2), padding=0)
        mass = att[:, n + a:n + b].sum(axis=1)
        self.focus_curve.setData((np.arange(len(mass)) + 0.5) / FRAME_RATE, mass)
        self.focus.setYRange(0, max(float(mass.max()) if mass.size else 0.0, 1e-3), padding=0.05)
