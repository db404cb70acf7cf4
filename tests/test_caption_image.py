"""Image preprocessing for captioning: our pixels equal transformers' BlipImageProcessor (its PIL path, which the
BLIP checkpoints were made with) on real photos and every odd PIL mode; bad files are one-line StudioErrors."""

from __future__ import annotations

import io
import json
import os
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from studio.engine.caption.image import MAX_PIXELS, Preprocess, image_from_bytes, open_image, pixels, to_rgb
from studio.errors import StudioError

skdata = pytest.importorskip("skimage.data")
transformers = pytest.importorskip("transformers")


def _reference(**kw: object):
    """BlipImageProcessor's PIL backend. transformers 5 has two backends and picks torchvision's when installed
    (a different resize, not what the checkpoints were trained with); older versions have only this path."""
    cls = getattr(transformers, "BlipImageProcessorPil", None) or transformers.BlipImageProcessor
    return cls(**kw)


def _hf(image: Image.Image, **kw: object) -> np.ndarray:
    out = _reference(**kw)(image)["pixel_values"]
    return np.asarray(out[0])


def _same(ours: np.ndarray, theirs: np.ndarray) -> None:
    assert ours.dtype == np.float32 and ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() <= 1e-5
    # stronger than asked: every step is the same operation, so the values should be identical
    assert np.array_equal(ours, theirs)


def _roundtrip(image: Image.Image, fmt: str, **save: object) -> Image.Image:
    buf = io.BytesIO()
    image.save(buf, fmt, **save)
    return image_from_bytes(buf.getvalue())


def _photo(name: str) -> Image.Image:
    return Image.fromarray(getattr(skdata, name)())


@pytest.mark.parametrize("name,fmt", [("astronaut", "PNG"), ("coffee", "JPEG"), ("chelsea", "JPEG")])
def test_real_photos_match_transformers(tmp_path: Path, name: str, fmt: str) -> None:
    path = tmp_path / f"{name}.{fmt.lower()}"
    _photo(name).save(path, fmt)
    before = path.read_bytes()
    ours = pixels(open_image(path))
    with Image.open(path) as im:
        theirs = _hf(im.convert("RGB"))
    _same(ours, theirs)
    assert ours.shape == (3, 384, 384)
    assert path.read_bytes() == before  # the input is never touched


def _config(tmp_path: Path, cfg: dict) -> Path:
    path = tmp_path / "preprocessor_config.json"
    path.write_text(json.dumps(cfg))
    return path


def test_preprocessor_config_file_matches_transformers(tmp_path: Path) -> None:
    cfg = {"image_processor_type": "BlipImageProcessor", "processor_class": "BlipProcessor",
           "size": {"height": 224, "width": 320}, "resample": 2, "rescale_factor": 0.004,
           "image_mean": [0.5, 0.4, 0.3], "image_std": [0.2, 0.25, 0.3], "do_normalize": True,
           "do_resize": True, "do_rescale": True, "do_convert_rgb": True}
    pre = Preprocess.from_file(_config(tmp_path, cfg))
    assert pre.size == (224, 320) and pre.resample == 2 and pre.mean == (0.5, 0.4, 0.3)
    photo = _photo("chelsea")
    ours = pixels(photo, pre)
    assert ours.shape == (3, 224, 320)
    theirs = np.asarray(_reference(**{k: v for k, v in cfg.items() if not k.endswith("_class")
                                                and k != "image_processor_type"})(photo)["pixel_values"][0])
    _same(ours, theirs)
    # a processor made from the folder agrees too (transformers reads the same file)
    ref = getattr(transformers, "BlipImageProcessorPil", None) or transformers.BlipImageProcessor
    _same(ours, np.asarray(ref.from_pretrained(tmp_path)(photo)["pixel_values"][0]))


def test_config_variants(tmp_path: Path) -> None:
    assert Preprocess.from_file(_config(tmp_path, {})) == Preprocess()
    assert Preprocess.from_file(_config(tmp_path, {"size": 256})).size == (256, 256)
    assert Preprocess.from_file(_config(tmp_path, {"image_mean": 0.5})).mean == (0.5, 0.5, 0.5)
    off = Preprocess.from_file(_config(tmp_path, {"do_resize": False, "do_rescale": False, "do_normalize": False}))
    photo = _photo("coffee")
    ours = pixels(photo, off)
    assert ours.shape == (3, *photo.size[::-1])
    assert np.array_equal(ours, np.asarray(photo).transpose(2, 0, 1).astype(np.float32))
    _same(ours, _hf(photo, do_resize=False, do_rescale=False, do_normalize=False))


@pytest.mark.parametrize("cfg,phrase", [
    ({"size": {"shortest_edge": 384}}, "'size'"),
    ({"size": {"height": 0, "width": 384}}, "'size'"),
    ({"size": "big"}, "'size'"),
    ({"resample": 9}, "'resample'"),
    ({"resample": "bicubic"}, "'resample'"),
    ({"rescale_factor": -1}, "'rescale_factor'"),
    ({"rescale_factor": "1/255"}, "'rescale_factor'"),
    ({"image_mean": [0.5, 0.5]}, "'image_mean'"),
    ({"image_std": [0.5, 0.0, 0.5]}, "zero"),
    ({"image_std": [0.5, None, 0.5]}, "'image_std'"),
    ({"do_resize": "yes"}, "'do_resize'"),
    ({"do_center_crop": True}, "do_center_crop"),
    ([1, 2, 3], "not a JSON object"),
])
def test_config_junk_is_a_message(tmp_path: Path, cfg: object, phrase: str) -> None:
    with pytest.raises(StudioError) as e:
        Preprocess.from_file(_config(tmp_path, cfg))  # type: ignore[arg-type]
    assert phrase in e.value.message and "\n" not in e.value.message and e.value.remedy


def test_config_not_json_or_missing(tmp_path: Path) -> None:
    bad = tmp_path / "preprocessor_config.json"
    bad.write_text('{"size": ')
    with pytest.raises(StudioError, match="not valid JSON"):
        Preprocess.from_file(bad)
    bad.write_bytes(b"\xff\xfe\x00junk")
    with pytest.raises(StudioError, match="not UTF-8"):
        Preprocess.from_file(bad)
    with pytest.raises(StudioError, match="Cannot read"):
        Preprocess.from_file(tmp_path / "missing.json")


def _gradient(h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([(x * 255 // max(w - 1, 1)), (y * 255 // max(h - 1, 1)), (x + y) % 256], -1).astype(np.uint8)


def _modes() -> dict[str, Image.Image]:
    rgb = Image.fromarray(_gradient(120, 90))
    gray = rgb.convert("L")
    alpha = Image.fromarray(np.tile(np.linspace(0, 255, 90, dtype=np.uint8), (120, 1)))
    rgba = rgb.copy()
    rgba.putalpha(alpha)
    la = gray.copy()
    la.putalpha(alpha)
    pal = rgb.quantize(16)
    pal.info["transparency"] = 3  # one palette entry see-through, as a GIF or a tRNS PNG
    wide16 = Image.fromarray(np.arange(120 * 90, dtype=np.uint16).reshape(120, 90) * 6)
    return {"gray": gray, "rgba": rgba, "la": la, "palette-transparent": pal, "cmyk": rgb.convert("CMYK"),
            "16-bit": wide16, "bilevel": gray.convert("1"),
            "int32": Image.fromarray(np.asarray(wide16, dtype=np.int32)),
            "float": Image.fromarray(np.asarray(gray, dtype=np.float32))}


@pytest.mark.parametrize("mode", list(_modes()))
def test_modes_match_transformers(mode: str) -> None:
    image = _modes()[mode]
    _same(pixels(image), _hf(image))
    _same(pixels(to_rgb(image)), _hf(image))  # open_image's conversion is the same one


@pytest.mark.parametrize("mode,fmt", [("gray", "PNG"), ("rgba", "PNG"), ("la", "PNG"),
                                      ("palette-transparent", "PNG"), ("16-bit", "PNG"), ("cmyk", "JPEG"),
                                      ("palette-transparent", "GIF")])
def test_files_of_each_mode_match_transformers(tmp_path: Path, mode: str, fmt: str) -> None:
    path = tmp_path / f"{mode}.{fmt.lower()}"
    _modes()[mode].save(path, fmt)
    with Image.open(path) as im:
        im.load()
        source_mode, theirs = im.mode, _hf(im)
    image = open_image(path)
    assert image.mode == "RGB"
    _same(pixels(image), theirs)
    if mode == "16-bit":
        assert source_mode.startswith("I")
    if mode == "palette-transparent":
        assert source_mode == "P"


def test_transparent_pixels_become_white() -> None:
    rgba = Image.new("RGBA", (4, 4), (10, 20, 30, 0))
    assert np.all(np.asarray(to_rgb(rgba)) == 255)
    half = Image.new("LA", (2, 2), (0, 128))
    assert np.all(np.asarray(to_rgb(half)) == 127)  # 0 * 128/255 + 255 * 127/255, rounded by PIL


@pytest.mark.parametrize("h,w", [(1, 1), (50, 10000), (10000, 50)])
def test_extreme_shapes_match_transformers(tmp_path: Path, h: int, w: int) -> None:
    path = tmp_path / f"{h}x{w}.png"
    Image.fromarray(_gradient(h, w)).save(path)
    image = open_image(path)
    assert image.size == (w, h)
    _same(pixels(image), _hf(image))


def _exif_rotated_jpeg(path: Path) -> np.ndarray:
    """A JPEG stored landscape (200 wide, 100 high) with EXIF orientation 6: shown rotated 90 degrees clockwise."""
    arr = np.zeros((100, 200, 3), np.uint8)
    arr[:, :100] = (255, 0, 0)  # left half red, right half blue as stored
    arr[:, 100:] = (0, 0, 255)
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = 6
    im.save(path, "JPEG", exif=exif, quality=95)
    return arr


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    path = tmp_path / "rotated.jpg"
    _exif_rotated_jpeg(path)
    image = open_image(path)
    assert image.size == (100, 200)  # now portrait
    arr = np.asarray(image).astype(int)
    # stored left (red) ends up on top after a clockwise turn, blue at the bottom
    assert arr[20, 50, 0] > 200 and arr[20, 50, 2] < 50
    assert arr[180, 50, 2] > 200 and arr[180, 50, 0] < 50
    with Image.open(path) as raw:
        upright = ImageOps.exif_transpose(raw)
    _same(pixels(image), _hf(upright))
    out = pixels(image, Preprocess(size=(200, 100)))  # keep the shape to see it is upright in the model input
    assert out.shape == (3, 200, 100)
    assert out[0, 20, 50] > out[2, 20, 50] and out[2, 180, 50] > out[0, 180, 50]


def _one_line(e: pytest.ExceptionInfo[StudioError], *names: str) -> None:
    assert "\n" not in e.value.message and e.value.remedy
    assert "Traceback" not in str(e.value)
    for name in names:
        assert name in e.value.message


def test_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("these are notes, not a picture\n" * 20)
    with pytest.raises(StudioError) as e:
        open_image(path)
    _one_line(e, "notes.png", "not a picture")


def test_truncated_jpeg(tmp_path: Path) -> None:
    path = tmp_path / "cut.jpg"
    buf = io.BytesIO()
    _photo("chelsea").save(buf, "JPEG")
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(StudioError) as e:
        open_image(path)
    _one_line(e, "cut.jpg", "truncated")
    with pytest.raises(StudioError, match="truncated"):
        image_from_bytes(path.read_bytes())


def test_header_only_png(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.fromarray(_gradient(64, 64)).save(buf, "PNG")
    raw = buf.getvalue()
    path = tmp_path / "header.png"
    path.write_bytes(raw[:60])  # signature and IHDR, then nothing
    with pytest.raises(StudioError) as e:
        open_image(path)
    _one_line(e, "header.png")


def test_empty_file_folder_and_fifo(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(StudioError) as e:
        open_image(empty)
    _one_line(e, "empty.jpg", "empty")
    with pytest.raises(StudioError) as e:
        open_image(tmp_path)
    _one_line(e, "folder")
    with pytest.raises(StudioError) as e:
        open_image(tmp_path / "missing.png")
    _one_line(e, "missing.png")
    with pytest.raises(StudioError, match="empty"):
        image_from_bytes(b"")
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "pipe.png"
        os.mkfifo(fifo)
        with pytest.raises(StudioError) as e:
            open_image(fifo)  # must not block waiting for a writer
        _one_line(e, "pipe.png", "not a regular file")


def _png_header_only(w: int, h: int) -> bytes:
    """A valid PNG of w x h with a tiny compressed body: 20000 x 20000 of zeros deflates to ~400 KB, but this
    one carries only one row, so the file is small and a decoder that trusted it would allocate 1.2 GB."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")
    ihdr = w.to_bytes(4, "big") + h.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    body = zlib.compress(b"\0" + b"\0" * (3 * w))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


@pytest.mark.parametrize("w,h", [(20000, 20000), (12000, 9000)])  # over PIL's own bomb limit; over ours only
def test_decompression_bomb_refused_before_decoding(tmp_path: Path, w: int, h: int) -> None:
    assert w * h > MAX_PIXELS
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header_only(w, h))
    tracemalloc.start()
    try:
        with pytest.raises(StudioError) as e:
            open_image(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    _one_line(e, "bomb.png", "too large")
    assert peak < 20_000_000  # nothing near w * h * 3 bytes was allocated
    with pytest.raises(StudioError, match="too large"):
        image_from_bytes(path.read_bytes())


def test_image_from_bytes_matches_open_image(tmp_path: Path) -> None:
    path = tmp_path / "cat.png"
    _photo("chelsea").save(path)
    pasted = image_from_bytes(path.read_bytes())
    assert np.array_equal(np.asarray(pasted), np.asarray(open_image(path)))
    with pytest.raises(StudioError, match="not a picture"):
        image_from_bytes(b"GIF89a but then nonsense")


def test_no_torch_in_image_module() -> None:
    source = Path(__file__).parents[1] / "studio" / "engine" / "caption" / "image.py"
    text = source.read_text()
    assert "import torch" not in text and "from torch" not in text
