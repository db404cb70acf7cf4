"""The library never rewrites a file it did not write, keeps every deleted file until it is restored, and turns
every disk error into a message that loses nothing (issue 10, section 1)."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from studio.audio import library as library_mod
from studio.audio.io import iter_blocks, load_audio, probe
from studio.audio.library import Library, begin_recording, end_recording, mark_path, repair_wav_header
from studio.errors import StudioError

SR = 16000


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _chunk(cid: bytes, payload: bytes) -> bytes:
    return cid + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) & 1 else b"")


def _tone(seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    return (0.4 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def _wav_with_chunks(path: Path, before: bytes = b"", after: bytes = b"", seconds: float = 1.0) -> Path:
    """A 16-bit mono WAV with extra chunks before and/or after `data`, as field recorders and DAWs write them."""
    buf = io.BytesIO()
    sf.write(buf, _tone(seconds), SR, format="WAV", subtype="PCM_16")
    raw = buf.getvalue()
    i = raw.index(b"data")
    body = raw[12:i] + before + raw[i:] + after
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body)
    return path


LIST = _chunk(b"LIST", b"INFO" + _chunk(b"INAM", b"Field take 3\0") + _chunk(b"IART", b"Someone\0"))
BEXT = _chunk(b"bext", b"Interview at the harbour".ljust(256, b"\0") + bytes(346))
IXML = _chunk(b"iXML", b"<?xml version=\"1.0\"?><BWFXML><PROJECT>harbour</PROJECT><NOTE>odd</NOTE></BWFXML>")
VARIANTS = {"trailing LIST": (b"", LIST), "bext before, iXML after": (BEXT, IXML), "LIST and iXML": (b"", LIST + IXML)}


def _interrupted(path: Path, seconds: float = 2.0, extra: bytes = b"") -> bytes:
    """A studio recording whose writer died before its first header update: RIFF and data sizes as a writer
    leaves them at the start. Returns the samples' bytes."""
    sf.write(path, _tone(seconds), SR, subtype="PCM_16")
    raw = bytearray(path.read_bytes())
    assert raw[36:40] == b"data"
    raw[4:8] = struct.pack("<I", 36)
    raw[40:44] = struct.pack("<I", 0)
    path.write_bytes(bytes(raw) + extra)
    return bytes(raw[44:])


@pytest.mark.parametrize("variant", VARIANTS)
def test_wav_with_metadata_chunks_keeps_its_bytes_after_listing_importing_and_reading(tmp_path: Path, variant: str):
    before, after = VARIANTS[variant]
    lib = Library(tmp_path / "lib")
    in_library = _wav_with_chunks(lib.folder / "field.wav", before, after)
    outside = _wav_with_chunks(tmp_path / "take.wav", before, after)
    sums = {p: _sha(p) for p in (in_library, outside)}

    imported = lib.import_file(outside)
    for _ in range(2):
        recs = lib.recordings()
    assert sorted(r.name for r in recs) == ["field", "take"]
    assert all(r.duration == pytest.approx(1.0) for r in recs)
    for p in (in_library, outside, imported):
        assert probe(p).frames == SR
        assert len(load_audio(p, SR)) == SR
        assert sum(len(b) for b in iter_blocks(p, SR)) == SR
        sf.read(p)
    assert {p: _sha(p) for p in sums} == sums
    assert _sha(imported) == sums[outside]
    assert lib.repaired == []


def test_a_marked_recording_with_a_chunk_after_its_data_is_not_rewritten(tmp_path: Path):
    """Even a file carrying the studio's mark is left alone when something follows its data: the repair would
    turn that metadata into audio."""
    lib = Library(tmp_path)
    path = _wav_with_chunks(lib.folder / "take.wav", after=LIST)
    mark_path(path).write_text("999999999\n")  # a writer that is gone
    before = _sha(path)
    assert not repair_wav_header(path)
    lib.recordings()
    assert _sha(path) == before and not mark_path(path).exists()


def test_an_unmarked_wav_with_a_broken_header_is_not_rewritten(tmp_path: Path):
    lib = Library(tmp_path)
    path = lib.folder / "someone else's.wav"
    _interrupted(path)
    before = _sha(path)
    lib.recordings()
    assert _sha(path) == before


@pytest.mark.parametrize("extra", [b"", b"\x7f"], ids=["whole frames", "partial last frame"])
def test_an_interrupted_studio_recording_is_repaired_once(tmp_path: Path, extra: bytes):
    lib = Library(tmp_path)
    path = lib.folder / "Recording 1.wav"
    samples = _interrupted(path, 2.0, extra)
    mark_path(path).write_text("999999999\n")  # the process that wrote it died
    recs = lib.recordings()
    assert lib.repaired == [path] and not mark_path(path).exists()
    assert [r.name for r in recs] == ["Recording 1"] and recs[0].duration == pytest.approx(2.0)
    raw = path.read_bytes()
    assert struct.unpack("<I", raw[40:44])[0] == 2 * SR * 2 and struct.unpack("<I", raw[4:8])[0] == 36 + 4 * SR
    assert raw[44 : 44 + 4 * SR] == samples[: 4 * SR]
    repaired = _sha(path)
    lib.recordings()
    assert lib.repaired == [] and _sha(path) == repaired


def test_repairing_a_partial_last_frame_reports_once(tmp_path: Path):
    """The second call finds nothing to fix (it used to rewrite the RIFF size every time)."""
    path = tmp_path / "cut.wav"
    _interrupted(path, 1.0, b"\x01")
    assert repair_wav_header(path)
    fixed = _sha(path)
    assert not repair_wav_header(path)
    assert _sha(path) == fixed


def test_the_file_being_recorded_is_never_repaired(tmp_path: Path):
    lib = Library(tmp_path)
    path = lib.folder / "live.wav"
    begin_recording(path)
    try:
        _interrupted(path)
        before = _sha(path)
        lib.recordings()
        assert _sha(path) == before and mark_path(path).exists()
        with pytest.raises(StudioError, match="while it is being recorded"):
            lib.delete(path)
        with pytest.raises(StudioError, match="while it is being recorded"):
            lib.rename(path, "other")
    finally:
        end_recording(path, clean=False)  # as after a write error: the mark stays and asks for a repair
    lib.recordings()
    assert lib.repaired == [path] and not mark_path(path).exists()


def test_a_recording_by_another_live_process_is_not_repaired(tmp_path: Path):
    lib = Library(tmp_path)
    path = lib.folder / "other.wav"
    _interrupted(path)
    before = _sha(path)
    writer = subprocess.Popen(["sleep", "30"])
    try:
        mark_path(path).write_text(f"{writer.pid}\n")
        lib.recordings()
        assert _sha(path) == before and mark_path(path).exists()
    finally:
        writer.kill()
        writer.wait()
    lib.recordings()
    assert lib.repaired == [path] and _sha(path) != before


def test_same_name_deleted_twice_both_come_back_with_their_own_contents(tmp_path: Path):
    lib = Library(tmp_path)
    a = lib.folder / "A.wav"
    sf.write(a, _tone(1.0), SR)
    first = a.read_bytes()
    t1 = lib.delete(a)
    sf.write(a, _tone(2.0), SR)
    second = a.read_bytes()
    t2 = lib.delete(a)
    assert t1 != t2 and t1.read_bytes() == first and t2.read_bytes() == second
    r2 = lib.restore(t2)
    r1 = lib.restore(t1)
    assert r2 == a and r2.read_bytes() == second
    assert r1.name == "A (2).wav" and r1.read_bytes() == first
    assert list(lib.trash.iterdir()) == []


def test_restore_of_a_file_gone_from_the_trash_is_a_message(tmp_path: Path):
    lib = Library(tmp_path)
    a = lib.folder / "A.wav"
    sf.write(a, _tone(), SR)
    trashed = lib.delete(a)
    trashed.unlink()
    with pytest.raises(StudioError, match="'A.wav' is no longer in the trash"):
        lib.restore(trashed)


def _refuse(code: int):  # noqa: ANN202
    def fail(*_a: object, **_k: object) -> None:
        raise OSError(code, os.strerror(code))
    return fail


def test_import_on_a_full_disk_leaves_nothing_and_keeps_the_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    lib = Library(tmp_path / "lib")
    source = _wav_with_chunks(tmp_path / "take.wav", after=LIST)
    before = _sha(source)

    def half_then_full(src, dst, *_a: object) -> None:  # noqa: ANN001
        dst.write(src.read(1000))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "_USE_CP_SENDFILE", False)  # every copy goes through copyfileobj
    monkeypatch.setattr(shutil, "copyfileobj", half_then_full)
    with pytest.raises(StudioError, match=r"Cannot write '.*take\.wav': the disk is full\."):
        lib.import_file(source)
    assert sorted(p.name for p in lib.folder.iterdir()) == []
    assert _sha(source) == before


@pytest.mark.parametrize("code, reason", [(errno.EACCES, "permission denied"),
                                          (errno.EROFS, "the file system is read-only")])
def test_delete_and_rename_failures_are_messages_and_keep_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  code: int, reason: str):
    lib = Library(tmp_path)
    a = lib.folder / "A.wav"
    sf.write(a, _tone(), SR)
    before = _sha(a)
    monkeypatch.setattr(os, "rename", _refuse(code))
    monkeypatch.setattr(Path, "rename", _refuse(code))
    monkeypatch.setattr(shutil, "move", _refuse(code))
    with pytest.raises(StudioError, match=f"Cannot delete '.*A.wav': {reason}"):
        lib.delete(a)
    with pytest.raises(StudioError, match=f"Cannot rename '.*A.wav': {reason}"):
        lib.rename(a, "B")
    assert _sha(a) == before and not (lib.folder / "B.wav").exists()
    assert not lib.trash.exists() or list(lib.trash.iterdir()) == []


def test_restore_failure_is_a_message_and_keeps_the_trashed_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    lib = Library(tmp_path)
    a = lib.folder / "A.wav"
    sf.write(a, _tone(), SR)
    trashed = lib.delete(a)
    monkeypatch.setattr(os, "rename", _refuse(errno.EACCES))
    with pytest.raises(StudioError, match="Cannot restore '.*A.wav': permission denied"):
        lib.restore(trashed)
    assert trashed.is_file()


def test_unreadable_library_folder_is_a_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    lib = Library(tmp_path)
    monkeypatch.setattr(Path, "iterdir", _refuse(errno.EACCES))
    with pytest.raises(StudioError, match="Cannot read the recordings folder .*: permission denied"):
        lib.recordings()


def test_stale_mark_of_a_vanished_file_is_cleaned_up(tmp_path: Path):
    lib = Library(tmp_path)
    mark = mark_path(lib.folder / "gone.wav")
    mark.write_text("999999999\n")
    lib.recordings()
    assert not mark.exists()
    assert library_mod._active == set()
