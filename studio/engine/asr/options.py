"""Transcription settings: plain data, importable by the UI without torch."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VadOptions:
    threshold: float = 0.5
    min_speech_s: float = 0.25
    min_silence_s: float = 2.0  # shorter pauses stay inside a region: Whisper wants context
    pad_s: float = 0.4


@dataclass(frozen=True)
class TranscribeOptions:
    language: str | None = None  # code or English name; None: detect (multilingual models)
    task: str = "transcribe"
    beam_size: int = 5
    best_of: int = 5
    patience: float | None = None
    length_penalty: float | None = None
    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    compression_ratio_threshold: float | None = 2.4
    logprob_threshold: float | None = -1.0
    no_speech_threshold: float | None = 0.6
    condition_on_previous_text: bool = True
    initial_prompt: str | None = None
    word_timestamps: bool = False
    without_timestamps: bool = False
    vad_filter: bool = False
    vad: VadOptions = VadOptions()
    suppress_tokens: str = "-1"
    silence_db: float | None = -60.0  # windows quieter than this (RMS, dBFS) are skipped without decoding
