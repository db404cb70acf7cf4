"""Recording to disk as it happens.

The PortAudio callback only copies blocks into a queue; a writer thread appends them to the file and, at
least every `flush_interval` seconds, rewrites the WAV header and flushes, so a crash or SIGKILL loses at most
about that much audio. Blocks are also kept for the live views (`read_new`).

While recording, the file carries the library's mark (`studio.audio.library.begin_recording`), removed on a clean
stop: only a file so marked, whose writer is gone, is ever repaired. Samples beyond full scale are clipped before
they become 16-bit (libsndfile would wrap them around), and PortAudio's input overflows — audio the computer
dropped because it could not keep up — are counted in `overflows` for the user to see.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import deque
from pathlib import Path

import numpy as np
import soundfile as sf

from studio.audio.devices import InputDevice, describe_missing_portaudio
from studio.audio.library import begin_recording, end_recording
from studio.errors import StudioError
from studio.outputs import describe_os_error

_SFC_UPDATE_HEADER_NOW = 0x1060


class RecorderError(StudioError):
    pass


class Recorder:
    """Record mono float audio from one input device into a WAV (PCM 16-bit) file."""

    def __init__(self, path: str | os.PathLike, device: InputDevice | None = None,
                 samplerate: int | None = None, flush_interval: float = 0.25) -> None:
        self.path = Path(path)
        self.device = device
        self.samplerate = int(samplerate or (device.default_samplerate if device else 48000))
        self.flush_interval = flush_interval
        self.frames_written = 0
        self.level = 0.0           # peak of the last block, 0..1
        self.overflows = 0         # PortAudio input overflows: each one is audio lost before it reached us
        self.error: str | None = None
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue()
        self._display: deque[np.ndarray] = deque()
        self._display_lock = threading.Lock()
        self._paused = threading.Event()
        self._stream = None
        self._writer: threading.Thread | None = None
        self._file: sf.SoundFile | None = None
        self._last_block = 0.0  # monotonic time of the last block PortAudio delivered (paused or not)

    @property
    def duration(self) -> float:
        return self.frames_written / self.samplerate

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    @property
    def running(self) -> bool:
        return self._stream is not None

    @property
    def seconds_without_input(self) -> float:
        """How long the device has delivered nothing: a device unplugged or a sound server gone ends the blocks
        without an error from PortAudio."""
        return time.monotonic() - self._last_block if self.running else 0.0

    def start(self) -> None:
        try:
            import sounddevice as sd
        except OSError:
            raise RecorderError("Cannot record: " + describe_missing_portaudio()) from None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RecorderError(*_args(describe_os_error(e, self.path.parent, "create the folder"))) from None
        begin_recording(self.path)  # marked before the file exists: never an unmarked half-written file
        try:
            self._file = sf.SoundFile(str(self.path), "w", self.samplerate, 1, "PCM_16", format="WAV")
        except (sf.LibsndfileError, OSError) as e:
            end_recording(self.path, clean=True)
            raise RecorderError(f"Cannot write '{self.path}': {e}.",
                                "Choose a folder you can write to, on a disk with free space.") from None
        env_before = os.environ.get("PULSE_SOURCE")
        source = self.device.pulse_source if self.device is not None else None
        if source:
            # read by the ALSA pulse plugin when the stream opens. Named even when it is the default source: asking
            # `pactl` which source that is cost 10-35 ms of the UI thread per start, and opening with the name set
            # measured no slower (open + start 1.8-2.4 ms either way, virtual microphone)
            os.environ["PULSE_SOURCE"] = source
        try:
            self._stream = sd.InputStream(
                samplerate=self.samplerate, channels=1, dtype="float32",
                device=self.device.portaudio if self.device else None,
                blocksize=max(64, self.samplerate // 50), latency="low", callback=self._callback)
            self._stream.start()
        except Exception as e:  # PortAudioError and friends carry only text
            self._stream = None
            self._file.close()
            self.path.unlink(missing_ok=True)
            end_recording(self.path, clean=True)
            name = self.device.label if self.device else "the default input"
            raise RecorderError(f"Cannot open {name} for recording: {e}.",
                                "Pick another device in the Record panel, or check that it is not in use.") from None
        finally:
            if source:
                if env_before is None:
                    os.environ.pop("PULSE_SOURCE", None)
                else:
                    os.environ["PULSE_SOURCE"] = env_before
        self._last_block = time.monotonic()
        self._writer = threading.Thread(target=self._write_loop, name="recorder-writer", daemon=True)
        self._writer.start()

    def _callback(self, indata: np.ndarray, frames: int, time_info: object, status: object) -> None:
        self._last_block = time.monotonic()
        if self._paused.is_set():
            return
        if getattr(status, "input_overflow", False):
            self.overflows += 1  # only this thread writes it; readers see a slightly old count at worst
        self._queue.put(indata[:, 0].copy())

    def _write_loop(self) -> None:
        assert self._file is not None
        last_flush = time.monotonic()
        while True:
            try:
                block = self._queue.get(timeout=self.flush_interval)
            except queue.Empty:
                block = None if self._stream is None else np.zeros(0, np.float32)
            if block is None:
                break
            if block.size:
                # libsndfile converts floats beyond full scale to 16-bit by wrapping: 1.5 would become -0.5
                np.clip(block, -1.0, 1.0, out=block)
                try:
                    self._file.write(block)
                except (sf.LibsndfileError, OSError) as e:
                    self.error = f"Writing {self.path.name} failed: {e}"
                    break
                self.frames_written += block.size
                self.level = float(np.abs(block).max())
                with self._display_lock:
                    self._display.append(block)
            if time.monotonic() - last_flush >= self.flush_interval:
                self._sync()
                last_flush = time.monotonic()
        self._sync()

    def _sync(self) -> None:
        """Make what is written so far a valid file on disk: header sizes updated, buffers flushed."""
        assert self._file is not None
        sf._snd.sf_command(self._file._file, _SFC_UPDATE_HEADER_NOW, sf._ffi.NULL, 0)
        self._file.flush()  # sf_write_sync: fsync of the file descriptor

    def read_new(self) -> np.ndarray:
        """Samples captured since the last call (for level meters and live views)."""
        with self._display_lock:
            blocks = list(self._display)
            self._display.clear()
        return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)

    def pause(self) -> None:
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()

    def stop(self) -> Path:
        """Stop capture, write every queued block, close the file and return its path. Blocks while PortAudio
        stops the stream (~20 ms, over a second on a sound server that has not yet delivered): the UI calls it off
        its thread. Never raises: a failure is left in `error`."""
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
                stream.close()
            except Exception as e:  # PortAudioError: the device went away; what was written stays
                self.error = self.error or f"Closing the input device failed: {e}"
        self._queue.put(None)
        if self._writer is not None:
            self._writer.join()
            self._writer = None
        if self._file is not None:
            try:
                self._file.close()
            except (sf.LibsndfileError, OSError) as e:
                self.error = self.error or f"Closing {self.path.name} failed: {e}"
            self._file = None
            end_recording(self.path, clean=self.error is None)  # after an error the mark asks for a repair
        return self.path


def overflow_text(count: int) -> str:
    """What the user reads about dropped audio, in the Record panel and from `studio record`."""
    return f"{count} input overflow{'s' if count != 1 else ''}: some audio was dropped"


def _args(e: StudioError) -> tuple[str, str]:
    return e.message, e.remedy
