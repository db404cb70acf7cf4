"""`studio caption` end to end on a small random BLIP saved by transformers (the real weights need a download):
one line per image, JSON, sidecars, attention files, a bad image in a batch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from PIL import Image

    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (48, 80, 3), dtype=np.uint8)).save(folder / "one.png")
    Image.fromarray(rng.integers(0, 255, (90, 60), dtype=np.uint8)).save(folder / "two.jpg")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return folder


def _studio(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("precision", ["float32", "fast"])
def test_a_folder_one_line_per_image_and_a_bad_one_does_not_stop_the_rest(blip_folder: Path, images: Path,
                                                                          precision: str) -> None:
    r = _studio("caption", str(images), "--model", str(blip_folder), "--device", "cpu", "--precision", precision)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stdout.strip().splitlines()
    assert [Path(line.split("\t")[0]).name for line in lines] == ["one.png", "two.jpg"]
    assert all(line.split("\t")[1].strip() for line in lines)
    assert "broken.png" in r.stderr


def test_json_beams_prompt_sidecar_and_attention_files(blip_folder: Path, images: Path, tmp_path: Path) -> None:
    image = tmp_path / "one.png"
    image.write_bytes((images / "one.png").read_bytes())
    out = tmp_path / "att"
    r = _studio("caption", str(image), "--model", str(blip_folder), "--device", "cpu", "--json", "--beam-size", "3",
                "--prompt", "a picture of", "--sidecar", "--prefix", "tag, ", "--save-attention", str(out))
    assert r.returncode == 0, r.stderr
    record = json.loads(r.stdout.strip().splitlines()[0])
    assert record["caption"].startswith("a picture of") and len(record["beams"]) >= 1
    assert (tmp_path / "one.txt").read_text().startswith("tag, a picture of")
    with np.load(out / "one.npz") as z:
        att = z["cross_attention"]
        assert att.shape[:2] == (2, 4) and att.shape[2] == len(z["tokens"]) and att.shape[3] == 1 + 16
        assert str(z["text"]) == record["caption"]
    assert (out / "one.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = _studio("caption", str(image), "--model", str(blip_folder), "--device", "cpu", "--sidecar")
    assert again.returncode == 2 and "--overwrite" in again.stderr  # an existing sidecar is kept


def test_save_attention_never_replaces_an_input_or_a_file_unasked(blip_folder: Path, images: Path,
                                                                  tmp_path: Path) -> None:
    from PIL import Image

    work = tmp_path / "work"
    work.mkdir()
    Image.open(images / "one.png").save(work / "photo.png")
    Image.open(images / "two.jpg").save(work / "photo.jpg")
    before = (work / "photo.png").read_bytes()
    model = ["--model", str(blip_folder), "--device", "cpu"]
    r = _studio("caption", str(work / "photo.jpg"), *model, "--save-attention", str(work))
    assert r.returncode == 2 and "already exist" in r.stderr and "Traceback" not in r.stderr
    assert (work / "photo.png").read_bytes() == before and not r.stdout  # refused before any caption
    r = _studio("caption", str(work / "photo.png"), *model, "--save-attention", str(work), "--overwrite")
    assert r.returncode == 2 and "is the input file" in r.stderr and (work / "photo.png").read_bytes() == before
    out = tmp_path / "att"
    r = _studio("caption", str(work), str(work / "photo.png"), *model, "--save-attention", str(out))
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.strip().splitlines()) == 2  # photo.png named twice is captioned once
    assert sorted(p.name for p in out.iterdir()) == ["photo-jpg.npz", "photo-jpg.png", "photo-png.npz",
                                                     "photo-png.png"]  # one stem, two pictures: both kept


def test_odd_names_prompts_and_models_are_said_once(blip_folder: Path, images: Path, tmp_path: Path) -> None:
    odd = tmp_path / "two\nlines\tname.png"
    odd.write_bytes((images / "one.png").read_bytes())
    model = ["--model", str(blip_folder), "--device", "cpu"]
    r = _studio("caption", str(odd), *model, "--sidecar", "--prefix", "ohwx\nperson, ")
    assert r.returncode == 0, r.stderr
    (line,) = r.stdout.splitlines()  # one line per picture whatever its name
    assert line.split("\t")[0] == str(odd).replace("\n", "\\n").replace("\t", "\\t")
    sidecar = odd.with_suffix(".txt").read_text()
    assert sidecar.count("\n") == 1 and sidecar.startswith("ohwx person, ")  # a sidecar is one line
    r = _studio("caption", str(images), *model, "--prompt", " ".join(["word"] * 600))
    assert r.returncode == 2 and r.stderr.count("exceed the model's") == 1 and "at most 0" not in r.stderr
    offline = subprocess.run([sys.executable, "-m", "studio", "caption", str(images / "one.png"), "--model",
                              "Salesforce/blip-image-captioning-base"], capture_output=True, text=True, timeout=300,
                             env={**__import__("os").environ, "HF_HUB_OFFLINE": "1",
                                  "HF_HOME": str(tmp_path / "hf")})
    assert offline.returncode == 2 and "does not exist" not in offline.stderr  # a repo id, not a missing folder
    assert "Salesforce/blip-image-captioning-base" in offline.stderr and "Traceback" not in offline.stderr
