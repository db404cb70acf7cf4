"""Recording through the real device path: PulseAudio null sink -> monitor source -> PortAudio -> our file."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from studio.audio.devices import list_input_devices
from studio.audio.io import load_audio
from studio.audio.recorder import Recorder

pytestmark = pytest.mark.audio


def _monitor():
    return next(d for d in list_input_devices() if d.kind == "monitor")


def _envelope(x: np.ndarray, sr: int, hop_s: float = 0.02) -> np.ndarray:
    hop = int(sr * hop_s)
    n = len(x) // hop
    return np.sqrt((x[: n * hop].reshape(n, hop) ** 2).mean(axis=1))


def _best_correlation(rec: np.ndarray, ref: np.ndarray) -> tuple[float, int]:
    """Max normalised correlation of rec's envelope against every lag of ref's."""
    best, lag = -1.0, 0
    for k in range(0, len(ref) - len(rec)):
        seg = ref[k : k + len(rec)]
        c = np.corrcoef(rec, seg)[0, 1]
        if c > best:
            best, lag = c, k
    return best, lag


def _wait_for(cond, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_monitor_of_the_output_is_listed_as_a_device():
    devices = list_input_devices()
    monitors = [d for d in devices if d.kind == "monitor"]
    assert monitors and monitors[0].pulse_source == "vsink.monitor"
    assert monitors[0].label.startswith("Monitor of")


def test_a_click_looks_devices_up_in_the_last_listing_without_running_pactl(monkeypatch):
    from studio.audio import devices

    listed = list_input_devices()
    calls = []
    real = devices.pulse_sources
    monkeypatch.setattr(devices, "pulse_sources", lambda: calls.append(1) or real())
    assert devices.find_device(listed[0].key) == listed[0] and not calls
    monkeypatch.setattr(devices, "_known", None)  # nothing listed yet in this process: it lists
    assert devices.find_device(listed[0].key) == listed[0] and calls == [1]
    assert devices.find_device("pulse:plugged-in-since") is None and calls == [1, 1]  # not in it: listed again
    assert devices.find_device(None) is None and calls == [1, 1]


def test_recording_from_the_virtual_microphone_holds_the_played_speech(tmp_path: Path, jfk16: Path):
    player = subprocess.Popen(["paplay", "--device=vsink", str(jfk16)])
    try:
        time.sleep(0.5)
        rec = Recorder(tmp_path / "take.wav", _monitor(), samplerate=16000)
        rec.start()
        _wait_for(lambda: rec.duration >= 3.0)
        path = rec.stop()
    finally:
        player.kill()
    x, sr = sf.read(path, dtype="float32")
    assert sr == 16000 and 2.7 < len(x) / sr < 3.4
    assert np.sqrt((x**2).mean()) > 0.02  # speech, not silence
    ref = load_audio(jfk16, 16000)
    corr, lag = _best_correlation(_envelope(x, sr), _envelope(ref, 16000))
    assert corr > 0.8, f"recording does not follow the played speech (r={corr:.2f})"
    assert 0.2 < lag * 0.02 < 5.0  # it starts about where playback was when audio began to arrive


def test_pause_drops_audio_and_resume_continues(tmp_path: Path):
    rec = Recorder(tmp_path / "p.wav", _monitor(), samplerate=16000)
    rec.start()
    _wait_for(lambda: rec.duration >= 1.0)
    rec.pause()
    time.sleep(0.2)
    at_pause = rec.duration
    time.sleep(1.0)
    assert rec.duration == at_pause
    rec.resume()
    _wait_for(lambda: rec.duration >= at_pause + 1.0)
    rec.stop()
    assert at_pause + 0.95 < sf.info(str(tmp_path / "p.wav")).duration < at_pause + 1.3


def test_sigkill_mid_recording_leaves_a_readable_file_missing_at_most_a_second(tmp_path: Path, jfk16: Path):
    out = tmp_path / "killed.wav"
    player = subprocess.Popen(["paplay", "--device=vsink", str(jfk16)])
    proc = subprocess.Popen([sys.executable, "-m", "studio", "record", str(out), "--samplerate", "16000",
                             "--device", "pulse:vsink.monitor"], stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        assert "Recording to" in line, line
        recorded = 0.0
        deadline = time.monotonic() + 20
        while recorded < 3.0 and time.monotonic() < deadline:  # the CLI reports seconds recorded
            status = proc.stderr.read(26)
            recorded = max([recorded] + [float(p.split()[0]) for p in status.split("\r") if " s  level" in p])
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        player.kill()
    info = sf.info(str(out))  # readable as is: the header was kept up to date while recording
    assert recorded >= 3.0
    assert recorded - 1.0 <= info.duration <= recorded + 0.3
    x, _ = sf.read(out, dtype="float32")
    assert np.sqrt((x**2).mean()) > 0.01
