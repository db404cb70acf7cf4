"""Spectrograms of files of any length, computed in blocks and pooled to the columns a screen can show.

Frames sit on one absolute grid (centre k * hop), so a zoomed-in range lines up exactly with the overview and
with Whisper's log-mel of the whole file (reflect padding at the file's ends, as torch.stft(center=True)).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from studio.audio.io import first_sample, iter_blocks, probe
from studio.audio.mel import HOP_LENGTH, N_FFT, SAMPLE_RATE, mel_filters, mel_frequencies

if TYPE_CHECKING:
    from studio.worker.jobs import JobContext

KINDS = {"mel80": "Log-mel (80 bins, Whisper)", "mel128": "Log-mel (128 bins, Whisper large-v3)",
         "linear": "Linear STFT (dB)"}


@dataclass(frozen=True)
class Spectrogram:
    image: np.ndarray      # (n_bins, n_columns) float32, low frequencies first
    t0: float              # seconds at the left edge of column 0
    t1: float              # seconds at the right edge of the last column
    freqs: np.ndarray      # (n_bins,) Hz at each row
    kind: str
    duration: float        # of the whole file
    frames_per_column: int
    vmin: float
    vmax: float


@dataclass(frozen=True)
class _Params:
    sr: int
    n_fft: int
    hop: int
    filters: np.ndarray | None   # (n_mels, n_fft//2+1) or None for linear


def _params(kind: str, file_rate: int) -> _Params:
    if kind in ("mel80", "mel128"):
        n = 80 if kind == "mel80" else 128
        return _Params(SAMPLE_RATE, N_FFT, HOP_LENGTH, mel_filters(SAMPLE_RATE, N_FFT, n))
    if kind == "linear":
        n_fft = 1024 if file_rate <= 24000 else 2048
        return _Params(file_rate, n_fft, n_fft // 4, None)
    raise ValueError(f"unknown spectrogram kind {kind!r}; choose one of {', '.join(KINDS)}")


def compute_spectrogram(path: str, kind: str = "mel80", start: float = 0.0, end: float | None = None,
                        max_columns: int = 4000, progress: Callable[[float, str], None] | None = None,
                        block_seconds: float = 60.0) -> Spectrogram:
    import torch

    info = probe(path)
    p = _params(kind, info.sample_rate)
    end = info.duration if end is None else min(end, info.duration)
    start = max(0.0, min(start, end))
    half = p.n_fft // 2
    total = int(info.frames * p.sr // info.sample_rate) if p.sr != info.sample_rate else info.frames
    # frames whose centre lies in [start, end); Whisper keeps len // hop frames of a whole file
    k_lo = math.ceil(start * p.sr / p.hop)
    k_hi = max(k_lo + 1, min(math.ceil(end * p.sr / p.hop), max(1, total // p.hop)))
    n_frames = k_hi - k_lo
    fpc = max(1, math.ceil(n_frames / max_columns))
    n_cols = math.ceil(n_frames / fpc)
    window = torch.hann_window(p.n_fft)
    filters = torch.from_numpy(p.filters) if p.filters is not None else None

    read_from = max(0.0, (k_lo * p.hop - half) / p.sr)
    read_to = min(info.duration, (k_hi * p.hop + half) / p.sr + 0.01)
    buf = np.zeros(0, np.float32)
    buf_start: int | None = None   # absolute sample index of buf[0]
    out = np.full((len(p.filters) if p.filters is not None else half + 1, n_cols), -np.inf, np.float32)
    k_next = k_lo
    at_file_end = read_to >= info.duration - 1e-9
    blocks = iter_blocks(path, p.sr, block_seconds, read_from, read_to)
    span = max(1e-9, read_to - read_from)
    done_s = 0.0
    for block, last in _with_last(blocks):
        if buf_start is None:
            buf_start = first_sample(info, p.sr, read_from)
            if k_lo * p.hop - half < buf_start:  # reached the file's start: reflect like torch.stft
                pad = buf_start - (k_lo * p.hop - half)
                block = np.concatenate([block[1 : pad + 1][::-1], block])
                buf_start -= pad
        buf = np.concatenate([buf, block])
        if last and at_file_end:
            buf = np.concatenate([buf, buf[-half - 1 : -1][::-1]])
        k_stop = k_hi if last else min(k_hi, (buf_start + len(buf) - half) // p.hop + 1)
        n = k_stop - k_next
        if n > 0:
            off = k_next * p.hop - half - buf_start
            seg = torch.from_numpy(np.ascontiguousarray(buf[off : off + (n - 1) * p.hop + p.n_fft]))
            if len(seg) < (n - 1) * p.hop + p.n_fft:
                seg = torch.nn.functional.pad(seg, (0, (n - 1) * p.hop + p.n_fft - len(seg)))
            spec = torch.stft(seg, p.n_fft, p.hop, window=window, center=False, return_complex=True)
            power = spec.abs() ** 2
            if filters is not None:
                vals = torch.clamp(filters @ power, min=1e-10).log10()
            else:
                vals = 10.0 * torch.clamp(power, min=1e-10).log10()
            _pool_into(out, vals.numpy(), k_next - k_lo, fpc)
            k_next = k_stop
            drop = k_next * p.hop - half - buf_start
            if drop > 0:
                buf, buf_start = buf[drop:], buf_start + drop
        done_s += len(block) / p.sr
        if progress is not None:
            progress(min(1.0, done_s / span), f"Spectrogram {done_s:.0f} / {span:.0f} s")

    finite = out[np.isfinite(out)]
    top = float(finite.max()) if finite.size else 0.0
    if filters is not None:  # Whisper's normalisation, over what is shown
        out = (np.maximum(out, top - 8.0) + 4.0) / 4.0
        vmin, vmax = (top - 8.0 + 4.0) / 4.0, (top + 4.0) / 4.0
        freqs = mel_frequencies(len(out))
    else:
        out = np.maximum(out, top - 80.0)
        vmin, vmax = top - 80.0, top
        freqs = np.linspace(0, p.sr / 2, half + 1)
    return Spectrogram(out.astype(np.float32), k_lo * p.hop / p.sr, (k_lo + n_cols * fpc) * p.hop / p.sr,
                       freqs, kind, info.duration, fpc, vmin, vmax)


def _with_last(it):  # noqa: ANN001, ANN202 - small generator helper
    prev = sentinel = object()
    for x in it:
        if prev is not sentinel:
            yield prev, False
        prev = x
    if prev is not sentinel:
        yield prev, True


def _pool_into(out: np.ndarray, vals: np.ndarray, first_frame: int, fpc: int) -> None:
    """Max-pool frames (columns of vals) into output columns, fpc frames per column."""
    cols = (first_frame + np.arange(vals.shape[1])) // fpc
    np.maximum.at(out.T, cols, vals.T)


def spectrogram_job(ctx: JobContext, path: str, kind: str = "mel80", start: float = 0.0, end: float | None = None,
                    max_columns: int = 4000) -> Spectrogram:
    """compute_spectrogram as a worker job (a module-level function, so it can cross to the model process)."""
    return compute_spectrogram(path, kind, start, end, max_columns, ctx.progress)
