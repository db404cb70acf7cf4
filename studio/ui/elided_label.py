"""A one-line label that shortens its text with '…' to the width it is given, so a long message (the device with
its GPU name, a take's word problems) never widens the view; the whole text is in its tooltip when cut."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

MIN_CHARS = 6  # what stays readable at the narrowest


class ElidedLabel(QLabel):
    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Fixed)
        self._tip = ""
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt override
        super().setText(text)
        self._update_tip()

    def setToolTip(self, tip: str) -> None:  # noqa: N802 - Qt override
        self._tip = tip
        self._update_tip()

    def _update_tip(self) -> None:
        cut = self.fontMetrics().horizontalAdvance(self.text()) > self.contentsRect().width()
        parts = [self.text()] if cut and self.text() else []
        super().setToolTip("\n".join(parts + ([self._tip] if self._tip else [])))

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        fm = self.fontMetrics()
        width = min(fm.horizontalAdvance(self.text()), fm.averageCharWidth() * MIN_CHARS)
        return QSize(width, fm.height())

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(self.fontMetrics().horizontalAdvance(self.text()) + 2, self.fontMetrics().height())

    def resizeEvent(self, event: object) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)  # type: ignore[arg-type]
        self._update_tip()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        p.setPen(self.palette().color(self.foregroundRole()))
        r = self.contentsRect()
        shown = self.fontMetrics().elidedText(self.text(), Qt.ElideRight, r.width())
        p.drawText(r, int(self.alignment() | Qt.AlignVCenter), shown)
        p.end()
