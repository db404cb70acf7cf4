"""The Codec and Transcribe panels with damaged files, driven as a user would (offscreen): a bad file is a message
(never "Unexpected error … a bug"), never leaves the previous file's data under the new file's name, a good open
clears the banner, and exports are atomic, refuse the input file and report failures in the window."""

import hashlib
from pathlib import Path

import numpy as np
import soundfile as sf
from test_code_files import BAD

from studio.engine.asr.result import Segment, Transcript

PRESET = "vallex-preset-librispeech_1.npz"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _banner_says(window, *phrases: str) -> bool:
    return all(p in window.banner.text for p in phrases)


def test_codec_panel_bad_code_files_are_messages_and_clear_the_previous_grid(qtbot, window, data, tmp_path):
    panel = window.codec
    panel.open_file(str(data / PRESET))
    qtbot.waitUntil(lambda: panel.analysis is not None and not panel.drawing, timeout=30000)
    for name in ("crc.npz", "truncated.npz", "lang-vector.npz", "tokens-pickled.npz", "float.npz",
                 "length-0.ecdc", "99-codebooks.ecdc", "huge-length-48k.ecdc", "unknown-model.ecdc"):
        bad = tmp_path / name
        bad.write_bytes(BAD[name][0])
        panel.open_file(str(bad))
        qtbot.waitUntil(lambda n=name: _banner_says(window, n), timeout=30000)
        assert BAD[name][1] in window.banner.text
        assert "Unexpected error" not in window.banner.text and "bug" not in window.banner.text
        # the previous preset's grid and statistics are gone: no data under the bad file's name
        assert panel.analysis is None and panel.grid.codes is None and panel.summary.text() == ""
        assert name not in panel.file_label.text() and not panel.export_btn.isEnabled()
        panel.open_file(str(data / PRESET))  # a good open clears the banner
        qtbot.waitUntil(lambda: panel.analysis is not None and not panel.drawing, timeout=30000)
        assert window.banner.text == "" and PRESET in panel.file_label.text()


def test_codec_panel_unreadable_audio_changes_nothing(qtbot, window, data, tmp_path):
    panel = window.codec
    panel.open_file(str(data / PRESET))
    qtbot.waitUntil(lambda: panel.analysis is not None and not panel.drawing, timeout=30000)
    before = panel.analysis
    noise = tmp_path / "noise.mp3"
    noise.write_bytes(np.random.default_rng(0).bytes(50000))
    panel.open_file(str(noise))
    assert "not a valid MP3/audio file" in window.banner.text
    assert panel.analysis is before and PRESET in panel.file_label.text() and panel.grid.codes is not None


def test_codec_panel_export_refuses_the_input_and_reports_failures(qtbot, window, data, tmp_path):
    panel = window.codec
    preset = tmp_path / PRESET
    preset.write_bytes((data / PRESET).read_bytes())
    panel.open_file(str(preset))
    qtbot.waitUntil(lambda: panel.analysis is not None and not panel.drawing, timeout=30000)
    before = _sha(preset)
    panel.export_to(str(preset))  # would drop its text tokens: refused
    assert "is the input file" in window.banner.text and _sha(preset) == before
    panel.export_to(str(tmp_path / "missing" / "codes.npz"))
    assert "does not exist" in window.banner.text and not (tmp_path / "missing").exists()
    panel.export_to(str(tmp_path / "codes.wav"))
    assert "writes .ecdc, .npz here" in window.banner.text and not (tmp_path / "codes.wav").exists()
    panel.export_to(str(tmp_path / "codes.ecdc"))
    assert (tmp_path / "codes.ecdc").stat().st_size > 0 and not list(tmp_path.glob(".*.part"))


def _fake_transcript(path: Path) -> Transcript:
    return Transcript(str(path), "tiny.en", "en", "transcribe", 1.0, [Segment(0, 0.0, 1.0, " hello there")])


def _show(panel, transcript: Transcript) -> None:
    """Put a finished transcript on screen as the panel does after a job."""
    panel._job = -1  # as if a job were running
    panel.worker.cancelled.connect(panel._on_cancelled)
    panel._finished(transcript)


def test_transcribe_panel_keeps_file_and_transcript_together(qtbot, window, tmp_path):
    panel = window.transcribe
    first, second = tmp_path / "first.wav", tmp_path / "second.wav"
    for p in (first, second):
        sf.write(p, np.sin(np.arange(16000) / 10).astype(np.float32) * 0.1, 16000)
    assert panel.open_file(str(first))
    _show(panel, _fake_transcript(first))
    assert panel.table.rowCount() == 1 and panel.export_buttons[0].isEnabled()
    bad = tmp_path / "broken.ecdc.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(100))
    assert not panel.open_file(str(bad))  # nothing changes: first.wav and its transcript stay together
    assert "broken.ecdc.wav" in window.banner.text and "Unexpected" not in window.banner.text
    assert "first.wav" in panel.file_label.text() and panel.table.rowCount() == 1
    assert panel.open_file(str(second))  # the new file comes without the old transcript, and the banner goes
    assert "second.wav" in panel.file_label.text() and panel.table.rowCount() == 0 and panel.transcript is None
    assert not panel.export_buttons[0].isEnabled() and window.banner.text == ""


def test_transcribe_panel_export_refuses_the_audio_and_reports_failures(qtbot, window, tmp_path):
    panel = window.transcribe
    audio = tmp_path / "talk.txt"  # a WAV named .txt: exporting TXT next to it must not replace it
    sf.write(audio, np.sin(np.arange(16000) / 10).astype(np.float32) * 0.1, 16000, format="WAV")
    assert panel.open_file(str(audio))
    _show(panel, _fake_transcript(audio))
    before = _sha(audio)
    panel.export_to("txt", str(audio))
    assert "is the input file" in window.banner.text and _sha(audio) == before
    panel.export_to("srt", str(tmp_path / "no-such-folder" / "talk.srt"))
    assert "does not exist" in window.banner.text
    panel.export_to("srt", str(tmp_path / "talk"))  # no suffix typed: .srt added
    assert "hello there" in (tmp_path / "talk.srt").read_text() and not list(tmp_path.glob(".*.part"))


def test_expected_os_failures_are_not_called_bugs():
    import errno

    from studio.worker.errors import describe_error

    report = describe_error(OSError(errno.EROFS, "Read-only file system", "/mnt/x.wav"))
    assert report.message == "Cannot use '/mnt/x.wav': the file system is read-only." and "bug" not in report.remedy
