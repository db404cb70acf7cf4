"""16 kHz audio for long-form decoding, read block by block: only about a minute is held at a time."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator

import numpy as np

from studio.audio.io import iter_blocks, probe
from studio.audio.mel import HOP_LENGTH, N_FFT, SAMPLE_RATE, log10_mel_frames, log_mel_frames

N_FRAMES = 3000  # mel frames per 30 s window
N_SAMPLES = N_FRAMES * HOP_LENGTH


class AudioFeed:
    """A forward-only stream of samples; with `regions` only those (start, end) sample ranges, joined."""

    def __init__(self, source: str | os.PathLike | np.ndarray, regions: list[tuple[int, int]] | None = None,
                 block_seconds: float = 60.0) -> None:
        self.source = source
        self.regions = regions
        if isinstance(source, np.ndarray):
            self.source_samples = len(source)
        else:
            info = probe(source)
            self.source_samples = math.ceil(info.frames * SAMPLE_RATE / info.sample_rate)
        self.total = self.source_samples if regions is None else sum(e - s for s, e in regions)
        self.blocks = self._generate(block_seconds)  # the stream in order; `samples` consumes it
        self._buf = np.zeros(0, np.float32)
        self._buf_start = 0
        self._done = False

    def _generate(self, block_seconds: float) -> Iterator[np.ndarray]:
        ranges = self.regions if self.regions is not None else [(0, self.source_samples)]
        step = int(block_seconds * SAMPLE_RATE)
        for s, e in ranges:
            if isinstance(self.source, np.ndarray):
                for b in range(s, e, step):
                    yield np.asarray(self.source[b: min(e, b + step)], np.float32)
            else:
                got = 0
                for block in iter_blocks(self.source, SAMPLE_RATE, block_seconds, start=s / SAMPLE_RATE,
                                         end=e / SAMPLE_RATE):
                    block = block[: e - s - got]  # keep the stream length equal to the regions' sum
                    got += len(block)
                    yield block
                if got < e - s:
                    yield np.zeros(e - s - got, np.float32)

    def samples(self, a: int, b: int) -> np.ndarray:
        """Samples [a, b) of the stream, zeros outside it. Never ask again for anything before `a`."""
        while not self._done and self._buf_start + len(self._buf) < b:
            block = next(self.blocks, None)
            if block is None:
                self._done = True
            else:
                self._buf = np.concatenate([self._buf, block])
        drop = max(0, a - self._buf_start)
        if drop:
            self._buf = self._buf[drop:]
            self._buf_start += drop
        out = np.zeros(b - a, np.float32)
        lo = max(a, self._buf_start)
        hi = min(b, self._buf_start + len(self._buf))
        if hi > lo:
            out[lo - a: hi - a] = self._buf[lo - self._buf_start: hi - self._buf_start]
        return out

    def _window_samples(self, seek: int) -> np.ndarray:
        start = seek * HOP_LENGTH
        half = N_FFT // 2
        x = self.samples(start - half, start + (N_FRAMES - 1) * HOP_LENGTH + half)
        if seek == 0:
            x[:half] = x[2 * half: half: -1]
        return x

    def mel_window(self, seek: int, n_mels: int = 80, max_value: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(log-mel (n_mels, 3000), samples) of the window starting at mel frame `seek`; frames line up with
        Whisper's whole-file log-mel (same centres, reflect padding at the file's start). With `max_value` (the
        stream's `log_mel_max`) the values equal Whisper's whole-file log-mel exactly."""
        import torch

        x = self._window_samples(seek)
        mel = log_mel_frames(torch.from_numpy(x), n_mels, max_value)
        half = N_FFT // 2
        return mel.numpy(), x[half: half + N_SAMPLES]

    def log_mel_max(self, n_mels: int = 80, check: Callable[[], None] | None = None,
                    progress: Callable[[float], None] | None = None) -> float:
        """Largest log10 mel power over the whole stream: Whisper clamps every frame at this - 8. Reads the
        stream to its end (so call it on a separate feed); `progress` gets the fraction read after each window."""
        import torch

        best = -10.0  # log10 of the floor: what silence gives
        n_frames = self.total // HOP_LENGTH + 1
        for seek in range(0, n_frames, N_FRAMES):
            if check is not None:
                check()
            best = max(best, float(log10_mel_frames(torch.from_numpy(self._window_samples(seek)), n_mels).max()))
            if progress is not None:
                progress(min(1.0, (seek + N_FRAMES) / n_frames))
        return best

    def source_time(self, t: float) -> float:
        """Seconds in the stream -> seconds in the source (they differ when only speech regions are fed)."""
        if self.regions is None:
            return t
        pos = t * SAMPLE_RATE
        acc = 0
        for s, e in self.regions:
            if pos <= acc + (e - s):
                return (s + pos - acc) / SAMPLE_RATE
            acc += e - s
        return self.regions[-1][1] / SAMPLE_RATE if self.regions else t
