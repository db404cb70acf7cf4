"""Speech units: each 20 ms frame's features -> the nearest k-means centre; runs of one unit; a histogram.

Plain results for the CLI and the views; the features come from studio.engine.units.features."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np
import torch

from studio.engine.units.codebook import Codebook
from studio.engine.units.features import BLOCK_S, CONTEXT_S, check_layer, extract_features, iter_features
from studio.engine.units.kmeans import fit_kmeans, nearest
from studio.engine.units.result import UnitsResult
from studio.hub.hubert_weights import LoadedEncoder
from studio.models.hubert import SAMPLE_RATE


def assign(features: np.ndarray | torch.Tensor, codebook: Codebook) -> np.ndarray:
    x = torch.as_tensor(features, dtype=torch.float32)
    labels, _ = nearest(x, torch.from_numpy(codebook.centers))
    return labels.to(torch.int32).numpy()


def units_of(wave: np.ndarray, loaded: LoadedEncoder, codebook: Codebook, block_s: float = BLOCK_S,
             context_s: float = CONTEXT_S, progress: Callable[[float], None] | None = None,
             cancel: threading.Event | None = None) -> UnitsResult:
    """Units of 16 kHz mono `wave`; the features are assigned block by block and never all kept."""
    layer = codebook.layer
    check_layer(loaded, layer)
    codebook.check_fits(loaded.name, layer, loaded.model.cfg.hidden_size)
    centers = torch.from_numpy(codebook.centers)
    parts = [nearest(b.features, centers)[0].to(torch.int32)
             for b in iter_features(wave, loaded, layer, block_s, context_s, progress, cancel)]
    return UnitsResult(torch.cat(parts).numpy(), SAMPLE_RATE / loaded.model.cfg.hop, codebook.k, loaded.name, layer,
                       wave.shape[0] / SAMPLE_RATE)


def fit_codebook(waves: Sequence[np.ndarray], loaded: LoadedEncoder, layer: int, k: int, seed: int = 0,
                 progress: Callable[[float], None] | None = None,
                 cancel: threading.Event | None = None) -> Codebook:
    """k-means on the features of all `waves` together; the first 70 % of progress is the features."""
    feats = []
    for i, w in enumerate(waves):
        def part(f: float, i: int = i) -> None:
            if progress is not None:
                progress(0.7 * (i + f) / len(waves))
        feats.append(torch.from_numpy(extract_features(w, loaded, layer, progress=part, cancel=cancel)))
    x = torch.cat(feats)
    centers = fit_kmeans(x, k, seed=seed, cancel=cancel,
                         progress=None if progress is None else (lambda f: progress(0.7 + 0.3 * f)))
    return Codebook(centers.numpy().astype(np.float32), loaded.name, layer)
