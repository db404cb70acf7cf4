"""Speech regions from Silero VAD probabilities: the filter that keeps Whisper from transcribing silence."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from studio.engine.asr.options import VadOptions
from studio.models.silero_vad import CHUNK

SAMPLE_RATE = 16000


def speech_probabilities(blocks: Iterable[np.ndarray], check: Callable[[], None] | None = None,
                         on_samples: Callable[[int], None] | None = None) -> np.ndarray:
    """Probability of speech per 32 ms chunk of a 16 kHz stream given in blocks of any size."""
    import torch

    from studio.hub.vad_weights import load_silero_vad

    model = load_silero_vad()
    state = context = None
    pending = np.zeros(0, np.float32)
    out: list[np.ndarray] = []
    with torch.inference_mode():
        for block in blocks:
            if check is not None:
                check()
            pending = np.concatenate([pending, block])
            n = len(pending) // CHUNK * CHUNK
            if n:
                p, state, context = model(torch.from_numpy(pending[:n]), state, context)
                out.append(p.numpy())
                pending = pending[n:]
            if on_samples is not None:
                on_samples(len(block))
        if len(pending):
            tail = np.pad(pending, (0, CHUNK - len(pending)))
            p, _, _ = model(torch.from_numpy(tail), state, context)
            out.append(p.numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def speech_regions(probs: np.ndarray, n_samples: int, options: VadOptions = VadOptions()) -> list[tuple[int, int]]:
    """[(start, end)] in samples: speech starts above `threshold` and ends after `min_silence_s` below
    threshold - 0.15; regions are padded and merged where they touch."""
    low = max(options.threshold - 0.15, 0.01)
    regions: list[list[int]] = []
    start: int | None = None
    silent_since: int | None = None
    for i, p in enumerate(probs):
        pos = i * CHUNK
        if start is None:
            if p >= options.threshold:
                start, silent_since = pos, None
            continue
        if p >= options.threshold:
            silent_since = None
        elif p < low:
            silent_since = pos if silent_since is None else silent_since
            if pos + CHUNK - silent_since >= options.min_silence_s * SAMPLE_RATE:
                regions.append([start, silent_since])
                start, silent_since = None, None
    if start is not None:
        regions.append([start, n_samples])
    pad = int(options.pad_s * SAMPLE_RATE)
    merged: list[list[int]] = []
    for s, e in regions:
        if e - s < options.min_speech_s * SAMPLE_RATE:
            continue
        s, e = max(0, s - pad), min(n_samples, e + pad)
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged]
