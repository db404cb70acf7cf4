"""The Caption panel, driven as a user would (offscreen; a small random BLIP stands in for the download)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from conftest import drop_files
from PySide6.QtCore import QMimeData, Qt
from PySide6.QtWidgets import QApplication

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def blip(blip_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small random BLIP with its cross-attention sharpened: at initialisation every patch gets the same
    weight (1/17), and a flat map would draw no overlay at all."""
    import shutil

    from safetensors.numpy import load_file, save_file

    folder = tmp_path_factory.mktemp("blip-sharp") / "blip"
    shutil.copytree(blip_folder, folder)
    weights = load_file(folder / "model.safetensors")
    for key in weights:
        if ".crossattention.self.query." in key or ".crossattention.self.key." in key:
            weights[key] = weights[key] * 40
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    return folder


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from PIL import Image

    folder = tmp_path_factory.mktemp("pictures")
    y, x = np.mgrid[0:120, 0:160]
    stripes = np.stack([(x * 2) % 256, (y * 3) % 256, ((x + y) * 5) % 256], -1).astype(np.uint8)
    Image.fromarray(stripes).save(folder / "stripes.png")
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (90, 60, 3), dtype=np.uint8)).save(folder / "noise.jpg")
    return folder


def _caption(qtbot, panel, timeout: int = 60000) -> None:  # noqa: ANN001
    qtbot.mouseClick(panel.run_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: panel.result is not None and panel.run_btn.isEnabled(), timeout=timeout)


def test_drop_caption_click_tokens_layers_heads_hover_copy_export(qtbot, window, blip, pictures, tmp_path):
    panel = window.caption
    window.nav.setCurrentRow(window.PANELS.index("Caption"))
    panel.add_model_folder(blip)
    assert panel.model.currentData() == str(blip)
    drop_files(window, [pictures / "stripes.png", pictures / "noise.jpg"])  # the window routes to the panel shown
    assert panel.path == pictures / "stripes.png" and len(panel.images) == 2 and panel.thumbs.count() == 2
    assert panel.view.image.shape == (120, 160, 3)
    panel.min_len.setValue(5)  # a random model may end at once: five tokens to click between
    panel.beams.setValue(2)
    _caption(qtbot, panel)
    r = panel.result
    assert len(r.tokens) >= 5 and panel.tokens.count() == len(r.tokens)
    assert r.cross_attention.shape[:2] == (2, 4) and r.grid == 4
    assert len(r.candidates) == 2 and panel.candidates.count() == 2
    assert panel.caption_label.text() == r.text and "Top 5" in panel.tokens.item(0).toolTip()
    assert f"{r.token_probs[1]:.0%}" in panel.tokens.item(1).text()

    first = panel.view.overlay.copy()  # token 1 is selected as the caption appears
    assert first.shape == (120, 160, 3) and not np.array_equal(first, panel.view.image)
    rect = panel.tokens.visualItemRect(panel.tokens.item(3))
    qtbot.mouseClick(panel.tokens.viewport(), Qt.LeftButton, pos=rect.center())
    assert panel.token == 3
    fourth = panel.view.overlay.copy()
    assert not np.array_equal(first, fourth)
    panel.layer.setCurrentIndex(panel.layer.findData(1))
    layer2 = panel.view.overlay.copy()
    assert not np.array_equal(layer2, fourth)
    panel.head.setCurrentIndex(panel.head.findData(2))
    assert not np.array_equal(panel.view.overlay, layer2)
    expected = r.cross_attention[1, 2, 3, 1:].reshape(4, 4)
    lo, hi = panel.view.bar_range
    assert np.isclose(lo, expected.min()) and np.isclose(hi, expected.max())

    rect = panel.view.picture_rect()  # hover the top-left patch: the tokens that looked there most
    panel.view.hovered.emit(0.05, 0.05)
    per_token = r.cross_attention[1, 2, :, 1]
    assert f"<b>{r.pieces[int(per_token.argmax())]}</b>" in panel.hover_label.text()
    assert panel.view.marker == (0.125, 0.125) and not rect.isEmpty()

    qtbot.mouseClick(panel.copy_btn, Qt.LeftButton)
    assert QApplication.clipboard().text() == r.text
    panel.export_to(tmp_path / "out.png")
    from PIL import Image

    assert np.array_equal(np.asarray(Image.open(tmp_path / "out.png")), panel.view.overlay)
    assert (tmp_path / "out.txt").read_text() == r.text + "\n"
    sheet = np.asarray(Image.open(tmp_path / "out-tokens.png"))  # every token's overlay, labelled, as the CLI's
    rows = -(-len(r.tokens) // 6)
    assert sheet.shape[1] == 6 * 224 and sheet.shape[0] == rows * (round(120 * 224 / 160) + 16)
    panel.export_to(pictures / "stripes.png")  # never over the input picture
    assert "input" in window.banner.text
    assert (pictures / "stripes.png").stat().st_size > 0 and Image.open(pictures / "stripes.png").size == (160, 120)

    panel.thumbs.setCurrentRow(1)  # the other picture: no caption yet, then its own
    assert panel.path.name == "noise.jpg" and panel.result is None and panel.view.overlay is None
    _caption(qtbot, panel)
    assert panel.result.source.endswith("noise.jpg") and panel.view.overlay.shape == (90, 60, 3)
    panel.thumbs.setCurrentRow(0)  # back: the first caption is kept
    assert panel.result is r


def test_cancel_mid_caption(qtbot, window, blip, pictures, monkeypatch):
    from studio.engine.caption.caption import Captioner

    real = Captioner.caption

    def slow(self, image, prompt="", options=None, capture=True, check=lambda: None, progress=None):  # noqa: ANN001
        def tick(f: float, m: str) -> None:  # a token every 50 ms: slow enough to cancel between tokens
            time.sleep(0.05)
            if progress is not None:
                progress(f, m)
        return real(self, image, prompt, options, capture, check, tick)

    monkeypatch.setattr(Captioner, "caption", slow)
    panel = window.caption
    panel.add_model_folder(blip)
    panel.open_file(pictures / "stripes.png")
    panel.max_len.setValue(100)
    panel.min_len.setValue(100)
    qtbot.mouseClick(panel.run_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: panel.progress_label.text().startswith("token"), timeout=60000)
    assert panel.cancel_btn.isEnabled()
    qtbot.mouseClick(panel.cancel_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: panel.progress_label.text() == "Cancelled", timeout=10000)
    assert panel.result is None and panel.run_btn.isEnabled() and not panel.cancel_btn.isEnabled()
    assert not window.banner.text
    monkeypatch.setattr(Captioner, "caption", real)
    panel.max_len.setValue(6)
    _caption(qtbot, panel)  # the panel keeps working
    assert len(panel.result.tokens) == 6


def test_bad_pictures_show_a_message_and_the_panel_keeps_working(qtbot, window, pictures, tmp_path):
    from PIL import Image

    panel = window.caption
    bad = {"text.png": b"not a picture at all", "empty.jpg": b""}
    for name, data in bad.items():
        (tmp_path / name).write_bytes(data)
    good = (pictures / "stripes.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(good[: len(good) // 2])
    Image.new("1", (12000, 12000)).save(tmp_path / "huge.png")  # 144 MP, a few kB on disk
    for name, words in (("text.png", "not a picture"), ("empty.jpg", "empty"), ("truncated.png", "truncated.png"),
                        ("huge.png", "huge.png")):
        assert not panel.open_file(tmp_path / name)
        assert words in window.banner.text, window.banner.text
        assert panel.path is None and not panel.images
    assert not panel.paste_bytes(b"\x89PNG\r\n\x1a\n broken")
    assert "pasted" in window.banner.text
    panel.start()
    assert "No picture" in window.banner.text
    drop_files(panel, [tmp_path / "text.png", pictures / "stripes.png"])  # the good one opens, the bad one is said
    assert panel.path == pictures / "stripes.png" and "not a picture" in window.banner.text


def test_paste_an_image_from_the_clipboard(qtbot, window, pictures):
    from PySide6.QtGui import QImage

    panel = window.caption
    window.nav.setCurrentRow(window.PANELS.index("Caption"))
    mime = QMimeData()
    mime.setImageData(QImage(str(pictures / "noise.jpg")))
    QApplication.clipboard().setMimeData(mime)
    panel.paste()
    assert panel.path is not None and panel.path.name == "pasted-1.png"
    assert panel.view.image.shape == (90, 60, 3) and "pasted" in panel.file_label.text()
    QApplication.clipboard().setText("just words")
    panel.paste()
    assert "no picture" in window.banner.text


def test_click_an_alternative_to_continue_the_caption_from_it(qtbot, window, blip, pictures):
    panel = window.caption
    panel.add_model_folder(blip)
    panel.open_file(pictures / "stripes.png")
    panel.beams.setValue(1)
    panel.min_len.setValue(6)
    panel.max_len.setValue(8)
    _caption(qtbot, panel)
    first = panel.result
    panel.tokens.setCurrentRow(2)
    assert panel.alternatives.count() == 5
    chosen = [i for i in range(5) if panel.alternatives.item(i).text().startswith("▶")]
    assert chosen == [0]  # greedy picked the likeliest
    qtbot.mouseClick(panel.alternatives.viewport(), Qt.LeftButton,
                     pos=panel.alternatives.visualItemRect(panel.alternatives.item(0)).center())
    assert panel.result is first and panel.run_btn.isEnabled()  # the token already chosen changes nothing
    qtbot.mouseClick(panel.alternatives.viewport(), Qt.LeftButton,
                     pos=panel.alternatives.visualItemRect(panel.alternatives.item(3)).center())
    qtbot.waitUntil(lambda: panel.result is not first and panel.run_btn.isEnabled(), timeout=60000)
    got = panel.result
    assert got.tokens[:2] == first.tokens[:2] and got.tokens[2] == first.top5_ids[2][3]
    assert panel.token == 2 and panel.alternatives.item(3).text().startswith("▶")  # the new choice is shown
    assert panel.caption_label.text() == got.text and panel.tokens.count() == len(got.tokens) <= 8
    np.testing.assert_array_equal(got.cross_attention[:, :, :3], first.cross_attention[:, :, :3])


def test_export_draws_the_overlay_on_the_picture_at_its_own_size(qtbot, window, blip, tmp_path):
    from PIL import Image

    big = np.random.default_rng(2).integers(0, 255, (1500, 2000, 3), dtype=np.uint8)
    Image.fromarray(big).save(tmp_path / "big.png")
    panel = window.caption
    panel.add_model_folder(blip)
    panel.open_file(tmp_path / "big.png")
    assert panel.view.image.shape == (768, 1024, 3)  # shown smaller
    panel.beams.setValue(1)
    _caption(qtbot, panel)
    panel.export_to(tmp_path / "out.png")
    out = np.asarray(Image.open(tmp_path / "out.png"))
    assert out.shape == (1500, 2000, 3) and not np.array_equal(out, big)
    shown = np.asarray(Image.fromarray(out).resize((1024, 768), Image.BICUBIC), np.float32)
    assert np.abs(shown - panel.view.overlay).mean() < 3.0  # the overlay on screen, at full size


def test_export_asks_before_replacing_files_beside_the_chosen_name(qtbot, window, blip, pictures, tmp_path):
    panel = window.caption
    panel.add_model_folder(blip)
    panel.open_file(pictures / "stripes.png")
    panel.beams.setValue(1)
    _caption(qtbot, panel)
    (tmp_path / "notes.txt").write_text("my notes\n")
    panel.export_to(tmp_path / "notes.png")  # the .txt beside the chosen .png is the user's
    assert "already exists" in window.banner.text and (tmp_path / "notes.txt").read_text() == "my notes\n"
    assert not (tmp_path / "notes.png").exists()
    panel.export_to(tmp_path / "notes.png", replace=[tmp_path / "notes.txt"])  # what Export… does after a yes
    assert (tmp_path / "notes.txt").read_text() == panel.result.text + "\n" and not window.banner.text


def test_continuing_uses_the_model_that_wrote_the_caption(qtbot, window, blip, pictures, tmp_path):
    panel = window.caption
    panel.add_model_folder(blip)
    panel.open_file(pictures / "stripes.png")
    panel.beams.setValue(1)
    panel.max_len.setValue(6)
    panel.min_len.setValue(6)
    _caption(qtbot, panel)
    first = panel.result
    panel.add_model_folder(tmp_path / "gone")  # another model picked since (one that cannot even load)
    panel.tokens.setCurrentRow(1)
    panel.continue_with(2)
    qtbot.waitUntil(lambda: panel.result is not first and panel.run_btn.isEnabled(), timeout=60000)
    assert not window.banner.text and panel.result.tokens[1] == first.top5_ids[1][2]
    panel.start()  # a new caption uses the model picked now
    qtbot.waitUntil(lambda: panel.run_btn.isEnabled() and "gone" in window.banner.text, timeout=60000)


def test_odd_pictures_names_lengths_and_removing_from_the_strip(qtbot, window, tmp_path):
    from PIL import Image

    panel = window.caption
    panel.max_len.setValue(10)
    panel.min_len.setValue(50)
    assert panel.min_len.value() == 10  # the minimum cannot pass the maximum
    Image.new("RGB", (10000, 50), "red").save(tmp_path / "wide.png")
    Image.new("RGB", (1, 1), "blue").save(tmp_path / "a<br>b&amp;c.png")
    assert panel.open_files([tmp_path / "wide.png", tmp_path / "a<br>b&amp;c.png"]) == 2
    assert all(not panel.thumbs.item(i).icon().isNull() for i in range(2))
    panel.thumbs.setCurrentRow(1)
    assert "&lt;br&gt;" in panel.file_label.text()  # the name as text, not markup
    (tmp_path / "wide.png").unlink()
    panel.thumbs.setCurrentRow(0)  # gone since it was opened: said, and the strip stays on what is shown
    assert "does not exist" in window.banner.text and "folder" not in window.banner.text
    assert panel.thumbs.currentRow() == 1 and panel.path.name == "a<br>b&amp;c.png"
    panel.thumbs.setFocus()
    panel.remove_picture()
    assert panel.images == [tmp_path / "wide.png"] and panel.thumbs.count() == 1 and panel.path is None
