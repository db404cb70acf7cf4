"""Turning a spectrogram into pixels without Qt: colormaps and a minimal PNG writer (for the CLI)."""

from __future__ import annotations

import os
import struct
import zlib
from typing import TYPE_CHECKING

from studio.outputs import write_bytes

if TYPE_CHECKING:  # numpy is imported where it is used: the CLI reads COLORMAPS before it needs any of it
    import numpy as np

# anchor colours sampled from the perceptually uniform matplotlib maps; interpolated to 256 entries
_ANCHORS = {
    "magma": ["#000004", "#1c1044", "#4f127b", "#812581", "#b5367a", "#e55064", "#fb8761", "#fec287", "#fcfdbf"],
    "viridis": ["#440154", "#472c7a", "#3b518b", "#2c718e", "#21908d", "#27ad81", "#5cc863", "#aadc32", "#fde725"],
    "inferno": ["#000004", "#1f0c48", "#550f6d", "#88226a", "#ba3655", "#e35933", "#f98c0a", "#f9c932", "#fcffa4"],
    "gray": ["#000000", "#ffffff"],
}
COLORMAPS = tuple(_ANCHORS)


def colormap_table(name: str) -> np.ndarray:
    """(256, 3) uint8 lookup table."""
    import numpy as np

    if name not in _ANCHORS:
        raise ValueError(f"unknown colormap {name!r}; choose one of {', '.join(COLORMAPS)}")
    rgb = np.array([[int(h[i : i + 2], 16) for i in (1, 3, 5)] for h in _ANCHORS[name]], np.float64)
    x = np.linspace(0, 1, len(rgb))
    t = np.linspace(0, 1, 256)
    return np.stack([np.interp(t, x, rgb[:, c]) for c in range(3)], axis=1).round().astype(np.uint8)


def percentiles(values: np.ndarray, *percents: float) -> list[float]:
    """np.percentile's default (linear between the two nearest ranks) for a few percents, through one partial sort.
    np.percentile imports numpy.ma on its first call: 16 ms on the window's thread when the first take's attention
    was drawn (benchmarks/ui_stall.py)."""
    import numpy as np

    flat = np.asarray(values, dtype=np.float64).ravel()
    if flat.size == 0:
        raise ValueError("percentiles of an empty array")
    if any(not 0 <= p <= 100 for p in percents):
        raise ValueError(f"percents must be within 0..100, got {percents}")
    last = flat.size - 1
    at = [p / 100 * last for p in percents]
    below = [int(np.floor(a)) for a in at]
    part = np.partition(flat, sorted({*below, *(min(b + 1, last) for b in below)}))
    return [float(part[b] + (part[min(b + 1, last)] - part[b]) * (a - b)) for a, b in zip(at, below, strict=True)]


def colorize(image: np.ndarray, vmin: float, vmax: float, cmap: str = "magma") -> np.ndarray:
    """(rows, cols) values, low frequencies first -> (rows, cols, 3) uint8 with low frequencies at the bottom."""
    import numpy as np

    scaled = (np.nan_to_num(image, nan=vmin, neginf=vmin) - vmin) / max(vmax - vmin, 1e-12)
    idx = np.clip(scaled * 255, 0, 255).astype(np.uint8)
    return colormap_table(cmap)[idx[::-1]]


def write_png(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """Write (h, w, 3) uint8 as an 8-bit RGB PNG, atomically (a full disk leaves no partial image)."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
    write_bytes(path, png)
