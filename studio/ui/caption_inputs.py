"""Pictures into the Caption panel: files read for display (numpy/PIL, no torch), pasted pictures saved as PNG so
the captioning job, like the CLI, always reads a file."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMimeData
from PySide6.QtGui import QImage

from studio.engine.caption.image import image_from_bytes, open_image
from studio.outputs import write_bytes

IMAGE_FILTER = "Pictures (*.png *.jpg *.jpeg *.webp *.bmp *.gif *.tif *.tiff);;All files (*)"
DISPLAY_SIDE = 1024  # pictures are shown (and overlays blended) at most this big: a 40 MP photo stays responsive


def load_display(path: str | Path) -> np.ndarray:
    """The picture at `path`, upright, as (h, w, 3) uint8 no larger than DISPLAY_SIDE. Raises StudioError."""
    from PIL import Image

    picture = open_image(path)
    picture.thumbnail((DISPLAY_SIDE, DISPLAY_SIDE), Image.BICUBIC)
    return np.asarray(picture.convert("RGB"), dtype=np.uint8)


def clipboard_bytes(mime: QMimeData) -> bytes | None:
    """Encoded picture bytes from the clipboard: an image Qt decoded (re-encoded as PNG), or raw image/* data.
    None when the clipboard holds no picture at all."""
    if mime.hasImage():
        image = mime.imageData()
        if isinstance(image, QImage) and not image.isNull():
            return qimage_png(image)
    for fmt in mime.formats():
        if fmt.startswith("image/"):
            return bytes(mime.data(fmt).data())
    return None


def qimage_png(image: QImage) -> bytes:
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.WriteOnly)
    image.save(buf, "PNG")
    buf.close()
    return bytes(data.data())


def save_pasted(data: bytes, folder: Path, number: int) -> Path:
    """Check pasted bytes as open_image checks files, and save them as `pasted-N.png` in `folder`."""
    picture = image_from_bytes(data)  # bad bytes -> StudioError, before anything is written
    path = folder / f"pasted-{number}.png"
    png = io.BytesIO()
    picture.save(png, "PNG")
    return write_bytes(path, png.getvalue())  # atomic; a failure is a StudioError naming the path
