"""What the units of a recording are: how often each occurs, what each sounds like on average (its mean log-mel
spectrum), and how well units follow the words of the transcript (cluster purity).

The mel frames here are Whisper's filters on 25 ms windows 10 ms apart, not centred: mel frame 2t covers the same
400 samples as unit frame t (320 samples apart, 400 long), so each unit frame gets exactly its own window.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from studio.engine.units.result import UnitsResult

N_MELS = 80
CHUNK_FRAMES = 3000  # unit frames per STFT (60 s): hours of audio in bounded memory


@dataclass(frozen=True)
class Purity:
    """Cluster purity of the units against the words they fall in: for each unit, the share of its frames in its
    most frequent word, weighted by frames. 1.0 when every unit occurs inside one word only."""
    purity: float
    frames: int                          # unit frames inside a word (the rest, pauses, are not counted)
    words: int                           # distinct words (lower case, without punctuation)
    top_word: dict[int, tuple[str, float]]  # unit -> (its most frequent word, the share of its frames there)


@dataclass(frozen=True)
class UnitStats:
    histogram: np.ndarray    # (k,) frames per unit
    spectra: np.ndarray      # (k, 80) mean log-mel (dB) per unit; NaN rows for units that do not occur
    purity: Purity | None    # None when no transcript with word times was asked for


def unit_spectra(wave: np.ndarray, result: UnitsResult) -> np.ndarray:
    """(k, 80) mean log-mel in dB of each unit's frames of 16 kHz mono `wave`."""
    import torch

    from studio.audio.mel import log10_mel_frames

    sums = np.zeros((result.k, N_MELS))
    counts = np.zeros(result.k)
    n = result.units.size
    for f0 in range(0, n, CHUNK_FRAMES):
        f1 = min(n, f0 + CHUNK_FRAMES)
        piece = torch.from_numpy(np.ascontiguousarray(wave[f0 * 320:(f1 - 1) * 320 + 400], dtype=np.float32))
        mel = 10.0 * log10_mel_frames(piece, N_MELS)[:, ::2].double().numpy()  # (80, f1 - f0), dB
        units = result.units[f0:f0 + mel.shape[1]]
        np.add.at(sums, units, mel[:, :units.size].T)
        counts += np.bincount(units, minlength=result.k)
    with np.errstate(invalid="ignore"):
        return (sums / counts[:, None]).astype(np.float32)


def _word_key(text: str) -> str:
    return re.sub(r"[^\w']+", "", text.lower())


def word_purity(result: UnitsResult, words: list[tuple[str, float, float]]) -> Purity:
    """`words`: (text, start s, end s) from a transcript with word timestamps."""
    labels: list[str | None] = [None] * result.units.size
    for text, start, end in words:
        key = _word_key(text)
        if not key:
            continue
        a = max(0, int(round(start * result.frame_rate)))
        b = min(result.units.size, int(round(end * result.frame_rate)))
        for f in range(a, b):
            labels[f] = key
    per_unit: dict[int, Counter[str]] = {}
    for unit, label in zip(result.units.tolist(), labels, strict=True):
        if label is not None:
            per_unit.setdefault(unit, Counter())[label] += 1
    frames = sum(sum(c.values()) for c in per_unit.values())
    top = {u: (c.most_common(1)[0][0], c.most_common(1)[0][1] / sum(c.values())) for u, c in per_unit.items()}
    hits = sum(c.most_common(1)[0][1] for c in per_unit.values())
    distinct = len({label for label in labels if label is not None})
    return Purity(hits / frames if frames else 0.0, frames, distinct, top)
