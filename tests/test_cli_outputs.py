"""The CLI's outputs never replace an input, clash within a batch or stay half-written; bad options and output
paths are refused with a message before any work; Ctrl+C in `studio transcribe` keeps what is done."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from studio.audio.io import load_audio
from studio.cli import main as cli
from studio.engine.asr import export
from studio.engine.asr.result import Segment, Transcript
from studio.errors import StudioError


def _studio(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True, timeout=timeout)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def wav(tmp_path: Path, data: Path) -> Path:
    """jfk as a 16 kHz WAV."""
    path = tmp_path / "a.wav"
    sf.write(path, load_audio(data / "jfk.flac"), 16000, subtype="PCM_16")
    return path


class _FullDisk:
    """A file whose every write fails as a full disk does."""

    def __init__(self, f: object) -> None:
        self._f = f

    def __enter__(self) -> _FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self._f.close()  # type: ignore[attr-defined]

    def write(self, data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name: str) -> object:
        return getattr(self._f, name)


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    import studio.outputs

    real = os.fdopen
    monkeypatch.setattr(studio.outputs.os, "fdopen", lambda *a, **k: _FullDisk(real(*a, **k)))


# --- studio mel ---------------------------------------------------------------------------------------------------

def test_mel_refuses_a_png_path_that_is_its_input(wav: Path):
    before = _sha(wav)
    out = _studio("mel", str(wav), "--png", str(wav))
    assert out.returncode == 2 and "is the input file" in out.stderr and "Traceback" not in out.stderr
    assert _sha(wav) == before


@pytest.mark.parametrize("name, expected", [
    ("folder", "is a folder"),
    ("missing/x.png", "does not exist"),
    ("x.jpg", "writes .png"),
])
def test_mel_refuses_a_bad_png_path_before_reading_the_audio(tmp_path: Path, name: str, expected: str):
    (tmp_path / "folder").mkdir()
    (tmp_path / "empty.wav").write_bytes(b"")  # reading it would fail with "empty (0 bytes)"
    out = _studio("mel", str(tmp_path / "empty.wav"), "--png", str(tmp_path / name))
    assert out.returncode == 2 and expected in out.stderr, out.stderr
    assert "empty" not in out.stderr and "Traceback" not in out.stderr
    assert out.stderr.startswith("error: ") and len(out.stderr.strip().splitlines()) == 2  # message + remedy


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_mel_refuses_an_unwritable_folder(tmp_path: Path, wav: Path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        out = _studio("mel", str(wav), "--png", str(ro / "x.png"))
    finally:
        ro.chmod(0o755)
    assert out.returncode == 2 and "permission denied" in out.stderr and "Traceback" not in out.stderr
    assert list(ro.iterdir()) == []


def test_mel_on_a_full_disk_leaves_no_png_and_no_part_file(tmp_path: Path, wav: Path, full_disk: None,
                                                           capsys: pytest.CaptureFixture[str]):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    assert cli.main(["mel", str(wav), "--png", str(out_dir / "a.png")]) == 2
    assert "the disk is full" in capsys.readouterr().err
    assert list(out_dir.iterdir()) == []


def test_mel_on_a_read_only_file_system_says_so(tmp_path: Path, wav: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]):
    import studio.outputs

    def read_only(*a: object, **k: object) -> tuple[int, str]:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(studio.outputs.tempfile, "mkstemp", read_only)  # what root sees on a read-only mount
    assert cli.main(["mel", str(wav), "--png", str(tmp_path / "a.png")]) == 2
    err = capsys.readouterr().err
    assert "the file system is read-only" in err and "writable disk" in err
    assert not (tmp_path / "a.png").exists()


# --- transcript files ---------------------------------------------------------------------------------------------

def _transcript() -> Transcript:
    return Transcript("x.wav", "tiny.en", "en", "transcribe", 60.0,
                      [Segment(0, 0.0, 2.0, " Hello."), Segment(1, 2.5, 4.0, " World.")])


def test_transcript_write_on_a_full_disk_keeps_the_old_file_and_leaves_no_part(tmp_path: Path, full_disk: None):
    old = tmp_path / "x.txt"
    old.write_text("earlier run\n")
    with pytest.raises(StudioError, match="the disk is full"):
        export.write(_transcript(), "txt", old)
    assert old.read_text() == "earlier run\n"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def test_partial_transcripts_say_so_in_every_format():
    t = _transcript()
    assert export.render(t, "txt", partial=True).splitlines()[-1] == \
        "[partial transcript: stopped at 00:00:04 of 00:01:00]"
    data = json.loads(export.render(t, "json", partial=True))
    assert data["partial"] is True and len(data["segments"]) == 2
    assert "NOTE partial transcript" in export.render(t, "vtt", partial=True)
    assert export.render(t, "srt", partial=True).rstrip().endswith("[partial transcript: stopped at 00:00:04 of "
                                                                   "00:01:00]")
    assert "partial" not in export.render(t, "json") and "partial" not in export.render(t, "txt")


# --- studio transcribe: outputs -----------------------------------------------------------------------------------

def test_transcribe_refuses_a_transcript_that_would_replace_its_input(tmp_path: Path, wav: Path):
    audio = wav.rename(tmp_path / "s.txt")  # a WAV named .txt: its transcript would be s.txt
    before = _sha(audio)
    t0 = time.monotonic()
    out = _studio("transcribe", str(audio), "-o", str(tmp_path))
    assert out.returncode == 2 and "is the input file" in out.stderr and "Traceback" not in out.stderr
    assert _sha(audio) == before
    assert time.monotonic() - t0 < 20  # refused before the model loads, let alone decodes


def test_batch_outputs_that_share_a_name_are_numbered_in_command_line_order():
    from studio.cli.transcribe import output_bases

    files = [Path("a/d.wav"), Path("d.flac"), Path("b/d.wav"), Path("x.wav")]
    assert output_bases(files) == ["d", "d (2)", "d (3)", "x"]
    # a numbered name never takes another input's own name, and names differing in case count as one
    assert output_bases([Path("d (2).wav"), Path("d.wav"), Path("D.flac")]) == ["d (2)", "d", "D (3)"]


def test_transcribe_batch_with_one_name_writes_both_transcripts(tmp_path: Path, wav: Path, data: Path):
    short = tmp_path / "d.wav"
    sf.write(short, load_audio(wav)[: 4 * 16000], 16000, subtype="PCM_16")
    full = tmp_path / "d.flac"
    full.write_bytes((data / "jfk.flac").read_bytes())
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "d.txt").write_text("from an earlier run\n")  # replacing an earlier run's output is expected
    out = _studio("transcribe", str(short), str(full), "-o", str(out_dir), "--beam-size", "1", timeout=180)
    assert out.returncode == 0, out.stderr
    first = (out_dir / "d.txt").read_text().lower()
    second = (out_dir / "d (2).txt").read_text().lower()
    assert "earlier run" not in first and "americans" in first and "your country" not in first
    assert "ask what you can do for your country" in second
    assert sorted(p.name for p in out_dir.iterdir()) == ["d (2).txt", "d.txt"]


# --- options ------------------------------------------------------------------------------------------------------

OPTION_CASES = [
    (["transcribe", "x.wav", "--beam-size", "0"], "--beam-size", "from 1 to 100"),
    (["transcribe", "x.wav", "--best-of", "0"], "--best-of", "from 1 to 100"),
    (["transcribe", "x.wav", "--patience", "-1"], "--patience", "> 0 and <= 10"),
    (["transcribe", "x.wav", "--patience", "nan"], "--patience", "> 0 and <= 10"),
    (["transcribe", "x.wav", "--temperature-increment", "1.5"], "--temperature-increment", "from 0 to 1"),
    (["transcribe", "x.wav", "--temperature-increment", "0.001"], "--temperature-increment", "0.01 to 1"),
    (["transcribe", "x.wav", "--threads", "100000"], "--threads", "from 0 to"),
    (["transcribe", "x.wav", "--threads", "-5"], "--threads", "from 0 to"),
    (["transcribe", "x.wav", "--language", "klingon"], "--language", "unknown language 'klingon'"),
    (["mel", "x.wav", "--png", "x.png", "--width", "0"], "--width", "from 1 to 100000"),
    (["mel", "x.wav", "--png", "x.png", "--width", "ten"], "--width", "'ten' is not an integer"),
    (["mel", "x.wav", "--png", "x.png", "--colormap", "jet"], "--colormap", "invalid choice"),
    (["record", "x.wav", "--seconds", "0"], "--seconds", "> 0"),
    (["record", "x.wav", "--seconds", "inf"], "--seconds", "> 0"),
    (["record", "x.wav", "--samplerate", "10"], "--samplerate", "from 1000 to 384000"),
]


@pytest.mark.parametrize("argv, option, allowed", OPTION_CASES, ids=[" ".join(c[0][2:]) for c in OPTION_CASES])
def test_a_bad_option_value_is_refused_with_its_range(argv: list[str], option: str, allowed: str,
                                                      capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert f"argument {option}" in err and allowed in err and "Traceback" not in err


def test_patience_too_small_for_the_beam_is_refused_before_the_model_loads(wav: Path):
    out = _studio("transcribe", str(wav), "--patience", "0.1", "--beam-size", "5", "-o", str(wav.parent))
    assert out.returncode == 2 and "--patience 0.1" in out.stderr and "Use --patience 0.2" in out.stderr
    assert not (wav.parent / "a.txt").exists()


# --- studio transcribe: Ctrl+C --------------------------------------------------------------------------------------

@pytest.fixture
def long_wav(tmp_path: Path, data: Path) -> Path:
    """About three minutes of speech: jfk and another speaker, repeated."""
    parts = [load_audio(data / "jfk.flac"), load_audio(data / "vallex-en-1.wav")]
    path = tmp_path / "long.wav"
    sf.write(path, np.concatenate(parts * 10), 16000, subtype="PCM_16")
    return path


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_keeps_the_segments_so_far_marked_partial(tmp_path: Path, long_wav: Path, sig: int):
    """SIGTERM (kill, timeout, a logout) keeps what Ctrl+C keeps."""
    out_dir = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "studio", "transcribe", str(long_wav), "-o", str(out_dir),
                             "-f", "txt,json", "--beam-size", "1"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()  # type: ignore[union-attr]  # a segment, printed as soon as it is decoded
        assert first.startswith("[   0.00 -->"), first
        proc.send_signal(sig)
        rest, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Interrupted" in err and "partial transcript" in err and "Traceback" not in err
    data = json.loads((out_dir / "long.json").read_text())
    assert data["partial"] is True and data["segments"]
    assert data["segments"][-1]["end"] < data["duration"] - 30  # stopped early, not at the end
    txt = (out_dir / "long.txt").read_text().splitlines()
    assert txt[0] == first.split("] ", 1)[1].strip()
    assert txt[-1].startswith("[partial transcript: stopped at ")
    assert len(txt) - 1 == len(data["segments"])
    assert not list(out_dir.glob(".*.part"))


# --- the transcriber under the CLI ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def transcriber():
    from studio.engine.asr.transcribe import Transcriber
    from studio.hub.whisper_weights import load_whisper

    return Transcriber(load_whisper("tiny.en"))


def test_the_loudness_pass_is_shown_as_reading_progress_before_decoding(transcriber, long_wav: Path):
    from studio.engine.asr.options import TranscribeOptions
    from studio.errors import JobCancelled

    seen: list[tuple[float, str]] = []

    def stop(s: Segment) -> None:
        raise JobCancelled

    with pytest.raises(JobCancelled):
        transcriber.transcribe(long_wav, TranscribeOptions(beam_size=1), progress=lambda f, m: seen.append((f, m)),
                               on_segment=stop)
    reading = [f for f, m in seen if m == "Reading audio…"]
    assert len(reading) >= 5 and reading == sorted(reading) and reading[-1] == pytest.approx(0.05)
    assert seen[: len(reading)] == [(f, "Reading audio…") for f in reading]  # all of it before any decoding


def test_ctrl_c_inside_the_transcriber_is_a_cancel_with_the_segments_so_far(transcriber, long_wav: Path):
    from studio.engine.asr.options import TranscribeOptions
    from studio.errors import JobCancelled

    got: list[Segment] = []

    def interrupt(s: Segment) -> None:
        got.append(s)
        if len(got) == 2:
            raise KeyboardInterrupt

    with pytest.raises(JobCancelled) as cancelled:
        transcriber.transcribe(long_wav, TranscribeOptions(beam_size=1), progress=None, on_segment=interrupt)
    partial = cancelled.value.partial
    assert isinstance(partial, Transcript) and partial.segments == got and partial.language == "en"
