"""The Caption panel's folder tab as a dataset builder uses it (offscreen, a small random BLIP): caption a folder,
keep the captions already there, edit one, write sidecars with a trigger word without replacing a user's file
unasked, export CSV and JSON, cancel, and a bad picture or missing model each said once."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from studio.ui.caption_batch import CAPTION, STATE

pytest.importorskip("transformers")


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    from PIL import Image

    rng = np.random.default_rng(3)
    d = tmp_path / "dataset"
    d.mkdir()
    for name in ("b.png", "c.jpg", "d.webp", "twin.jpg", "twin.png"):
        Image.fromarray(rng.integers(0, 255, (40 + len(name), 70, 3), dtype=np.uint8)).save(d / name)
    (d / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n but no picture")
    (d / "c.txt").write_text("my own caption of c\n")
    (d / "notes.md").write_text("not a picture")
    return d


def _tab(window, blip_folder: Path):  # noqa: ANN001, ANN202
    panel = window.caption
    window.nav.setCurrentRow(window.PANELS.index("Caption"))
    panel.tabs.setCurrentIndex(1)
    panel.add_model_folder(blip_folder)
    panel.beams.setValue(1)
    panel.max_len.setValue(6)
    return panel.batch


def _run(qtbot, view, timeout: int = 120000) -> None:  # noqa: ANN001
    qtbot.mouseClick(view.run_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: view.run_btn.isEnabled(), timeout=timeout)


def test_caption_a_folder_edit_write_sidecars_and_export(qtbot, window, blip_folder, folder, tmp_path):
    from studio.engine.caption.caption import Captioner
    from studio.engine.caption.decoding import DecodeOptions
    from studio.hub.blip_weights import load_blip

    view = _tab(window, blip_folder)
    assert view.set_folder(folder)
    names = [p.name for p in view.images]
    assert names == ["a.png", "b.png", "c.jpg", "d.webp", "twin.jpg", "twin.png"]  # notes.md is no picture
    row = names.index
    assert view.table.item(row("c.jpg"), CAPTION).text() == "my own caption of c"
    assert "shares twin.txt" in view.table.item(row("twin.png"), STATE).text()

    _run(qtbot, view)
    assert "not a picture" in view.table.item(row("a.png"), STATE).text()
    assert view.table.item(row("c.jpg"), CAPTION).text() == "my own caption of c"  # kept: it had a caption
    assert "5 of 6" not in view.progress_label.text() and "4 of 5" in view.progress_label.text()
    model, files = load_blip(blip_folder)
    expected = Captioner(model, files).caption(folder / "b.png", "", DecodeOptions(max_new_tokens=6)).text
    assert view.table.item(row("b.png"), CAPTION).text() == expected  # the engine's caption, as the CLI gives
    assert not window.banner.text  # a bad picture is said in its row; the others go on

    view.table.item(row("d.webp"), CAPTION).setText("hand written")  # as the delegate does on an edit
    assert view.table.item(row("d.webp"), STATE).text() == "edited"
    view.prefix.setText("ohwx, ")
    qtbot.mouseClick(view.write_btn, Qt.LeftButton)
    assert (folder / "b.txt").read_text() == f"ohwx, {expected}\n"
    assert (folder / "d.txt").read_text() == "ohwx, hand written\n"
    assert (folder / "c.txt").read_text() == "my own caption of c\n"  # the user's file, not replaced unasked
    assert "c.txt' exists" in window.banner.text and "2 more" in window.banner.text  # c.txt and the twins
    assert not (folder / "twin.txt").exists() and not (folder / "a.txt").exists()
    view.overwrite.setChecked(True)
    qtbot.mouseClick(view.write_btn, Qt.LeftButton)
    assert (folder / "c.txt").read_text() == "ohwx, my own caption of c\n"
    assert (folder / "b.txt").read_text() == f"ohwx, {expected}\n"  # the trigger word once, not twice

    assert view.export_to(tmp_path / "captions.csv") and view.export_to(tmp_path / "captions.json")
    with open(tmp_path / "captions.csv", newline="") as f:
        table = list(csv.reader(f))
    assert table[0] == ["file", "caption"] and len(table) == 1 + 5  # every picture with a caption
    assert [str(folder / "b.png"), f"ohwx, {expected}"] in table
    items = json.loads((tmp_path / "captions.json").read_text())
    assert {"file": str(folder / "d.webp"), "caption": "ohwx, hand written"} in items
    before = (folder / "b.png").read_bytes()
    assert not view.export_to(folder / "b.png")  # never over a picture
    assert "is the input file" in window.banner.text and (folder / "b.png").read_bytes() == before


def test_cancel_a_folder_and_a_missing_model_stops_once(qtbot, window, blip_folder, folder, monkeypatch, tmp_path):
    from studio.engine.caption.caption import Captioner

    view = _tab(window, blip_folder)
    view.set_folder(folder)
    real = Captioner.caption

    def slow(self, *args, **kw):  # noqa: ANN001, ANN002, ANN003
        time.sleep(0.4)
        return real(self, *args, **kw)

    monkeypatch.setattr(Captioner, "caption", slow)
    view.skip_done.setChecked(False)
    qtbot.mouseClick(view.run_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: "captioned" in view.table.item(1, STATE).text(), timeout=60000)
    qtbot.mouseClick(view.cancel_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: view.run_btn.isEnabled(), timeout=30000)
    assert view.progress_label.text().startswith("Cancelled after")
    assert not view.table.item(5, CAPTION).text()  # the last picture was never reached
    monkeypatch.setattr(Captioner, "caption", real)

    view.opts.add_model_folder(tmp_path / "gone")  # a model folder deleted since it was picked
    _run(qtbot, view)
    assert "gone" in window.banner.text and view.progress_label.text() == "Stopped"
    assert sum("captioning" in view.table.item(r, STATE).text() for r in range(6)) == 0
    assert not view.set_folder(tmp_path / "empty-and-missing")
    assert "holds no pictures" in window.banner.text or "does not exist" in window.banner.text


def test_unreadable_sidecars_shared_names_and_options_read_once(qtbot, window, blip_folder, folder, monkeypatch):
    from studio.engine.caption.caption import Captioner

    (folder / "b.txt").write_bytes(b"caf\xe9 au lait\n")  # Latin-1, not UTF-8
    (folder / "d.txt").mkdir()
    view = _tab(window, blip_folder)
    view.set_folder(folder)
    names = [p.name for p in view.images]
    state = lambda name: view.table.item(names.index(name), STATE).text()  # noqa: E731
    assert "b.txt is not UTF-8 text" in state("b.png") and "d.txt is a folder" in state("d.webp")
    seen: list[str] = []
    real = Captioner.caption

    def record(self, image, prompt="", *args, **kw):  # noqa: ANN001, ANN002, ANN003
        seen.append(prompt)
        if len(seen) == 1:  # the user types a prompt for the Pictures tab while the folder runs
            view.opts.prompt.setText("a picture of")
        return real(self, image, prompt, *args, **kw)

    monkeypatch.setattr(Captioner, "caption", record)
    _run(qtbot, view)
    assert seen and set(seen) == {""}  # the whole folder with what was asked when it started
    assert "shares twin.txt" in state("twin.png") and "captioned" in state("twin.png")  # the warning stays
    qtbot.mouseClick(view.write_btn, Qt.LeftButton)
    assert (folder / "b.txt").read_bytes() == b"caf\xe9 au lait\n"  # not replaced unasked
    assert "d.txt' is a folder" in state("d.webp") and (folder / "d.txt").is_dir()
