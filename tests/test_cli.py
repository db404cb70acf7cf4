import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf


def _studio(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True, timeout=timeout)


def test_help_lists_the_commands():
    out = _studio("--help")
    assert out.returncode == 0
    for cmd in ("devices", "record", "mel", "transcribe", "codec"):
        assert cmd in out.stdout


def test_mel_writes_a_png_of_the_whole_file(tmp_path: Path, data: Path):
    out = _studio("mel", str(data / "jfk.flac"), "--png", str(tmp_path / "jfk.png"))
    assert out.returncode == 0, out.stderr
    raw = (tmp_path / "jfk.png").read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(raw[16:20], "big") == 1100  # one column per 10 ms frame
    assert "11.0 s" in out.stdout


def test_bad_input_is_a_message_and_exit_code_not_a_traceback(tmp_path: Path):
    (tmp_path / "empty.wav").write_bytes(b"")
    out = _studio("mel", str(tmp_path / "empty.wav"), "--png", str(tmp_path / "x.png"))
    assert out.returncode == 2
    assert "empty (0 bytes)" in out.stderr and "Traceback" not in out.stderr


def test_the_command_writes_everything_before_its_fast_exit(tmp_path: Path, data: Path):
    """`studio` ends with os._exit (no interpreter teardown): the output file, stdout and the exit status must all
    be complete, also when stdout is a pipe that is read to its end."""
    out = _studio("transcribe", str(data / "jfk.flac"), "--model", "tiny.en", "-f", "txt", "-o", str(tmp_path),
                  timeout=180)
    assert out.returncode == 0, out.stderr
    assert "ask not what your country" in (tmp_path / "jfk.txt").read_text().lower()
    assert out.stdout.rstrip().endswith("can do for your country.") and "Wrote" in out.stderr + out.stdout


@pytest.mark.audio
def test_devices_lists_the_monitor():
    out = _studio("devices")
    assert out.returncode == 0 and "pulse:vsink.monitor" in out.stdout and "monitor" in out.stdout


@pytest.mark.audio
def test_record_for_n_seconds(tmp_path: Path):
    out = _studio("record", str(tmp_path / "r.wav"), "--seconds", "1.5", "--samplerate", "16000")
    assert out.returncode == 0, out.stderr
    info = sf.info(str(tmp_path / "r.wav"))
    assert info.samplerate == 16000 and 1.5 <= info.duration <= 1.7


def test_record_to_an_unknown_device_says_how_to_list_them(tmp_path: Path):
    out = _studio("record", str(tmp_path / "r.wav"), "--device", "no such mic")
    assert out.returncode == 2 and "studio devices" in out.stderr


def test_transcribe_writes_every_format_and_a_bad_file_does_not_stop_the_batch(tmp_path: Path, data: Path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF0000WAVEjunk")
    out = _studio("transcribe", str(broken), str(data / "jfk.flac"), "-f", "all", "-o", str(tmp_path / "out"),
                  "--beam-size", "1", "--word-timestamps", timeout=180)
    assert out.returncode == 2  # one file failed ...
    assert "broken.wav" in out.stderr and "Traceback" not in out.stderr
    for fmt in ("txt", "srt", "vtt", "json"):  # ... the other was written
        assert (tmp_path / "out" / f"jfk.{fmt}").exists()
    assert "ask not what your country" in (tmp_path / "out" / "jfk.txt").read_text().lower()
    assert "[   0.00 -->" in out.stdout


def test_transcribe_rejects_an_unknown_format_and_a_language_the_model_lacks(tmp_path: Path, data: Path):
    out = _studio("transcribe", str(data / "jfk.flac"), "-f", "docx", timeout=120)
    assert out.returncode == 2 and "Unknown output format" in out.stderr
    out = _studio("transcribe", str(data / "jfk.flac"), "--language", "de", "-o", str(tmp_path), timeout=120)
    assert out.returncode == 2 and "English only" in out.stderr and "Traceback" not in out.stderr
