"""One colour per speech unit, shared by the units strip and the statistics window."""

from __future__ import annotations

import colorsys

import numpy as np


def unit_colors(k: int) -> np.ndarray:
    """(k, 4) uint8: hues spread by the golden ratio (neighbouring ids far apart), three brightness levels."""
    out = np.zeros((k, 4), np.uint8)
    for i in range(k):
        r, g, b = colorsys.hsv_to_rgb((i * 0.618034) % 1.0, (0.85, 0.55, 0.95)[i % 3], (0.95, 0.8, 0.6)[i % 3 - 1])
        out[i] = (int(r * 255), int(g * 255), int(b * 255), 255)
    return out
