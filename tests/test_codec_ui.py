"""The Codec panel, driven as a user would (offscreen; a random-weights EnCodec stands in for the download)."""

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import drop_files
from PySide6.QtCore import Qt


@pytest.fixture(scope="module")
def codec_file(tmp_path_factory):
    pytest.importorskip("encodec")
    from test_codec import random_pair

    ref, _ = random_pair(24)
    path = tmp_path_factory.mktemp("codec") / "encodec_24khz-random.th"
    torch.save(ref.state_dict(), path)
    return path


def test_encode_a_file_move_k_play_ab_export_and_open_the_vallex_preset(qtbot, window, data, tmp_path, codec_file):
    panel = window.codec
    panel.model.insertItem(0, "random test codec", str(codec_file))
    panel.model.setCurrentIndex(0)
    drop_files(window.record, [data / "jfk.flac"])  # a recording in the library ...
    qtbot.mouseClick(window.record.codec_btn, Qt.LeftButton)  # ... sent to the Codec panel
    assert window.stack.currentWidget() is panel and panel.path.name == "jfk.flac"
    drawn = []
    panel.analysis_ready.connect(lambda _: drawn.append(panel.drawing))
    qtbot.waitUntil(lambda: panel.analysis is not None, timeout=90000)
    # the plots follow in steps, one per turn of the event loop; analysis_ready says the last one is drawn
    qtbot.waitUntil(lambda: bool(drawn), timeout=5000)
    assert drawn == [False] and not panel.drawing
    a = panel.analysis
    assert a.codes.shape == (8, 825) and panel.grid.codes.shape == (8, 825)
    assert len(a.stages) == 8 and len(a.codebooks) == 8 and "kbps" in panel.summary.text()
    assert "codebook 3" in panel.grid.describe(1.0, 2)
    panel.k_slider.setValue(3)
    assert panel.k_label.text() == "k = 3" and panel.grid.k_band.getRegion() == (3, 8)
    qtbot.mouseClick(panel.play_btn, Qt.LeftButton)  # decodes k = 3 on the worker, then plays it
    qtbot.waitUntil(lambda: 3 in panel.reconstructions, timeout=60000)
    audio, rate = sf.read(panel.reconstructions[3])
    assert rate == 24000 and abs(len(audio) / rate - 11.0) < 0.02
    qtbot.waitUntil(lambda: panel.player.path is not None, timeout=5000)
    qtbot.mouseClick(panel.original_btn, Qt.LeftButton)  # A/B: the original from the same position
    assert str(panel.player.path) == str(panel.path)
    panel.player.stop()
    out = tmp_path / "codes.npz"
    panel.export_to(str(out))
    with np.load(out) as z:
        assert np.array_equal(z["audio_tokens"][0].T, a.codes)
    panel.open_file(str(data / "vallex-preset-librispeech_1.npz"))
    qtbot.waitUntil(lambda: panel.analysis is not None and panel.analysis.source.endswith(".npz")
                    and not panel.drawing, timeout=30000)
    assert panel.grid.codes.shape == (8, 225) and not panel.original_btn.isEnabled()
    assert abs(panel.analysis.duration - 3.0) < 0.01


def test_a_new_file_drops_the_steps_an_earlier_analysis_had_left(qtbot, window, data, codec_file):
    panel = window.codec
    panel.model.insertItem(0, "random test codec", str(codec_file))
    panel.model.setCurrentIndex(0)
    panel.open_file(str(data / "vallex-preset-librispeech_1.npz"))
    qtbot.waitUntil(lambda: panel.analysis is not None and not panel.drawing, timeout=30000)
    earlier = panel.analysis
    panel._analysis_done(earlier)  # an analysis arrives: its plots are still to draw ...
    assert panel.drawing
    panel.open_file(str(data / "jfk.flac"))  # ... when another file is opened: nothing of the old one is drawn
    assert not panel.drawing and panel.grid.codes is None
    qtbot.waitUntil(lambda: panel.analysis is not None and not panel.drawing, timeout=90000)
    assert panel.grid.codes.shape == (8, 825)


def test_bad_code_file_and_missing_codec_show_messages(qtbot, window, tmp_path, data, monkeypatch):
    panel = window.codec
    broken = tmp_path / "broken.npz"
    np.savez(broken, audio_tokens=np.zeros((3, 3), np.int64))
    panel.open_file(str(broken))
    qtbot.waitUntil(lambda: "expected" in window.banner.text, timeout=30000)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    window.settings.cache_folder = str(tmp_path / "empty-cache")
    panel.open_file(str(data / "jfk.flac"))  # the default codec is not downloaded
    qtbot.waitUntil(lambda: "not on this computer" in window.banner.text, timeout=30000)
