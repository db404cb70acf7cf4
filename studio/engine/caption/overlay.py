"""A token's cross-attention drawn over the image: the patch grid upsampled smoothly to the picture's size,
coloured and alpha-blended (numpy + PIL, no Qt: the CLI writes these too)."""

from __future__ import annotations

import numpy as np

from studio.engine.render import colormap_table


def heat(patch_map: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(grid, grid) attention -> (height, width) in 0..1, upsampled bicubically (the model saw the picture
    squeezed to a square; the grid is stretched back over the picture as shown)."""
    from PIL import Image

    a = patch_map.astype(np.float32)
    a = (a - a.min()) / max(float(a.max() - a.min()), 1e-12)
    up = Image.fromarray(a, mode="F").resize(size, Image.BICUBIC)
    return np.clip(np.asarray(up, np.float32), 0.0, 1.0)


def blend(image_rgb: np.ndarray, patch_map: np.ndarray, alpha: float = 0.55, cmap: str = "inferno") -> np.ndarray:
    """(h, w, 3) uint8 picture + (grid, grid) attention -> (h, w, 3) uint8 overlay: strong attention opaque."""
    h, w = image_rgb.shape[:2]
    weight = heat(patch_map, (w, h))
    colour = colormap_table(cmap)[(weight * 255).astype(np.uint8)].astype(np.float32)
    a = (alpha * weight)[..., None]
    return (image_rgb.astype(np.float32) * (1 - a) + colour * a).round().astype(np.uint8)


def token_sheet(image_rgb: np.ndarray, maps: list[np.ndarray], labels: list[str], width: int = 224,
                columns: int = 6) -> np.ndarray:
    """One overlay per token, tiled, each labelled with its token (the CLI's <stem>.png)."""
    from PIL import Image, ImageDraw

    scale = width / image_rgb.shape[1]
    tile_h = max(32, round(image_rgb.shape[0] * scale))  # a 10000 x 50 picture is stretched, not 1 px high
    small = np.asarray(Image.fromarray(image_rgb).resize((width, tile_h), Image.BICUBIC))
    label_h = 16
    rows = -(-len(maps) // columns)
    sheet = Image.new("RGB", (columns * width, max(1, rows) * (tile_h + label_h)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (m, label) in enumerate(zip(maps, labels, strict=True)):
        x, y = (i % columns) * width, (i // columns) * (tile_h + label_h)
        sheet.paste(Image.fromarray(blend(small, m)), (x, y + label_h))
        draw.text((x + 3, y + 2), f"{i + 1}. {label}", fill="black")
    return np.asarray(sheet)
