"""The recorder without a sound card: a fake PortAudio stream feeds the real callback, writer thread and file.
Samples beyond full scale clip, input overflows are counted and reach the user, and the file is marked while it is
written (issue 10, section 1)."""

from __future__ import annotations

import signal
import sys
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from studio.audio.library import is_being_recorded, mark_path
from studio.audio.recorder import Recorder


class FakeStatus:
    """What sounddevice passes as `status`: flags, false when none is set."""

    def __init__(self, overflow: bool) -> None:
        self.input_overflow = overflow

    def __bool__(self) -> bool:
        return self.input_overflow


class FakeStream:
    """sounddevice.InputStream stand-in: on start, delivers `BLOCKS` (value, overflow flag) to the callback."""

    BLOCKS: list[tuple[float, bool]] = []
    started = threading.Event()
    release = threading.Event()

    def __init__(self, samplerate: int, channels: int, dtype: str, device: object, blocksize: int,
                 latency: str, callback) -> None:  # noqa: ANN001
        self.callback, self.blocksize = callback, blocksize
        self._thread = threading.Thread(target=self._feed, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _feed(self) -> None:
        for value, overflow in self.BLOCKS:
            block = np.full((self.blocksize, 1), value, np.float32)
            self.callback(block, self.blocksize, None, FakeStatus(overflow))
        FakeStream.started.set()
        FakeStream.release.wait(10)

    def stop(self) -> None:
        FakeStream.release.set()
        self._thread.join()

    def close(self) -> None:
        pass


@pytest.fixture
def fake_sounddevice(monkeypatch: pytest.MonkeyPatch) -> type[FakeStream]:
    module = types.ModuleType("sounddevice")
    module.InputStream = FakeStream  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sounddevice", module)
    FakeStream.started, FakeStream.release = threading.Event(), threading.Event()
    return FakeStream


def _wait(cond, timeout: float = 10.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_samples_beyond_full_scale_clip_and_overflows_are_counted(tmp_path: Path, fake_sounddevice):  # noqa: ANN001
    fake_sounddevice.BLOCKS = [(0.5, False), (1.5, True), (-2.0, False), (-0.25, True), (1.0, False)]
    path = tmp_path / "take.wav"
    rec = Recorder(path, samplerate=16000)
    rec.start()
    blocksize = 320
    assert is_being_recorded(path) and mark_path(path).exists()
    _wait(lambda: rec.frames_written == 5 * blocksize)
    assert rec.stop() == path
    assert rec.overflows == 2
    assert not is_being_recorded(path) and not mark_path(path).exists()  # a clean stop removes the mark
    x, sr = sf.read(path, dtype="int16")
    assert sr == 16000 and len(x) == 5 * blocksize
    blocks = x.reshape(5, blocksize)
    assert (blocks[0] == 16384).all() or (blocks[0] == 16383).all()
    assert (blocks[1] == 32767).all()          # 1.5 clips to full scale; wrapped it was -16386
    assert (blocks[2] <= -32767).all()         # -2.0 clips to negative full scale
    assert (blocks[4] == 32767).all()


def test_overflow_during_pause_is_not_counted(tmp_path: Path, fake_sounddevice):  # noqa: ANN001
    fake_sounddevice.BLOCKS = [(0.1, True)]
    rec = Recorder(tmp_path / "p.wav", samplerate=16000)
    rec.pause()
    rec.start()
    fake_sounddevice.started.wait(5)
    rec.stop()
    assert rec.overflows == 0 and rec.frames_written == 0


def test_cli_record_reports_the_overflows(tmp_path: Path, fake_sounddevice, capsys):  # noqa: ANN001
    from studio.cli.main import main

    fake_sounddevice.BLOCKS = [(0.1, i in (2, 5, 7)) for i in range(20)]
    out = tmp_path / "cli.wav"
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        code = main(["record", str(out), "--seconds", "0.2", "--samplerate", "16000"])
    finally:
        signal.signal(signal.SIGINT, handlers[0])
        signal.signal(signal.SIGTERM, handlers[1])
    err = capsys.readouterr().err
    assert code == 0 and out.exists() and not mark_path(out).exists()
    assert "warning: 3 input overflows: some audio was dropped" in err


def test_recording_into_a_folder_that_cannot_be_written_is_a_message(tmp_path: Path, fake_sounddevice,  # noqa: ANN001
                                                                    monkeypatch: pytest.MonkeyPatch):
    import errno
    import tempfile

    from studio.errors import StudioError

    def refuse(*_a: object, **_k: object) -> None:
        raise OSError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(StudioError, match=r"Cannot write in '.*': permission denied\."):
        Recorder(tmp_path / "x.wav", samplerate=16000).start()
    assert list(tmp_path.iterdir()) == []
