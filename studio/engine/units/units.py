"""Speech units: each 20 ms frame's features -> the nearest k-means centre; runs of one unit; a histogram.

Plain results for the CLI and the views; the features come from studio.engine.units.features, block by block,
and are not all kept: a codebook fitted on the recording itself is fitted on its first MAX_FIT_FRAMES frames
(30 minutes), the rest are assigned as they come, so hours of audio hold at most that many features."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np
import torch

from studio.engine.units.codebook import Codebook
from studio.engine.units.features import BLOCK_S, CONTEXT_S, check_layer, iter_features
from studio.engine.units.kmeans import fit_kmeans, nearest
from studio.engine.units.result import UnitsResult
from studio.hub.hubert_weights import LoadedEncoder
from studio.models.hubert import SAMPLE_RATE

MAX_FIT_FRAMES = 90_000  # 30 minutes: 276 MB of HuBERT base features held for k-means, no more
FeatureSink = Callable[[np.ndarray], None]  # gets each block's features, in order (e.g. a .npy being written)


def assign(features: np.ndarray | torch.Tensor, codebook: Codebook) -> np.ndarray:
    x = torch.as_tensor(features, dtype=torch.float32)
    labels, _ = nearest(x, torch.from_numpy(codebook.centers))
    return labels.to(torch.int32).numpy()


def _result(units: list[torch.Tensor], wave: np.ndarray, loaded: LoadedEncoder, codebook: Codebook) -> UnitsResult:
    return UnitsResult(torch.cat(units).to(torch.int32).numpy(), SAMPLE_RATE / loaded.model.cfg.hop, codebook.k,
                       loaded.name, codebook.layer, wave.shape[0] / SAMPLE_RATE)


def units_of(wave: np.ndarray, loaded: LoadedEncoder, codebook: Codebook, block_s: float = BLOCK_S,
             context_s: float = CONTEXT_S, progress: Callable[[float], None] | None = None,
             cancel: threading.Event | None = None, sink: FeatureSink | None = None) -> UnitsResult:
    """Units of 16 kHz mono `wave`; the features are assigned block by block and never all kept."""
    layer = codebook.layer
    check_layer(loaded, layer)
    codebook.check_fits(loaded.name, layer, loaded.model.cfg.hidden_size)
    centers = torch.from_numpy(codebook.centers)
    parts = []
    for b in iter_features(wave, loaded, layer, block_s, context_s, progress, cancel):
        if sink is not None:
            sink(b.features.numpy())
        parts.append(nearest(b.features, centers)[0])
    return _result(parts, wave, loaded, codebook)


def fit_and_assign(wave: np.ndarray, loaded: LoadedEncoder, layer: int, k: int, seed: int = 0,
                   progress: Callable[[float], None] | None = None, cancel: threading.Event | None = None,
                   sink: FeatureSink | None = None, max_fit_frames: int = MAX_FIT_FRAMES,
                   block_s: float = BLOCK_S, context_s: float = CONTEXT_S) -> tuple[UnitsResult, Codebook]:
    """Units of `wave` with k-means fitted on its own first `max_fit_frames` frames (all of them, up to 30 min)."""
    held: list[torch.Tensor] = []
    parts: list[torch.Tensor] = []
    centers: torch.Tensor | None = None

    def fit() -> torch.Tensor:
        x = torch.cat(held)
        c = fit_kmeans(x[:max_fit_frames], k, seed=seed, cancel=cancel,
                       progress=None if progress is None else lambda f: progress(0.9 + 0.1 * f))
        parts.append(nearest(x, c)[0])
        held.clear()
        return c

    features_done = None if progress is None else (lambda f: progress(0.9 * f))  # k-means is the last 10 %
    for b in iter_features(wave, loaded, layer, block_s, context_s, features_done, cancel):
        if sink is not None:
            sink(b.features.numpy())
        if centers is not None:
            parts.append(nearest(b.features, centers)[0])
            continue
        held.append(b.features)
        if sum(len(h) for h in held) >= max_fit_frames:
            centers = fit()
    if centers is None:
        centers = fit()
    codebook = Codebook(centers.numpy().astype(np.float32), loaded.name, layer)
    return _result(parts, wave, loaded, codebook), codebook


def fit_codebook(waves: Sequence[np.ndarray], loaded: LoadedEncoder, layer: int, k: int, seed: int = 0,
                 progress: Callable[[float], None] | None = None,
                 cancel: threading.Event | None = None) -> Codebook:
    """k-means on the features of all `waves` together (their first MAX_FIT_FRAMES frames); the first 70 % of
    progress is the features."""
    feats: list[torch.Tensor] = []
    for i, w in enumerate(waves):
        def part(f: float, i: int = i) -> None:
            if progress is not None:
                progress(0.7 * (i + f) / len(waves))
        for b in iter_features(w, loaded, layer, progress=part, cancel=cancel):
            feats.append(b.features)
            if sum(len(f) for f in feats) >= MAX_FIT_FRAMES:
                break
        if sum(len(f) for f in feats) >= MAX_FIT_FRAMES:
            break
    x = torch.cat(feats)[:MAX_FIT_FRAMES]
    centers = fit_kmeans(x, k, seed=seed, cancel=cancel,
                         progress=None if progress is None else (lambda f: progress(0.7 + 0.3 * f)))
    return Codebook(centers.numpy().astype(np.float32), loaded.name, layer)
