"""The image side of captioning: open a picture safely and turn it into BLIP's pixel values.

The checkpoints were trained with Hugging Face's `BlipImageProcessor` (its PIL path), so every step here is that
path's, step for step: RGB conversion that composites transparency onto white, a PIL resize of the uint8 image,
rescale in float64 then float32, normalize in float32. The result equals transformers' output bit for bit.
numpy + PIL only: no torch, so the UI may call it too.
"""

from __future__ import annotations

import io
import json
import math
import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from studio.errors import StudioError
from studio.outputs import describe_os_error

# Refused from the header alone, before decoding: 100 MP is a 300 MB RGB image, larger than any camera's photo
# needs for a 384 px model input.
MAX_PIXELS = 100_000_000
_FILTERS = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}
_OPEN_REMEDY = "Choose a PNG, JPEG, WebP, BMP, GIF or TIFF picture."


@dataclass(frozen=True)
class Preprocess:
    """BlipImageProcessor's settings (its defaults are the Salesforce BLIP checkpoints')."""

    size: tuple[int, int] = (384, 384)  # (height, width)
    resample: int = 3  # a PIL filter id; 3 = bicubic
    rescale_factor: float = 1 / 255
    mean: tuple[float, float, float] = (0.48145466, 0.4578275, 0.40821073)
    std: tuple[float, float, float] = (0.26862954, 0.26130258, 0.27577711)
    do_resize: bool = True
    do_rescale: bool = True
    do_normalize: bool = True
    do_convert_rgb: bool = True

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> Preprocess:
        """Read a Hugging Face `preprocessor_config.json`; keys it does not set keep BLIP's defaults."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise _config_error(path, "it is not UTF-8 text") from e
        except OSError as e:
            raise describe_os_error(e, path, "read") from e
        try:
            cfg = json.loads(text)
        except json.JSONDecodeError as e:
            raise _config_error(path, f"it is not valid JSON (line {e.lineno})") from e
        if not isinstance(cfg, dict):
            raise _config_error(path, "it is not a JSON object")
        return cls.from_dict(cfg, str(path))

    @classmethod
    def from_dict(cls, cfg: dict[str, Any], source: str = "preprocessor_config.json") -> Preprocess:
        d = cls()
        where = Path(source)
        for key in ("do_center_crop", "do_pad"):  # steps BLIP's processor does not have
            if cfg.get(key):
                raise _config_error(where, f"it asks for '{key}', which BLIP image processing does not do")
        flags = {}
        for key in ("do_resize", "do_rescale", "do_normalize", "do_convert_rgb"):
            value = cfg.get(key, getattr(d, key))
            if value is None:  # transformers reads null as "use the class default"
                value = getattr(d, key)
            if not isinstance(value, bool):
                raise _config_error(where, f"'{key}' is {value!r}, not true or false")
            flags[key] = value
        return cls(size=_size(cfg.get("size"), d.size, where), resample=_resample(cfg.get("resample"), where),
                   rescale_factor=_number(cfg.get("rescale_factor", d.rescale_factor), "rescale_factor", where),
                   mean=_triple(cfg.get("image_mean", d.mean), "image_mean", where),
                   std=_triple(cfg.get("image_std", d.std), "image_std", where, nonzero=True), **flags)


def _config_error(path: Path, why: str) -> StudioError:
    return StudioError(f"Cannot use the image settings in '{path}': {why}.",
                       "Use the preprocessor_config.json that came with the BLIP checkpoint, or delete it to use "
                       "BLIP's defaults.")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _size(value: object, default: tuple[int, int], where: Path) -> tuple[int, int]:
    if value is None:
        return default
    if isinstance(value, dict) and set(value) >= {"height", "width"}:
        h, w = value["height"], value["width"]
    elif isinstance(value, int) and not isinstance(value, bool):  # old configs: one number for a square
        h = w = value
    else:
        raise _config_error(where, f"'size' is {value!r}; BLIP needs {{\"height\": H, \"width\": W}} or a number")
    for n in (h, w):
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 4096:
            raise _config_error(where, f"'size' is {value!r}; height and width must be whole numbers 1-4096")
    return h, w


def _resample(value: object, where: Path) -> int:
    if value is None:
        return 3
    if not isinstance(value, int) or isinstance(value, bool) or value not in _FILTERS:
        raise _config_error(where, f"'resample' is {value!r}, not a PIL filter number "
                                   f"({', '.join(f'{k} {v}' for k, v in _FILTERS.items())})")
    return value


def _number(value: object, key: str, where: Path) -> float:
    if not _is_number(value) or value <= 0:  # type: ignore[operator]
        raise _config_error(where, f"'{key}' is {value!r}, not a positive number")
    return float(value)  # type: ignore[arg-type]


def _triple(value: object, key: str, where: Path, nonzero: bool = False) -> tuple[float, float, float]:
    if _is_number(value):  # transformers spreads one number over the three channels
        value = [value] * 3
    if not isinstance(value, (list, tuple)) or len(value) != 3 or not all(_is_number(v) for v in value):
        raise _config_error(where, f"'{key}' is {value!r}, not three numbers (red, green, blue)")
    if nonzero and any(v == 0 for v in value):
        raise _config_error(where, f"'{key}' is {list(value)!r}; a zero would divide by zero")
    return float(value[0]), float(value[1]), float(value[2])


def open_image(path: str | os.PathLike) -> Image.Image:
    """The picture at `path` as an RGB PIL image, upright per its EXIF orientation. Refuses, with a one-line
    StudioError, folders, pipes and devices, empty and damaged files, non-images and decompression bombs."""
    path = Path(path)
    try:
        st = os.stat(path)
    except OSError as e:
        raise describe_os_error(e, path, "read") from e
    if stat.S_ISDIR(st.st_mode):
        raise StudioError(f"'{path}' is a folder, not a picture.", _OPEN_REMEDY)
    if not stat.S_ISREG(st.st_mode):  # opening a FIFO would block until someone writes to it
        raise StudioError(f"'{path}' is not a regular file (a pipe, socket or device).", _OPEN_REMEDY)
    if st.st_size == 0:
        raise StudioError(f"'{path}' is empty (0 bytes).", _OPEN_REMEDY)
    try:
        with open(path, "rb") as f:
            return _decode(f, f"'{path}'")
    except OSError as e:  # open() itself failed: permissions, a vanished file
        raise describe_os_error(e, path, "read") from e


def image_from_bytes(data: bytes) -> Image.Image:
    """A pasted or dropped picture's bytes as an RGB PIL image, with open_image's checks."""
    if not data:
        raise StudioError("The pasted picture is empty (0 bytes).", "Copy the picture again and paste it.")
    return _decode(io.BytesIO(data), "The pasted data")


def _decode(f: io.BufferedIOBase, name: str) -> Image.Image:
    """Decode a seekable stream holding an image; all decoder failures become a StudioError naming `name`."""
    try:
        with warnings.catch_warnings():  # the size is checked below against our own limit
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(f)  # lazy: reads the header only
    except Image.DecompressionBombError as e:
        raise _too_large(name, None) from e
    except UnidentifiedImageError as e:
        raise StudioError(f"{name} is not a picture Voice Studio can read.", _OPEN_REMEDY) from e
    except OSError as e:
        raise StudioError(f"{name} could not be read as a picture ({_first_line(e)}).", _OPEN_REMEDY) from e
    with im:
        w, h = im.size
        if w * h > MAX_PIXELS:
            raise _too_large(name, (w, h))
        if w == 0 or h == 0:
            raise StudioError(f"{name} is a picture with no pixels ({w} x {h}).", _OPEN_REMEDY)
        # Not PIL's LOAD_TRUNCATED_IMAGES: a cut-off file would be captioned with its missing part grey,
        # and transformers' load_image refuses it too.
        try:
            im.load()
            upright = ImageOps.exif_transpose(im)
            return to_rgb(upright)
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError,
                MemoryError, Image.DecompressionBombError) as e:
            truncated = "truncated" in str(e) or isinstance(e, EOFError)
            why = "it is cut short (truncated)" if truncated else f"it is damaged ({_first_line(e)})"
            raise StudioError(f"{name} could not be decoded: {why}.",
                              "Open it in an image editor and save it again, or choose another picture.") from e


def _too_large(name: str, size: tuple[int, int] | None) -> StudioError:
    dims = f" ({size[0]} x {size[1]} pixels)" if size else ""
    return StudioError(f"{name} is too large to open safely{dims}; the limit is {MAX_PIXELS // 1_000_000} "
                       "megapixels.", "Scale the picture down (the captioner sees it at 384 x 384 anyway).")


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else type(e).__name__


def to_rgb(image: Image.Image) -> Image.Image:
    """transformers' convert_to_rgb for PIL images: anything with an alpha band or a transparency entry (LA, RGBA,
    PA, P or L with tRNS) is composited onto opaque white; every other mode is PIL's convert("RGB"), which clips
    16-bit and 32-bit values to 0-255 rather than scaling them, exactly as the checkpoints' processor does."""
    if image.mode == "RGB":
        return image
    if "A" in image.getbands() or image.info.get("transparency") is not None:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def pixels(image: Image.Image, pre: Preprocess = Preprocess()) -> np.ndarray:
    """BLIP's input for one image: float32 (3, H, W), equal to BlipImageProcessor's pixel_values."""
    # BLIP needs three channels, so a non-RGB image is converted even when do_convert_rgb is off (transformers
    # would fail there on the channel count instead).
    rgb = to_rgb(image) if pre.do_convert_rgb or image.mode != "RGB" else image
    if pre.do_resize:
        h, w = pre.size
        rgb = rgb.resize((w, h), resample=pre.resample)  # PIL on uint8, as transformers' PIL backend
    arr = np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1)
    if pre.do_rescale:
        out = (arr.astype(np.float64) * pre.rescale_factor).astype(np.float32)  # float64 first, as transformers
    else:
        out = arr.astype(np.float32)
    if pre.do_normalize:
        mean = np.asarray(pre.mean, dtype=np.float32)[:, None, None]
        std = np.asarray(pre.std, dtype=np.float32)[:, None, None]
        out = (out - mean) / std
    return np.ascontiguousarray(out, dtype=np.float32)


__all__ = ["MAX_PIXELS", "Preprocess", "image_from_bytes", "open_image", "pixels", "to_rgb"]
