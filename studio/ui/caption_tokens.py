"""The caption as clickable tokens: each shows its probability, its tooltip the model's five likeliest choices at
that step; picking one asks the panel to draw that token's attention. Below it, the selected token's
alternatives: picking one continues the caption from it."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem, QWidget

from studio.engine.caption.result import CaptionResult


def token_tooltip(piece: str, prob: float, top5: list[tuple[str, float]]) -> str:
    rows = "".join(f"<tr><td>{'▶ ' if p == piece else ''}{_html(p)}</td><td align=right>{q:.1%}</td></tr>"
                   for p, q in top5)
    return f"<b>{_html(piece)}</b> — chosen at {prob:.1%}<br>Top 5 at this step:<table>{rows}</table>"


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _chips(strip: QListWidget, height: int) -> None:
    """A list shown as wrapping chips, left to right."""
    strip.setFlow(QListView.LeftToRight)
    strip.setWrapping(True)
    strip.setResizeMode(QListView.Adjust)
    strip.setSpacing(3)
    strip.setMaximumHeight(height)


class TokenStrip(QListWidget):
    """One chip per generated token, wrapping left to right; unsure tokens are tinted warmer."""

    token_selected = Signal(int)  # index of the generated token, -1 for none

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        _chips(self, 96)
        self.setUniformItemSizes(False)
        self.currentRowChanged.connect(self.token_selected.emit)

    def set_tokens(self, pieces: list[str], probs: list[float], top5: list[list[tuple[str, float]]]) -> None:
        self.blockSignals(True)
        self.clear()
        for piece, prob, alts in zip(pieces, probs, top5, strict=True):
            item = QListWidgetItem(f"{piece}  {prob:.0%}", self)
            item.setToolTip(token_tooltip(piece, prob, alts))
            item.setTextAlignment(Qt.AlignCenter)
            item.setSizeHint(QSize(max(56, 9 * len(piece) + 48), 26))
            # sure tokens plain, unsure ones amber to red: where the caption is a guess shows at a glance
            doubt = 1.0 - prob
            if doubt > 0.5:
                item.setBackground(QColor(200, 120 - int(80 * (doubt - 0.5) * 2), 40, 110))
        self.blockSignals(False)


class AlternativesStrip(QListWidget):
    """The five likeliest tokens at the selected step; clicking one that was not chosen asks for the caption
    continued from it."""

    chosen = Signal(int)  # rank of the alternative (0 = likeliest)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        _chips(self, 64)
        self.setToolTip("The model's five likeliest tokens at this step: click one to continue the caption from it")
        self.itemClicked.connect(self._clicked)

    def set_alternatives(self, top5: list[tuple[str, float]], picked: str) -> None:
        self.clear()
        for piece, prob in top5:
            item = QListWidgetItem(f"{'▶ ' if piece == picked else ''}{piece}  {prob:.0%}", self)
            item.setTextAlignment(Qt.AlignCenter)
            item.setSizeHint(QSize(max(56, 9 * len(piece) + 60), 26))
            item.setData(Qt.UserRole, piece == picked)

    def _clicked(self, item: QListWidgetItem) -> None:
        if not item.data(Qt.UserRole):  # the chosen token itself changes nothing
            self.chosen.emit(self.row(item))


def patch_readout(r: CaptionResult, row: int, col: int, layer: int | None, head: int | None, n: int = 3) -> str:
    """The `n` tokens that attended most to patch (row, col), with their weights, as rich text."""
    assert r.cross_attention is not None
    a = r.cross_attention[:, :, :, 1 + row * r.grid + col]  # index 0 is the class token
    a = a[layer:layer + 1] if layer is not None else a
    a = a[:, head:head + 1] if head is not None else a
    per_token = a.mean(axis=(0, 1))
    return ", ".join(f"<b>{_html(r.pieces[i])}</b> {per_token[i]:.4f}" for i in np.argsort(-per_token)[:n])
