"""The Caption panel's picture: the image (or a token's attention overlay on it) fitted to the widget, a colour
bar for the overlay, and hover reports in image coordinates so the panel can say which tokens looked there."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QLinearGradient, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from studio.engine.render import colormap_table

BAR_WIDTH = 14
BAR_SPACE = 116  # the colour bar, its title and labels, right of the picture
BAR_MIN_HEIGHT = 160  # a wide, flat picture still gets a readable bar


def to_qimage(rgb: np.ndarray) -> QImage:
    """(h, w, 3) uint8 -> a QImage that owns its pixels (the numpy buffer may go away)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format_RGB888).copy()


def bar_digits(lo: float, hi: float) -> int:
    """Decimals that tell the colour bar's ends apart (a nearly flat map differs in the fourth or fifth place)."""
    spread = hi - lo
    return 3 if spread <= 0 or spread >= 0.01 else min(6, 3 + math.ceil(-math.log10(spread)))


class CaptionImageView(QWidget):
    """Shows `image` (h, w, 3 uint8) or, when set, `overlay` (same shape) with a colour bar labelled `bar_range`."""

    hovered = Signal(float, float)  # x, y as fractions of the picture (0..1); (-1, -1) when the mouse leaves it

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setMinimumSize(240, 180)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.image: np.ndarray | None = None
        self.overlay: np.ndarray | None = None  # what is on screen when a token is selected (tests compare it)
        self.bar_range: tuple[float, float] = (0.0, 1.0)
        self.placeholder = "Open, drop or paste (Ctrl+V) a picture."
        self._qimage: QImage | None = None
        self._bar = [QColor(*map(int, c)) for c in colormap_table("inferno")[::16]]
        self.marker: tuple[float, float] | None = None  # the hovered patch's centre, as fractions

    def set_image(self, rgb: np.ndarray | None) -> None:
        self.image, self.overlay = rgb, None
        self._qimage = None if rgb is None else to_qimage(rgb)
        self.update()

    def set_overlay(self, rgb: np.ndarray | None, value_range: tuple[float, float] = (0.0, 1.0)) -> None:
        self.overlay, self.bar_range = rgb, value_range
        shown = rgb if rgb is not None else self.image
        self._qimage = None if shown is None else to_qimage(shown)
        self.update()

    def picture_rect(self) -> QRectF:
        """Where the picture is drawn: fitted, aspect kept, left of the colour bar."""
        if self._qimage is None:
            return QRectF()
        room_w, room_h = max(1, self.width() - BAR_SPACE), max(1, self.height())
        w, h = self._qimage.width(), self._qimage.height()
        scale = min(room_w / w, room_h / h)
        dw, dh = w * scale, h * scale
        return QRectF((room_w - dw) / 2, (room_h - dh) / 2, dw, dh)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        p.setRenderHint(QPainter.SmoothPixmapTransform)
        if self._qimage is None:
            p.setPen(self.palette().placeholderText().color())
            p.drawText(self.rect(), Qt.AlignCenter | Qt.TextWordWrap, self.placeholder)
            return
        rect = self.picture_rect()
        p.drawImage(rect, self._qimage)
        if self.marker is not None:
            x, y = rect.left() + self.marker[0] * rect.width(), rect.top() + self.marker[1] * rect.height()
            p.setPen(QColor(80, 220, 255))
            p.drawEllipse(QPointF(x, y), 6, 6)
        if self.overlay is not None:
            self._paint_bar(p, rect)

    def _paint_bar(self, p: QPainter, picture: QRectF) -> None:
        top, bottom = picture.top() + 8, picture.bottom() - 8
        if bottom - top < BAR_MIN_HEIGHT:
            top = max(8.0, (top + bottom) / 2 - BAR_MIN_HEIGHT / 2)
            bottom = min(self.height() - 8.0, top + BAR_MIN_HEIGHT)
        x = self.width() - BAR_SPACE + 26  # the rotated title sits between the picture and the bar
        grad = QLinearGradient(0, bottom, 0, top)  # low attention at the bottom
        for i, c in enumerate(self._bar):
            grad.setColorAt(i / (len(self._bar) - 1), c)
        p.fillRect(QRectF(x, top, BAR_WIDTH, bottom - top), grad)
        p.setPen(self.palette().text().color())
        lo, hi = self.bar_range
        digits = bar_digits(lo, hi)
        p.drawText(QPointF(x + BAR_WIDTH + 4, top + 10), f"{hi:.{digits}f}")
        p.drawText(QPointF(x + BAR_WIDTH + 4, bottom), f"{lo:.{digits}f}")
        p.save()
        p.translate(x - 10, (top + bottom) / 2)
        p.rotate(-90)
        p.drawText(QRectF(-60, -14, 120, 14), Qt.AlignCenter, "attention")
        p.restore()

    def fraction_at(self, x: float, y: float) -> tuple[float, float] | None:
        """Widget point -> (x, y) fractions of the picture, or None off the picture."""
        rect = self.picture_rect()
        if rect.isEmpty() or not rect.contains(QPointF(x, y)):
            return None
        return (x - rect.left()) / rect.width(), (y - rect.top()) / rect.height()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        pos = event.position()
        at = self.fraction_at(pos.x(), pos.y())
        self.hovered.emit(*(at if at is not None else (-1.0, -1.0)))

    def leaveEvent(self, event: object) -> None:  # noqa: N802 - Qt override
        self.hovered.emit(-1.0, -1.0)
