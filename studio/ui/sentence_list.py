"""The Speak view's sentences: one row each with its clip budget meter, and once spoken its take (duration, play,
redo with a new seed, the round-trip result and a history of earlier takes to bring back)."""

from __future__ import annotations

import html
from collections.abc import Callable

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPalette
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.engine.clone.result import Take
from studio.ui.elided_label import ElidedLabel
from studio.ui.speak_plan import Plan, PlannedSentence
from studio.ui.take_history import TakeEntry, check_text, describe_take
from studio.ui.widgets import fmt_time

OK, WARN, BAD = "#43a047", "#f9a825", "#e53935"
EMPTY_HINT = "Nothing to speak yet: the sentences appear below as you type."


def tint(label: QLabel, color: str) -> None:
    """Text colour through the palette ('' for the usual one): a style sheet per row makes long lists slow."""
    pal = QPalette()  # the application's palette
    if color:
        pal.setColor(QPalette.WindowText, QColor(color))
    label.setPalette(pal)


class BudgetMeter(QWidget):
    """Estimated speech time of a sentence against the clip time the prompt leaves; amber near it, red past it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedSize(130, 16)
        self.seconds = self.budget = 0.0

    def set_values(self, seconds: float, budget: float) -> None:
        self.seconds, self.budget = seconds, budget
        self.setToolTip(f"About {seconds:.1f} s of speech; the voice's prompt leaves {budget:.1f} s of the clip "
                        "VALL-E X was trained on")
        self.update()

    @property
    def fraction(self) -> float:
        return self.seconds / self.budget if self.budget > 0 else 1.0

    def paintEvent(self, event: object) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        r = self.rect()
        p.fillRect(r, self.palette().base())
        f = self.fraction
        color = QColor(OK if f <= 0.8 else WARN if f <= 1.0 else BAD)
        color.setAlpha(170)
        p.fillRect(QRectF(0, 0, r.width() * min(1.0, f), r.height()), color)
        p.setPen(self.palette().mid().color())
        p.drawRect(r.adjusted(0, 0, -1, -1))
        p.setPen(self.palette().text().color())
        p.drawText(r, Qt.AlignCenter, f"≈{self.seconds:.1f} of {self.budget:.1f} s")
        p.end()


def plan_summary(plan: Plan, prompt_seconds: float | None) -> str:
    """One line over the list: how many sentences, how long, what was split and what will not be heard."""
    if not plan.text.strip():
        return EMPTY_HINT
    if plan.error is not None:
        return f"<span style='color:{BAD}'>{html.escape(plan.error.message)}</span> {html.escape(plan.error.remedy)}"
    n = len(plan.sentences)
    parts = [f"{n} sentence{'s' if n != 1 else ''} · ≈{fmt_time(sum(s.seconds for s in plan.sentences))} of speech"]
    if prompt_seconds is None:
        parts.append("choose a voice: its prompt takes part of each 22 s clip")
    elif n:
        parts.append(f"each must fit in {plan.sentences[0].budget:.1f} s after the {prompt_seconds:.1f} s prompt")
    split = sum(s.split for s in plan.sentences)
    if split:
        parts.append(f"<span style='color:{WARN}'>{split} pieces split to fit</span>")
    if plan.dropped:
        parts.append(f"<span style='color:{WARN}'>not spoken: {html.escape(' '.join(plan.dropped[:12]))}</span>")
    return " · ".join(parts)


def round_trip_summary(take: Take) -> tuple[str, str, str]:
    """(text, colour, every problem) of a take's word check for its row; the text is cut to the row's width."""
    rt = take.round_trip
    if rt is None:
        return "words not checked", "", "Not transcribed back: “Check words” was off, no transcriber for the " \
            "language, or Cancel stopped the listening back"
    problems = rt.problems
    if not problems:
        return "✓ every word heard", OK, ""
    every = [f"{m.kind} ‘{m.word}’" + (f" → ‘{m.heard}’" if m.heard and m.kind == "changed" else "")
             for m in problems]
    text = f"⚠ {len(problems)} word problem{'s' if len(problems) > 1 else ''}: {', '.join(every[:3])}"
    return text + (" …" if len(problems) > 3 else ""), WARN if len(problems) < 3 else BAD, "\n".join(every)


class SentenceRow(QFrame):
    clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.StyledPanel)
        self.setObjectName("sentenceRow")
        self.number = QLabel()
        self.number.setFixedWidth(26)
        self.number.setAlignment(Qt.AlignRight | Qt.AlignTop)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.meter = BudgetMeter()
        self.split_tag = QLabel("split to fit")
        tint(self.split_tag, WARN)
        self.split_tag.setToolTip("This sentence is too long for one clip after the prompt: it was cut at a comma "
                                  "or between words, and each part is spoken on its own")
        self.dropped = ElidedLabel()
        tint(self.dropped, WARN)
        self.state = QLabel()
        self.check = ElidedLabel()
        self.check.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.check.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        self.play_btn = QToolButton()
        self.play_btn.setText("▶")
        self.play_btn.setToolTip("Play this sentence's take")
        self.redo_btn = QToolButton()
        self.redo_btn.setText("↻")
        self.history_btn = QToolButton()
        self.history_btn.setText("History")
        self.history_btn.setToolTip("Earlier takes of this sentence, with their settings: pick one to use it again")
        self.history_btn.setPopupMode(QToolButton.InstantPopup)
        self.history_btn.setMenu(QMenu(self.history_btn))
        self.history_btn.setText("History (99)")  # the widest it gets: every row's buttons line up
        self.history_btn.setFixedWidth(self.history_btn.sizeHint().width())
        self.history_btn.setText("History")

        facts = QHBoxLayout()
        facts.setSpacing(8)
        for w in (self.meter, self.state, self.split_tag, self.dropped):
            facts.addWidget(w)
        facts.addWidget(self.check, 1)  # takes the room left, and shortens its text to it
        text_col = QVBoxLayout()
        text_col.setSpacing(2)
        text_col.addWidget(self.text)
        text_col.addLayout(facts)
        button_col = QWidget()
        buttons = QHBoxLayout(button_col)
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.setSpacing(2)
        for b in (self.play_btn, self.redo_btn, self.history_btn):
            buttons.addWidget(b, 0, Qt.AlignTop)
        button_col.setFixedWidth(button_col.sizeHint().width())
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 3, 4, 3)
        lay.addWidget(self.number)
        lay.addLayout(text_col, 1)
        lay.addWidget(button_col, 0, Qt.AlignTop)
        self.selected = False

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        self.clicked.emit()
        super().mousePressEvent(event)

    def set_selected(self, selected: bool) -> None:
        self.selected = selected
        self.update()

    def paintEvent(self, event: object) -> None:  # noqa: N802 - Qt override
        super().paintEvent(event)  # type: ignore[arg-type]
        if self.selected:
            p = QPainter(self)
            p.setPen(self.palette().highlight().color())
            p.drawRoundedRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5), 3, 3)
            p.end()

    def set_sentence(self, index: int, sentence: PlannedSentence) -> None:
        self.number.setText(f"{index + 1}")
        self.text.setText(sentence.text)
        self.text.setToolTip(f"{sentence.n_ids} phoneme ids")
        self.meter.set_values(sentence.seconds, sentence.budget)
        self.split_tag.setVisible(sentence.split)
        self.dropped.setVisible(bool(sentence.dropped))
        self.dropped.setText("⚠ not spoken: " + " ".join(sentence.dropped[:8]) + (" …" if len(sentence.dropped) > 8
                                                                                   else ""))
        self.dropped.setToolTip("These symbols have no sound in VALL-E X and are left out")

    def show_take(self, take: Take | None, n_takes: int) -> None:
        self.play_btn.setEnabled(take is not None)
        self.history_btn.setEnabled(n_takes > 1)
        self.history_btn.setText(f"History ({n_takes})" if n_takes > 1 else "History")
        if take is None:
            self.redo_btn.setToolTip("Speak this sentence alone")
            self.set_state("not spoken yet", "")
            self.check.setText("")
            self.check.setToolTip("")
            return
        self.redo_btn.setToolTip("Speak this sentence again with a new seed; the other sentences stay as they are")
        cap = f" · <span style='color:{BAD}'>length cap</span>" if take.stopped == "cap" else ""
        self.set_state(f"<b>{take.duration:.1f} s</b> · seed {take.settings.seed}{cap}", "")
        text, color, every = round_trip_summary(take)
        self.check.setText(text)
        self.check.setToolTip(every)
        tint(self.check, color)

    def set_state(self, text: str, color: str) -> None:
        self.state.setText(text)
        tint(self.state, color)


class SentenceList(QScrollArea):
    """Rows are kept and refilled as the plan changes (typing must not rebuild a hundred widgets each time)."""

    selected = Signal(int)
    play_requested = Signal(int)
    redo_requested = Signal(int)
    take_chosen = Signal(int, int)  # row, index in its history

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.rows: list[SentenceRow] = []
        self.count = 0
        self.current = -1
        self.history_of: Callable[[int], tuple[list[TakeEntry], int]] = lambda row: ([], -1)
        body = QWidget()
        self._lay = QVBoxLayout(body)
        self._lay.setContentsMargins(2, 2, 2, 2)
        self._lay.setSpacing(3)
        self.placeholder = QLabel("Type text above: it is cut into sentences that each fit one clip.")
        self.placeholder.setEnabled(False)
        self._lay.addWidget(self.placeholder)
        self._lay.addStretch(1)
        self.setWidget(body)
        sample = SentenceRow()  # two rows always show, however little room the window has
        self.setMinimumHeight(2 * sample.sizeHint().height() + 3 + 4 + 2 * self.frameWidth())
        sample.deleteLater()

    def set_sentences(self, sentences: list[PlannedSentence]) -> None:
        while len(self.rows) < len(sentences):
            row = self._new_row(len(self.rows))
            self._lay.insertWidget(len(self.rows) + 1, row)
            self.rows.append(row)
        for i, (row, sentence) in enumerate(zip(self.rows, sentences, strict=False)):
            row.set_sentence(i, sentence)
            row.show()
        for row in self.rows[len(sentences):]:
            row.hide()
        self.count = len(sentences)
        self.placeholder.setVisible(not sentences)
        if self.current >= self.count:
            self.select(self.count - 1)

    def _new_row(self, i: int) -> SentenceRow:
        row = SentenceRow()
        row.clicked.connect(lambda: self.select(i))
        row.play_btn.clicked.connect(lambda _=False: self.play_requested.emit(i))
        row.redo_btn.clicked.connect(lambda _=False: self.redo_requested.emit(i))
        menu = row.history_btn.menu()
        menu.aboutToShow.connect(lambda: self._fill_history(i, menu))
        return row

    def _fill_history(self, i: int, menu: QMenu) -> None:
        menu.clear()
        entries, chosen = self.history_of(i)
        for k, entry in reversed(list(enumerate(entries))):
            action = menu.addAction(f"{entry.made:%H:%M:%S} · {describe_take(entry.take)} · {check_text(entry.take)}")
            action.setCheckable(True)
            action.setChecked(k == chosen)
            action.triggered.connect(lambda _=False, k=k: self.take_chosen.emit(i, k))

    def select(self, i: int) -> None:
        if 0 <= self.current < len(self.rows):
            self.rows[self.current].set_selected(False)
        self.current = i if 0 <= i < self.count else -1
        if self.current >= 0:
            self.rows[self.current].set_selected(True)
            self.ensureWidgetVisible(self.rows[self.current])
        self.selected.emit(self.current)

    def row(self, i: int) -> SentenceRow:
        return self.rows[i]
