"""Reading audio files of any format libsndfile knows, as mono float32 at a chosen rate.

Long files are read in blocks: `iter_blocks` resamples each block with enough context that the result equals
resampling the whole file at once, so hours of audio never sit in memory as one array.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from studio.errors import StudioError

# Input samples of context on each side of a block; far wider than torchaudio's sinc kernel.
_RESAMPLE_CONTEXT = 4096


class AudioError(StudioError):
    """A file that cannot be used as audio."""


@dataclass(frozen=True)
class AudioInfo:
    path: Path
    sample_rate: int
    channels: int
    frames: int
    format: str
    subtype: str

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def probe(path: str | os.PathLike) -> AudioInfo:
    """Header information, with a clear AudioError for missing, empty, corrupt and non-audio files."""
    p = Path(path)
    if not p.exists():
        raise AudioError(f"'{p.name}' does not exist.", f"Check the path: {p}")
    if p.is_dir():
        raise AudioError(f"'{p.name}' is a folder, not an audio file.", "Choose a file inside it.")
    if p.stat().st_size == 0:
        raise AudioError(f"'{p.name}' is empty (0 bytes).", "The recording or download did not finish; "
                         "record or fetch it again.")
    try:
        info = sf.info(str(p))
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioError(
            f"'{p.name}' is not a readable audio file ({_short_reason(e)}).",
            "Voice Studio reads WAV, FLAC, OGG/Opus, MP3, AIFF and other formats libsndfile supports; "
            "convert the file (e.g. with ffmpeg or sox) if it is damaged or in another format.",
        ) from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioError(f"'{p.name}' holds no audio samples (zero length).",
                         "Choose a file that contains sound.")
    return AudioInfo(p, int(info.samplerate), int(info.channels), int(info.frames), info.format, info.subtype)


def _short_reason(e: Exception) -> str:
    text = str(e).split(":")[-1].strip() or type(e).__name__
    return text[0].lower() + text[1:] if text else text


def to_mono(block: np.ndarray) -> np.ndarray:
    """(frames, channels) -> (frames,) float32 by averaging channels."""
    if block.ndim == 1:
        return block.astype(np.float32, copy=False)
    return block.mean(axis=1, dtype=np.float32)


def resample(audio: np.ndarray, orig_sr: int, new_sr: int) -> np.ndarray:
    """Band-limited sinc resampling (torchaudio) of a 1-D float32 array."""
    if orig_sr == new_sr:
        return audio.astype(np.float32, copy=False)
    import torch
    import torchaudio.functional as F

    with torch.inference_mode():
        out = F.resample(torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)), orig_sr, new_sr)
    return out.numpy()


def first_sample(info: AudioInfo, sample_rate: int | None, start: float) -> int:
    """Index, at `sample_rate`, of the first sample `iter_blocks` yields for `start` (aligned down to the
    resampler's period, at most 10 ms earlier for the common rates)."""
    sr_out = sample_rate or info.sample_rate
    period_in = info.sample_rate // math.gcd(info.sample_rate, sr_out)
    first = int(round(start * info.sample_rate)) // period_in * period_in
    return first * sr_out // info.sample_rate


def iter_blocks(
    path: str | os.PathLike,
    sample_rate: int | None = None,
    block_seconds: float = 60.0,
    start: float = 0.0,
    end: float | None = None,
) -> Iterator[np.ndarray]:
    """Yield consecutive mono float32 blocks at `sample_rate` (None: the file's rate) covering [start, end).

    Block edges are aligned to the resampler's period and read with context on both sides, so concatenating
    the blocks equals resampling the whole range in one go. The first sample is `first_sample(...)`.
    """
    info = probe(path)
    sr_in = info.sample_rate
    sr_out = sample_rate or sr_in
    g = math.gcd(sr_in, sr_out)
    period_in, period_out = sr_in // g, sr_out // g
    first = int(round(start * sr_in)) // period_in * period_in
    last = info.frames if end is None else min(info.frames, int(math.ceil(end * sr_in)))
    if last <= first:
        return
    step = max(period_in, int(block_seconds * sr_in) // period_in * period_in)
    ctx = 0 if sr_in == sr_out else int(math.ceil(_RESAMPLE_CONTEXT / period_in)) * period_in
    try:
        with sf.SoundFile(str(info.path)) as f:
            for b0 in range(first, last, step):
                b1 = min(b0 + step, last)
                r0, r1 = max(0, b0 - ctx), min(info.frames, b1 + ctx)
                f.seek(r0)
                raw = to_mono(f.read(r1 - r0, dtype="float32", always_2d=True))
                if sr_in == sr_out:
                    yield raw
                    continue
                y = resample(raw, sr_in, sr_out)
                lead = (b0 - r0) // period_in * period_out
                n_out = -(-(b1 - b0) * period_out // period_in)
                yield y[lead : lead + n_out]
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioError(f"'{info.path.name}' is damaged: reading stopped ({_short_reason(e)}).",
                         "Re-export or re-download the file.") from None


def load_audio(path: str | os.PathLike, sample_rate: int | None = 16000, start: float = 0.0,
               end: float | None = None) -> np.ndarray:
    """Mono float32 samples of [start, end) at `sample_rate` (None keeps the file's rate)."""
    blocks = list(iter_blocks(path, sample_rate, start=start, end=end))
    return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
