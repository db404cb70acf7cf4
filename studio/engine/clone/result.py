"""What a synthesis returns: one take per sentence (codes, audio, attention, the round-trip check) and the whole."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from studio.errors import StudioError

SAMPLE_RATE = 24000
FRAME_RATE = 75
PAUSE_S = 0.25  # silence between joined sentences: a comma-to-full-stop pause in read speech


class EmptyTake(StudioError):
    """The model ended a sentence before saying anything."""


@dataclass(frozen=True)
class Settings:
    temperature: float = 1.0
    top_k: int = -100  # <= 0: sample from every token (the public code's default)
    seed: int = 1


@dataclass(frozen=True)
class WordMark:
    """One word of the comparison between the text asked for and the text heard back."""

    word: str  # as asked (kind "ok", "skipped", "changed") or as heard ("repeated", "leaked")
    kind: str  # "ok", "skipped", "changed", "repeated", "leaked" (from the prompt text), "extra"
    asked_index: int | None  # position among the asked words (None for words only heard)
    heard: str = ""  # what was heard in its place ("changed")


@dataclass(frozen=True)
class RoundTrip:
    heard: str
    marks: list[WordMark]

    @property
    def problems(self) -> list[WordMark]:
        return [m for m in self.marks if m.kind != "ok"]

    @property
    def word_error_rate(self) -> float:
        asked = sum(1 for m in self.marks if m.asked_index is not None)
        return len(self.problems) / max(1, asked)


@dataclass
class Take:
    index: int  # sentence number
    text: str
    phonemes: str
    text_ids: list[int]  # the sentence's phoneme ids (after the voice's prompt ids in the model input)
    n_prompt_ids: int
    codes: np.ndarray  # int16 (8, N) generated codes, 75 frames/s
    samples: np.ndarray  # float32 mono 24 kHz
    settings: Settings
    stopped: str  # "end" (the model's end token), "cap" (the length cap), "forced"
    seconds: float  # time it took
    device: str
    attention: np.ndarray | None = None  # float16 (layers, N, n_prompt_ids + len(text_ids)) AR attention on text
    dropped: list[str] = field(default_factory=list)
    round_trip: RoundTrip | None = None
    check_skipped: str = ""  # why the round-trip check did not run (no transcriber for the language, stopped)

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE


@dataclass
class Synthesis:
    voice: str
    language: str
    prompt_codes: np.ndarray  # int16 (8, P): the enrolled voice
    takes: list[Take]
    pause_s: float = PAUSE_S

    def joined(self) -> np.ndarray:
        """Every take in order, with a short pause between them."""
        gap = np.zeros(int(self.pause_s * SAMPLE_RATE), np.float32)
        parts: list[np.ndarray] = []
        for i, take in enumerate(sorted(self.takes, key=lambda t: t.index)):
            if i:
                parts.append(gap)
            parts.append(take.samples)
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)
