"""Cases a new user found by trying the worst inputs: each was a traceback, a lost file or a wrong message."""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from studio.cli.main import main
from studio.engine.codec.files import CodeFileError, read_codes


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_record_never_replaces_an_existing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keep = tmp_path / "keep.wav"
    sf.write(keep, np.zeros(1600, np.float32), 16000)
    before = _sha(keep)
    assert main(["record", str(keep), "--seconds", "1"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert _sha(keep) == before
    assert main(["record", str(tmp_path / "r.mp3"), "--seconds", "1"]) == 2  # WAV bytes under an .mp3 name
    assert not (tmp_path / "r.mp3").exists()


def test_deeply_nested_ecdc_metadata_is_a_damaged_file(tmp_path: Path) -> None:
    meta = b"[" * 100_000 + b"]" * 100_000
    bad = tmp_path / "deep.ecdc"
    bad.write_bytes(b"ECDC" + struct.pack("!BI", 0, len(meta)) + meta)
    with pytest.raises(CodeFileError, match="not readable JSON"):
        read_codes(bad)


def test_output_names_near_and_over_the_limit(tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "a.wav"
    sf.write(src, np.zeros(16000, np.float32), 16000)
    assert main(["mel", str(src), "--png", str(tmp_path / ("a" * 500 + ".png"))]) == 2
    assert "too long" in capsys.readouterr().err
    near = tmp_path / ("b" * 246 + ".png")  # 250 bytes: allowed, and its temporary file must be too
    assert main(["mel", str(src), "--png", str(near)]) == 0, capsys.readouterr().err
    assert near.exists() and not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_interrupted_before_any_segment_keeps_the_previous_transcript(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from studio.engine.asr import transcribe as engine
    from studio.engine.asr.result import Transcript
    from studio.errors import JobCancelled

    src = tmp_path / "s.wav"
    sf.write(src, np.zeros(16000, np.float32), 16000)
    out = tmp_path / "out"
    out.mkdir()
    (out / "s.txt").write_text("the complete transcript of an earlier run\n")

    def interrupted(self, source, *a, **k):  # noqa: ANN001, ANN002, ANN003
        raise JobCancelled(Transcript(str(source), "tiny.en", "en", "transcribe", 1.0, []))

    monkeypatch.setattr(engine.Transcriber, "transcribe", interrupted)
    assert main(["transcribe", str(src), "-o", str(out), "--quiet"]) == 130
    assert (out / "s.txt").read_text() == "the complete transcript of an earlier run\n"


def test_a_pipe_is_not_a_regular_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "live.wav"
    os.mkfifo(fifo)
    assert main(["mel", str(fifo), "--png", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "not a regular file" in err and "empty" not in err


def test_a_read_only_earlier_output_is_not_replaced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "a.wav"
    sf.write(src, np.zeros(16000, np.float32), 16000)
    png = tmp_path / "a.png"
    png.write_bytes(b"kept")
    png.chmod(0o444)
    assert main(["mel", str(src), "--png", str(png)]) == 2
    assert "read-only" in capsys.readouterr().err and png.read_bytes() == b"kept"


def test_silence_says_no_speech_was_found(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "quiet.wav"
    sf.write(src, np.zeros(16000 * 2, np.float32), 16000)
    assert main(["transcribe", str(src), "-o", str(tmp_path), "--beam-size", "1"]) == 0
    assert "no speech found" in capsys.readouterr().err and (tmp_path / "quiet.txt").read_text() == ""


def test_transcribe_onto_its_input_says_to_pick_another_folder(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    src = tmp_path / "s.txt"
    sf.write(src, np.zeros(1600, np.float32), 16000, format="WAV")
    assert main(["transcribe", str(src), "-o", str(tmp_path), "--quiet"]) == 2
    assert "-o" in capsys.readouterr().err


def test_translate_with_an_english_only_model_is_refused_before_loading(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    src = tmp_path / "a.wav"
    sf.write(src, np.zeros(1600, np.float32), 16000)
    assert main(["transcribe", str(src), "--task", "translate", "-o", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "English-only" in err and "a.wav" not in err  # the model is at fault, not the file
    with pytest.raises(SystemExit):
        main(["transcribe", str(src), "--model", " ", "-o", str(tmp_path)])
    assert "give a model name" in capsys.readouterr().err
