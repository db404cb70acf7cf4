"""The Transcribe panel and the attention view, driven as a user would (offscreen, real tiny.en weights)."""

import re
import sys

import numpy as np
import pytest
import soundfile as sf
from conftest import drop_files
from PySide6.QtCore import Qt

from studio.errors import StudioError


def test_drop_transcribe_export_srt_and_open_attention(qtbot, window, data, tmp_path):
    panel = window.transcribe
    window.nav.setCurrentRow(window.PANELS.index("Transcribe"))
    drop_files(panel, [data / "jfk.flac"])
    assert panel.path.name == "jfk.flac"
    assert not panel.language.isEnabled() and panel.language.currentData() == "en"  # tiny.en is English only
    seen = []
    panel.segment_ready.connect(seen.append)
    qtbot.mouseClick(panel.run_btn, Qt.LeftButton)
    assert not panel.run_btn.isEnabled() and panel.cancel_btn.isEnabled()
    with qtbot.waitSignal(panel.transcript_ready, timeout=60000):
        pass
    assert seen, "segments appear while decoding, before the transcript is complete"
    text = " ".join(panel.table.item(r, 2).text() for r in range(panel.table.rowCount())).lower()
    assert "ask not what your country can do for you" in re.sub(r"[^a-z ]", "", text)
    assert panel.bar.value() == 1000 and panel.run_btn.isEnabled() and not panel.cancel_btn.isEnabled()
    # edit a segment, export SRT: the edit is in the file
    panel.table.item(0, 2).setText("And so, my fellow citizens")
    out = tmp_path / "jfk.srt"
    panel.export_to("srt", str(out))
    srt = out.read_text()
    assert "fellow citizens" in srt and "00:00:00,000 -->" in srt
    # attention for the first segment opens in the Spectrogram & Attention panel
    panel.table.selectRow(0)
    qtbot.mouseClick(panel.attention_btn, Qt.LeftButton)
    view = window.spectrogram.attention
    qtbot.waitUntil(lambda: view.amap is not None, timeout=30000)
    assert window.stack.currentWidget() is window.spectrogram and view.isVisible()
    assert view.layer.currentText().startswith("Alignment")
    row = next(i for i, t in enumerate(view.amap.token_texts) if t.strip() == "Americans")
    view.tokens.setCurrentRow(row)
    t0, t1 = view.span.getRegion()
    assert 1.0 < t0 < t1 < 3.0  # "Americans" is said at about 1.5-2.2 s
    view.layer.setCurrentIndex(2)  # one layer, one head
    assert view.matrix().shape == view.amap.weights.shape[2:]


def test_cancel_keeps_the_segments_so_far(qtbot, window, data, tmp_path):
    from studio.audio.io import load_audio

    jfk = load_audio(data / "jfk.flac")
    path = tmp_path / "long.wav"
    sf.write(path, np.concatenate([jfk, np.zeros(32000, np.float32)] * 8), 16000, subtype="PCM_16")
    panel = window.transcribe
    assert panel.open_file(str(path))
    panel.start()
    qtbot.waitUntil(lambda: len(panel.segments) >= 1, timeout=60000)
    qtbot.mouseClick(panel.cancel_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: panel.run_btn.isEnabled(), timeout=30000)
    assert panel.progress_label.text().startswith("Cancelled")
    assert panel.transcript is not None and panel.attention_btn.isEnabled()
    assert 1 <= len(panel.transcript.segments) < 16
    assert (panel.transcript.language, panel.transcript.task) == ("en", "transcribe")  # kept, not blanked


def test_a_job_that_fails_midway_keeps_its_segments_exportable(qtbot, window, data, monkeypatch):
    """The model process killed (out of memory) after some segments: the banner says so, and the text decoded so
    far stays on screen, usable and exportable as a partial transcript."""
    from studio.engine.asr import jobs
    from studio.engine.asr.result import Segment

    def dies(ctx, source, model, options, cache_dir=None):  # noqa: ANN001, ANN202
        ctx.send(Segment(0, 0.0, 8.0, " And so, my fellow Americans", [1, 2]))
        raise StudioError("The model process stopped in the middle of this job: it was killed (SIGKILL).",
                          "Run it again.")

    monkeypatch.setattr(jobs, "transcribe_job", dies)
    banner: list[str] = []
    panel = window.transcribe
    panel.error.connect(lambda m, r: banner.append(m))
    assert panel.open_file(str(data / "jfk.flac"))
    panel.start()
    qtbot.waitUntil(lambda: panel.run_btn.isEnabled() and bool(banner) and bool(banner[-1]), timeout=30000)
    assert "stopped in the middle" in banner[-1]
    assert panel.progress_label.text() == "Stopped by an error — 1 segments kept"
    assert panel.transcript is not None and panel._partial and panel.export_buttons[0].isEnabled()
    assert panel.table.rowCount() == 1


def test_bad_file_and_missing_model_show_messages(qtbot, window, tmp_path, monkeypatch):
    panel = window.transcribe
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    assert not panel.open_file(str(bad))
    assert "notes.wav" in window.banner.text
    good = tmp_path / "tone.wav"
    sf.write(good, np.sin(np.arange(16000) / 10).astype(np.float32) * 0.1, 16000)
    assert panel.open_file(str(good))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    window.settings.cache_folder = str(tmp_path / "empty-cache")
    panel.model.setCurrentIndex(panel.model.findData("base"))
    panel.start()
    qtbot.waitUntil(lambda: panel.run_btn.isEnabled(), timeout=30000)
    assert "not on this computer" in window.banner.text


def test_ui_thread_never_imports_torch_for_the_panel():
    import subprocess

    code = ("import sys; from studio.ui import transcribe_panel, attention_view; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


@pytest.mark.audio
def test_live_mode_transcribes_the_microphone_and_keeps_the_recording(qtbot, window, jfk16):
    import subprocess

    from studio.audio.devices import list_input_devices

    monitor = next(d for d in list_input_devices() if "Monitor" in d.label)
    window.settings.input_device = monitor.key
    panel = window.transcribe
    window.nav.setCurrentRow(window.PANELS.index("Transcribe"))
    qtbot.mouseClick(panel.live_btn, Qt.LeftButton)
    assert panel.recorder is not None and panel.live_btn.text().startswith("■")
    qtbot.waitUntil(lambda: panel.recorder.frames_written > 0, timeout=15000)  # the audio server is delivering
    player = subprocess.Popen(["paplay", "--device=vsink", str(jfk16)])

    def shown() -> str:
        return " ".join(panel.table.item(r, 2).text() for r in range(panel.table.rowCount())).lower()

    try:
        qtbot.waitUntil(lambda: "fellow" in shown(), timeout=30000)  # text appears while recording
        player.wait(timeout=30)
    finally:
        player.kill()
    qtbot.wait(1500)
    qtbot.mouseClick(panel.live_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: panel.transcript is not None, timeout=30000)
    heard = set(re.sub(r"[^a-z ]", " ", " ".join(s.text for s in panel.transcript.segments).lower()).split())
    said = set("and so my fellow americans ask not what your country can do for you ask what you can do".split())
    assert len(heard & said) >= 0.8 * len(said), heard  # live decoding sees cut audio: near, not always exact
    assert panel.path is not None and panel.path.exists() and panel.duration > 10
    assert panel.export_buttons[0].isEnabled()


@pytest.mark.audio
def test_live_mode_that_loses_its_session_ends_with_the_recording_open(qtbot, window, jfk16):
    """As when the model process dies between two steps: live mode ends with a message, the recording saved so
    far opens in the panel for a full transcription, and no live rows are left behind."""
    import subprocess

    from studio.audio.devices import list_input_devices
    from studio.engine.asr import jobs

    monitor = next(d for d in list_input_devices() if "Monitor" in d.label)
    window.settings.input_device = monitor.key
    panel = window.transcribe
    banner: list[tuple[str, str]] = []
    panel.error.connect(lambda m, r: banner.append((m, r)))
    panel.start_live()
    qtbot.waitUntil(lambda: panel.recorder.frames_written > 0, timeout=15000)
    player = subprocess.Popen(["paplay", "--device=vsink", str(jfk16)])
    try:
        qtbot.waitUntil(lambda: panel.live is not None and panel.live.steps >= 2 and not panel._live_job,
                        timeout=30000)
        jobs._sessions.clear()  # what a new model process has
        qtbot.waitUntil(lambda: panel.recorder is None, timeout=30000)
    finally:
        player.kill()
    message, remedy = banner[-1]
    assert "lost what it had heard" in message and "press Transcribe" in remedy
    assert panel.path is not None and panel.path.exists() and str(panel.path) == panel._live_path
    assert panel.table.rowCount() == 0 and panel.live_btn.isEnabled() and panel.run_btn.isEnabled()
    panel.start_live()  # a new session clears the old banner
    assert banner[-1] == ("", "") and panel.recorder is not None
    panel.stop_live()
    qtbot.waitUntil(lambda: panel.live is None, timeout=30000)


def test_attention_follows_the_part_of_a_long_file_on_screen(qtbot, window, data, tmp_path):
    from studio.audio.io import load_audio

    jfk, other = load_audio(data / "jfk.flac"), load_audio(data / "vallex-en-1.wav")
    gap = np.zeros(64000, np.float32)
    path = tmp_path / "two-windows.wav"
    sf.write(path, np.concatenate([jfk, gap, other, gap, jfk]), 16000, subtype="PCM_16")  # 37 s
    panel = window.transcribe
    assert panel.open_file(str(path))
    panel.start()
    with qtbot.waitSignal(panel.transcript_ready, timeout=90000):
        pass
    panel.table.selectRow(0)
    panel.show_attention()
    view = window.spectrogram.attention
    qtbot.waitUntil(lambda: view.amap is not None, timeout=30000)
    assert view.amap.start == 0.0
    qtbot.waitUntil(lambda: window.spectrogram.overview is not None, timeout=30000)  # the user sees the file
    window.spectrogram.plot.setXRange(25.0, 35.0, padding=0)  # the user looks at the second jfk
    qtbot.mouseClick(view.here_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: view.amap.start > 15.0, timeout=30000)
    assert view.amap.start <= 25.0 and any("fellow" in t for t in view.amap.token_texts)
