"""The panels driven as a user would, offscreen."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import drop_files
from PySide6.QtCore import Qt


@pytest.mark.audio
def test_record_stop_adds_a_recording_and_shows_it_live(qtbot, window, jfk16):
    import subprocess

    panel = window.record
    idx = next(i for i in range(panel.device_combo.count()) if "Monitor" in panel.device_combo.itemText(i))
    panel.device_combo.setCurrentIndex(idx)
    player = subprocess.Popen(["paplay", "--device=vsink", str(jfk16)])
    try:
        qtbot.mouseClick(panel.record_btn, Qt.LeftButton)
        assert panel.recorder is not None and panel.record_btn.text() == "❚❚ Pause"
        qtbot.waitUntil(lambda: panel.recorder.duration > 1.5, timeout=15000)
        qtbot.waitUntil(lambda: panel._mel.shape[1] > 50, timeout=5000)
        assert panel.meter.level_db > -40  # speech is playing into the microphone
        qtbot.mouseClick(panel.stop_btn, Qt.LeftButton)
        # the stream and the file close off the UI thread; Record waits for them
        assert panel.recorder is None and not panel.record_btn.isEnabled() and not panel.stop_btn.isEnabled()
        qtbot.waitUntil(lambda: panel.record_btn.isEnabled(), timeout=10000)
    finally:
        player.kill()
    assert panel.table.rowCount() == 1 and panel._stopping is None
    assert panel.selected_path() is not None and panel.selected_path().suffix == ".wav"
    assert window.settings.input_device == panel.device_combo.currentData()
    qtbot.waitUntil(lambda: len(panel.waveform.envelope.bands()[0]) > 100, timeout=10000)


def test_drop_imports_then_delete_and_undo(qtbot, window, data):
    panel = window.record
    drop_files(panel, [data / "jfk.flac"])
    assert panel.table.rowCount() == 1 and panel.table.item(0, 1).text() == "0:11.0"
    qtbot.waitUntil(lambda: len(panel.waveform.envelope.bands()[0]) > 0, timeout=10000)
    xs, lo, hi = panel.waveform.envelope.bands()
    assert abs(xs[-1] - 11.0) < 0.05 and hi.max() > 0.5 and lo.min() < -0.5 and (lo <= hi).all()
    panel.table.selectRow(0)
    qtbot.mouseClick(panel.delete_btn, Qt.LeftButton)
    assert panel.table.rowCount() == 0 and panel.undo_btn.isEnabled()
    qtbot.mouseClick(panel.undo_btn, Qt.LeftButton)
    assert panel.table.rowCount() == 1 and panel.table.item(0, 0).text() == "jfk"


def test_rename_by_editing_the_name(qtbot, window, data):
    panel = window.record
    panel.import_files([data / "vallex-en-1.wav"])
    panel.table.item(0, 0).setText("prompt english")
    assert panel.table.item(0, 0).text() == "prompt english"
    assert (Path(window.settings.recordings_folder) / "prompt english.wav").exists()


def test_bad_file_shows_a_message_not_a_traceback(qtbot, window, tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"not audio at all" * 100)
    window.nav.setCurrentRow(1)
    drop_files(window.spectrogram, [bad])
    assert window.banner.isVisible() and "not a readable audio file" in window.banner.text
    window.banner.hide()
    drop_files(window.record, [tmp_path / "missing.wav"])
    assert "does not exist" in window.banner.text


@pytest.mark.audio
def test_playback_moves_the_playhead(qtbot, window, data):
    panel = window.record
    panel.import_files([data / "vallex-en-1.wav"])
    qtbot.mouseClick(panel.play_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: panel.player.position > 0.5, timeout=5000)
    qtbot.waitUntil(lambda: panel.waveform.playhead.value() > 0.4, timeout=2000)
    qtbot.mouseClick(panel.play_btn, Qt.LeftButton)  # pause
    pos = panel.player.position
    qtbot.wait(300)
    assert panel.player.position == pos


def test_spectrogram_opens_zooms_refines_and_switches_views(qtbot, window, data):
    panel = window.spectrogram
    window.show_in_spectrogram(str(data / "encodec-test_24k.wav"))
    assert window.stack.currentWidget() is panel
    qtbot.waitUntil(lambda: panel.overview is not None, timeout=15000)
    ov = panel.overview
    assert ov.image.shape[0] == 80 and (ov.t0, round(ov.t1, 2)) == (0.0, 20.0)
    panel.plot.setXRange(5.0, 6.0, padding=0)  # zoom in past the overview's resolution
    qtbot.waitUntil(lambda: panel.detail is not None, timeout=15000)
    assert 4.9 < panel.detail.t0 <= 5.01 and panel.detail.t1 >= 5.99
    assert panel.detail.frames_per_column == 1  # full resolution: 100 frames a second
    panel.fit()
    qtbot.waitUntil(lambda: panel.detail is None, timeout=5000)
    panel.kind_combo.setCurrentIndex(panel.kind_combo.findData("linear"))
    qtbot.waitUntil(lambda: panel.overview is not None and panel.overview.kind == "linear", timeout=15000)
    assert panel.overview.freqs[-1] == 12000
    panel.cmap_combo.setCurrentText("viridis")
    assert window.settings.colormap == "viridis"
    lut = panel.plot.image.lut
    assert tuple(lut[0]) == (68, 1, 84)


def test_attention_window_stays_on_screen_when_the_overview_finishes_after_it(qtbot, window, data):
    """Show attention opens the file; the overview of the whole file arrives later and must not zoom out."""
    from studio.engine.asr.result import AttentionMap

    panel = window.spectrogram
    frames = 500  # 10 s
    amap = AttentionMap(start=5.0, weights=np.full((1, 1, 2, frames), 1 / frames, np.float32), tokens=[1, 2],
                        token_texts=["a", "b"], text_begin=0, alignment_heads=[(0, 0)],
                        mel=np.zeros((80, 2 * frames), np.float32))
    panel.show_attention(amap, str(data / "encodec-test_24k.wav"))
    assert panel.overview is None  # still computing: the race a busy machine makes likely
    qtbot.waitUntil(lambda: panel.overview is not None, timeout=15000)
    x0, x1 = panel.visible_range()
    assert (round(x0, 2), round(x1, 2)) == (5.0, 15.0)
    panel.kind_combo.setCurrentIndex(panel.kind_combo.findData("linear"))  # a later reload shows the whole file
    qtbot.waitUntil(lambda: panel.overview is not None and panel.overview.kind == "linear", timeout=15000)
    assert panel.visible_range() == (0.0, 20.0)


def test_click_sets_the_playhead(qtbot, window, data):
    panel = window.spectrogram
    panel.open_file(str(data / "jfk.flac"))
    qtbot.waitUntil(lambda: panel.overview is not None, timeout=15000)
    panel.seek(4.2)
    assert panel.plot.playhead.value() == pytest.approx(4.2)


def test_hour_long_file_overview_is_computed_in_blocks_at_screen_resolution(qtbot, settings, tmp_path):
    from studio.engine.spectrogram import compute_spectrogram

    path = tmp_path / "long.flac"
    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", 16000, 1, format="FLAC") as f:
        for _ in range(60):  # one hour of quiet noise, written a minute at a time
            f.write((0.01 * rng.standard_normal(16000 * 60)).astype(np.float32))
    seen = []
    spec = compute_spectrogram(str(path), "mel80", max_columns=4000, progress=lambda f, m: seen.append(f))
    assert spec.image.shape == (80, 4000) and spec.frames_per_column == 90
    assert len(seen) == 60 and seen[-1] == pytest.approx(1.0, abs=1e-3)


def test_theme_switch_and_settings_persist(qtbot, window):
    window.set_theme("light")
    assert window.settings.theme == "light"
    from PySide6.QtWidgets import QApplication

    assert QApplication.instance().palette().window().color().name() == "#f4f4f5"
    window.set_theme("dark")
    pal = QApplication.instance().palette()
    from PySide6.QtGui import QPalette

    # a disabled button must not look like an enabled one, and a placeholder must not vanish into its field
    assert pal.color(QPalette.Disabled, QPalette.ButtonText) != pal.color(QPalette.Active, QPalette.ButtonText)
    assert pal.color(QPalette.PlaceholderText).lightness() - pal.color(QPalette.Base).lightness() > 60


def test_a_long_status_message_is_elided_beside_the_job_bar(qtbot, window):
    window.resize(1356, 700)
    window.show()
    window.job_bar.begin(1, "token 17")
    message = "Captioned astronaut.jpg: " + "w110 " * 200
    window.show_status(message)
    shown = window.statusBar().currentMessage()
    assert "…" in shown and len(shown) < len(message)
    room = window.statusBar().width() - window.job_bar.width()
    assert window.statusBar().fontMetrics().horizontalAdvance(shown) < room


def test_every_panel_can_be_grabbed_to_png(qtbot, tmp_path, data):
    from studio.ui.screenshots import grab_all

    shots = grab_all(tmp_path / "shots", data / "jfk.flac", codes=data / "vallex-preset-librispeech_1.npz")
    assert [p.name for p in shots] == ["record-dark.png", "spectrogram-dark.png", "transcribe-dark.png",
                                       "caption-dark.png", "codec-dark.png", "voice-dark.png"]
    for p in shots:
        raw = p.read_bytes()
        assert raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) > 20000
