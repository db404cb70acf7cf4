"""Min/max envelopes for drawing waveforms of files of any length."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from studio.audio.io import iter_blocks, probe

if TYPE_CHECKING:
    from studio.worker.jobs import JobContext


@dataclass(frozen=True)
class Envelope:
    times: np.ndarray   # (n,) seconds at each point
    low: np.ndarray     # (n,) minimum sample in the bucket
    high: np.ndarray    # (n,) maximum sample in the bucket
    duration: float


def compute_envelope(path: str, points: int = 2000,
                     progress: Callable[[float, str], None] | None = None) -> Envelope:
    """Read the file at its own rate, block by block, keeping the min and max of each of `points` buckets."""
    info = probe(path)
    per = max(1, -(-info.frames // points))
    n = -(-info.frames // per)
    low, high = np.zeros(n, np.float32), np.zeros(n, np.float32)
    pos = 0
    for block in iter_blocks(path, None, block_seconds=max(1.0, per * 256 / info.sample_rate)):
        first = pos // per
        idx = (pos + np.arange(len(block))) // per - first
        seg_lo = np.full(idx[-1] + 1, np.inf, np.float32)
        seg_hi = np.full(idx[-1] + 1, -np.inf, np.float32)
        np.minimum.at(seg_lo, idx, block)
        np.maximum.at(seg_hi, idx, block)
        low[first : first + len(seg_lo)] = np.minimum(low[first : first + len(seg_lo)], seg_lo)
        high[first : first + len(seg_hi)] = np.maximum(high[first : first + len(seg_hi)], seg_hi)
        pos += len(block)
        if progress is not None:
            progress(pos / info.frames, "Reading waveform")
    return Envelope((np.arange(n) + 0.5) * per / info.sample_rate, low, high, info.duration)


def envelope_job(ctx: JobContext, path: str, points: int = 2000) -> Envelope:
    """compute_envelope as a worker job (a module-level function, so it can cross to the model process)."""
    return compute_envelope(path, points, ctx.progress)
