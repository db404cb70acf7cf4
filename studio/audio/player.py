"""Playback that streams from disk: an hour-long file never has to sit in memory to be played."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from studio.audio.devices import describe_missing_portaudio
from studio.audio.io import open_audio, probe
from studio.errors import StudioError


class PlaybackError(StudioError):
    pass


class Player:
    """Plays one file at a time; `position` (seconds) is the playhead, safe to read from any thread."""

    def __init__(self, device: int | str | None = None) -> None:
        self.device = device
        self.path: Path | None = None
        self.samplerate = 0
        self.duration = 0.0
        self.on_finished: Callable[[], None] | None = None
        self._file: sf.SoundFile | None = None
        self._stream = None
        self._frame = 0
        self._end_frame = 0
        self._lock = threading.Lock()
        self._channels = 1

    @property
    def position(self) -> float:
        return self._frame / self.samplerate if self.samplerate else 0.0

    @property
    def playing(self) -> bool:
        return self._stream is not None and self._stream.active

    def play(self, path: str | os.PathLike, start: float = 0.0, end: float | None = None) -> None:
        """Start playing [start, end) of `path`, replacing whatever was playing."""
        info = probe(path)
        try:
            import sounddevice as sd
        except OSError:
            raise PlaybackError("Cannot play audio: " + describe_missing_portaudio()) from None
        self.stop()
        self.path, self.samplerate, self.duration = info.path, info.sample_rate, info.duration
        self._channels = min(info.channels, 2)
        self._file = open_audio(info)  # also reads a WAV whose header lost its data size
        self._frame = int(max(0.0, min(start, info.duration)) * info.sample_rate)
        self._end_frame = info.frames if end is None else min(info.frames, int(end * info.sample_rate))
        self._file.seek(self._frame)
        try:
            self._stream = sd.OutputStream(samplerate=self.samplerate, channels=self._channels, dtype="float32",
                                           device=self.device, latency="low", callback=self._callback,
                                           finished_callback=self._finished)
            self._stream.start()
        except Exception as e:  # PortAudioError carries only text
            self._stream = None
            raise PlaybackError(f"Cannot play {info.path.name}: {e}.",
                                "Check the output device in your system's sound settings.") from None

    def _callback(self, outdata: np.ndarray, frames: int, time_info: object, status: object) -> None:
        import sounddevice as sd

        with self._lock:
            n = max(0, min(frames, self._end_frame - self._frame))
            block = self._file.read(n, dtype="float32", always_2d=True) if n and self._file else np.zeros((0, 1))
            self._frame += len(block)
        if block.shape[1] > self._channels:  # more than stereo: mix down
            block = np.repeat(block.mean(axis=1, keepdims=True), self._channels, axis=1)
        outdata[: len(block)] = block
        outdata[len(block) :] = 0
        if len(block) < frames:
            raise sd.CallbackStop

    def _finished(self) -> None:
        if self.on_finished is not None:
            self.on_finished()

    def seek(self, seconds: float) -> None:
        with self._lock:
            if self._file is not None:
                self._frame = int(max(0.0, min(seconds, self.duration)) * self.samplerate)
                self._file.seek(self._frame)

    def pause(self) -> None:
        if self._stream is not None and self._stream.active:
            self._stream.stop()

    def resume(self) -> None:
        if self._stream is not None and not self._stream.active and self._frame < self._end_frame:
            self._stream.start()

    def stop(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.abort()
            stream.close()
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
