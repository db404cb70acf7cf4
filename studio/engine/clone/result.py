"""What a synthesis returns: one take per sentence (codes, audio, attention, the round-trip check) and the whole."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from studio.audio.mel import mel_filters
from studio.errors import StudioError

SAMPLE_RATE = 24000
FRAME_RATE = 75
MEL_FFT, MEL_HOP, MEL_BANDS = 1024, 240, 80  # a take's log-mel: 10 ms columns at 24 kHz
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
    mel: np.ndarray | None = None  # float32 (MEL_BANDS, columns) log_mel(samples), made with the take
    attention_mean: np.ndarray | None = None  # float32 (N, positions): `attention` averaged over the layers, for
    # drawing (made with the take: float16 -> float32 over 12 layers took the window 58 ms for a 20 s take)

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def log_mel(samples: np.ndarray) -> np.ndarray:
    """(80, columns) Whisper-scaled log-mel of 24 kHz audio, for showing a take. Made where the take is made: on
    the window's thread it took 118 ms for a 20 s take, a visible stall."""
    x = np.pad(samples.astype(np.float32), MEL_FFT // 2,
               mode="reflect" if len(samples) > MEL_FFT // 2 else "constant")
    n = 1 + max(0, len(x) - MEL_FFT) // MEL_HOP
    frames = np.lib.stride_tricks.as_strided(x, (n, MEL_FFT), (x.strides[0] * MEL_HOP, x.strides[0]),
                                             writeable=False)
    power = np.abs(np.fft.rfft(frames * np.hanning(MEL_FFT).astype(np.float32), axis=1)) ** 2
    mel = np.log10(np.maximum(mel_filters(SAMPLE_RATE, MEL_FFT, MEL_BANDS) @ power.T, 1e-10))
    return ((np.maximum(mel, mel.max() - 8.0) + 4.0) / 4.0).astype(np.float32)


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
