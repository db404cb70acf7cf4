"""Plain results of codec analysis (no torch): what the Codec panel and the CLI show."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class CodebookStats:
    index: int
    usage: np.ndarray  # (bins,) how often each code occurs
    entropy_bits: float  # of the code distribution; log2(bins) when every code is used equally
    used_codes: int
    kbps: float  # entropy-coded rate this codebook would need


@dataclass
class StageQuality:
    k: int  # reconstruction from codebooks 1..k
    si_snr_db: float
    mel_distance: float  # mean |log10 mel power| difference
    residual_energy: float  # what the first k codebooks leave of the latent, relative to the latent's energy


@dataclass
class CodecAnalysis:
    source: str
    model: str  # "encodec_24khz" / "encodec_48khz"
    sample_rate: int
    frame_rate: int
    bandwidth: float
    codes: np.ndarray  # (n_q, frames) int64
    scales: list[float] | None
    audio_length: int  # samples at the model's rate
    codebooks: list[CodebookStats] = field(default_factory=list)
    stages: list[StageQuality] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return self.audio_length / self.sample_rate

    @property
    def nominal_kbps(self) -> float:
        return self.codes.shape[0] * 10 * self.frame_rate / 1000


def codebook_stats(codes: np.ndarray, frame_rate: int, bins: int = 1024) -> list[CodebookStats]:
    usage = np.stack([np.bincount(row, minlength=bins) for row in codes]) if len(codes) else np.zeros((0, bins))
    return stats_from_usage(usage, codes.shape[1], frame_rate)


def stats_from_usage(usage: np.ndarray, frames: int, frame_rate: int) -> list[CodebookStats]:
    """Statistics from code counts (n_q, bins) over `frames` frames: counts add up block by block, so a long file
    is measured without holding its codes twice."""
    out = []
    for k, counts in enumerate(usage):
        p = counts[counts > 0] / max(1, frames)
        entropy = max(0.0, float(-(p * np.log2(p)).sum()))
        out.append(CodebookStats(k, counts, entropy, int((counts > 0).sum()), entropy * frame_rate / 1000))
    return out


