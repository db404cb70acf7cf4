"""Plain results of transcription: what the views and exporters consume."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Word:
    start: float
    end: float
    text: str  # with its leading space, as decoded
    probability: float
    tokens: list[int] = field(default_factory=list)


@dataclass
class Segment:
    id: int
    start: float
    end: float
    text: str
    tokens: list[int] = field(default_factory=list)
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    compression_ratio: float = 0.0
    temperature: float = 0.0
    words: list[Word] = field(default_factory=list)


@dataclass
class Transcript:
    source: str  # file path, or "" for audio given in memory
    model: str
    language: str
    task: str
    duration: float  # seconds of audio
    segments: list[Segment]
    language_probs: dict[str, float] | None = None

    @property
    def text(self) -> str:
        return "".join(s.text if s.text.startswith(" ") else " " + s.text for s in self.segments).strip()


@dataclass(frozen=True)
class AttentionMap:
    """Cross-attention of decoder tokens over one window of audio frames (20 ms each)."""

    start: float  # seconds: time of frame 0
    weights: np.ndarray  # (layers, heads, tokens, frames) float32, rows sum to 1 over the window's frames
    tokens: list[int]
    token_texts: list[str]
    text_begin: int  # index of the first text token (after the start-of-transcript tokens)
    alignment_heads: list[tuple[int, int]]
    mel: np.ndarray  # (n_mels, 2 * frames) log-mel of the same window, for display underneath

    @property
    def frame_seconds(self) -> float:
        return 0.02

    def alignment_average(self) -> np.ndarray:
        """(tokens, frames): mean over the alignment heads, each normalised per frame as in word timing."""
        w = np.stack([self.weights[layer, head] for layer, head in self.alignment_heads])
        w = (w - w.mean(axis=-2, keepdims=True)) / (w.std(axis=-2, keepdims=True) + 1e-9)
        return w.mean(axis=0)
