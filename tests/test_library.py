import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from studio.audio.library import Library, repair_wav_header
from studio.errors import StudioError


def _wav(path: Path, seconds: float = 1.0) -> Path:
    sf.write(path, np.zeros(int(16000 * seconds), np.float32), 16000)
    return path


def test_lists_recordings_with_duration_newest_first(tmp_path: Path):
    lib = Library(tmp_path / "lib")
    _wav(lib.new_path("a"), 1.0)
    b = _wav(lib.new_path("b"), 2.5)
    import os
    os.utime(b, (2e9, 2e9))
    (lib.folder / "notes.txt").write_text("not audio")
    recs = lib.recordings()
    assert [r.name for r in recs] == ["b", "a"]
    assert recs[0].duration == pytest.approx(2.5)


def test_rename_refuses_clashes_and_bad_names(tmp_path: Path):
    lib = Library(tmp_path)
    a, _ = _wav(lib.new_path("a")), _wav(lib.new_path("b"))
    with pytest.raises(StudioError, match="already exists"):
        lib.rename(a, "b")
    with pytest.raises(StudioError, match="not a usable name"):
        lib.rename(a, "../evil")
    assert lib.rename(a, "interview").name == "interview.wav"


def test_delete_then_restore_brings_the_file_back(tmp_path: Path):
    lib = Library(tmp_path)
    a = _wav(lib.new_path("keep me"))
    data = a.read_bytes()
    trashed = lib.delete(a)
    assert not a.exists() and lib.recordings() == []
    restored = lib.restore(trashed)
    assert restored.read_bytes() == data and restored.name == "keep me.wav"


def test_import_copies_readable_audio_and_rejects_the_rest(tmp_path: Path, data: Path):
    lib = Library(tmp_path / "lib")
    imported = lib.import_file(data / "jfk.flac")
    assert imported.parent == lib.folder and imported.read_bytes() == (data / "jfk.flac").read_bytes()
    bad = tmp_path / "x.wav"
    bad.write_bytes(b"")
    with pytest.raises(StudioError, match="empty"):
        lib.import_file(bad)


def test_header_of_an_interrupted_wav_is_repaired(tmp_path: Path):
    """A 16-bit stereo WAV whose writer died before its first header update: the sizes must come back as the frames
    present (hand-computed: 2 s x 16000 frames/s x 4 bytes), and every sample where it was."""
    codes = (np.arange(2 * 32000) % 3001 - 1500).astype(np.int16).reshape(32000, 2)
    codes[:, 1] = -codes[:, 1] // 2  # the channels differ: a misaligned data start would mix them up
    path = tmp_path / "cut.wav"
    sf.write(path, codes, 16000, subtype="PCM_16")
    raw = bytearray(path.read_bytes())
    assert raw[36:40] == b"data" and len(raw) == 44 + 32000 * 4
    raw[4:8] = struct.pack("<I", 36)    # as a writer leaves it before the first header update
    raw[40:44] = struct.pack("<I", 0)
    path.write_bytes(bytes(raw))
    assert repair_wav_header(path)
    fixed = path.read_bytes()
    assert struct.unpack("<I", fixed[40:44])[0] == 128000 and struct.unpack("<I", fixed[4:8])[0] == 36 + 128000
    x, sr = sf.read(path, dtype="int16")
    assert sr == 16000 and np.array_equal(x, codes)
    assert not repair_wav_header(path)
