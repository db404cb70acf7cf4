"""Enrollment: a recorded or imported prompt becomes a Voice (checked audio, its transcript as phoneme ids, its
EnCodec codes). The transcriber and the codec are passed in, so this runs the same under the worker and in tests.

Two steps, so that the Voice panel can show the check and let the user correct the transcript before saving:
`preview` (check, transcript, codes) and `voice_from_preview` (the corrected text as phoneme ids). `enroll` runs
both for the command line."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from studio.engine.clone.prompt_check import SAMPLE_RATE, PromptCheck, check_prompt
from studio.engine.clone.voices import FRAME_RATE, MAX_CODE, N_CODEBOOKS, Voice, check_language, check_name
from studio.errors import StudioError

if TYPE_CHECKING:
    from studio.engine.clone.phonemes import PhonemeIds

Progress = Callable[[float, str], None]
HOP = SAMPLE_RATE // FRAME_RATE  # samples per EnCodec frame
_END_PUNCTUATION = "?!.,。，？！、"  # VALL-E X's make_prompt ends every transcript with one of these


@dataclass
class EnrollmentPreview:
    """A checked, transcribed and encoded prompt, not yet a voice: the user may still correct the transcript."""

    source: str
    language: str  # the language the transcript was recognised in
    check: PromptCheck
    transcript: str  # as recognised (or given), tidied by prompt_sentence; "" when no words were recognised
    codes: np.ndarray  # int64 (8, T) EnCodec 24 kHz codes of check.samples
    transcript_note: str = ""  # why the transcript is empty (the transcriber could not run), for the user


def prompt_sentence(text: str) -> str:
    """The transcript as VALL-E X's make_prompt stores it: trimmed, ending in punctuation (it adds '.'), because
    the model learned prompts that end a sentence before the new text starts."""
    text = " ".join(text.split())
    if text and text[-1] not in _END_PUNCTUATION:
        text += "."
    return text


def prompt_ids(prompt_text: str, language: str) -> tuple[str, PhonemeIds]:
    """(the sentence as stored, its phonemes) for a prompt's transcript; an empty text or one without phonemes is
    refused."""
    from studio.engine.clone.phonemes import text_to_ids

    text = prompt_sentence(prompt_text)
    if not text:
        raise StudioError("The prompt text is empty.", "Type what the recording says.")
    phonemes = text_to_ids(text, check_language(language))
    if not phonemes.ids:
        raise StudioError(f"The prompt text '{text[:60]}' gives no phonemes in {language}.",
                          "Check that the text is what the recording says, in the chosen language.")
    return text, phonemes


def preview(audio: str | os.PathLike, language: str, prompt_text: str | None,
            transcribe: Callable[[np.ndarray], str], encode: Callable[[np.ndarray], np.ndarray],
            progress: Progress | None = None, check: Callable[[], None] | None = None) -> EnrollmentPreview:
    """Check the prompt in `audio`, transcribe it unless `prompt_text` is given, and encode it.

    `transcribe(samples)`: 16 kHz mono float32 -> text. `encode(samples)`: 24 kHz mono float32 -> codes (8, T)."""
    from studio.audio.io import resample

    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, message)

    language = check_language(language)
    report(0.0, "Checking the prompt…")
    result = check_prompt(audio, check=check)
    if prompt_text is None or not prompt_text.strip():
        report(0.2, "Transcribing the prompt…")
        prompt_text = transcribe(resample(result.samples, SAMPLE_RATE, 16000))
    report(0.5, "Encoding the prompt…")
    codes = _checked_codes(encode(result.samples), len(result.samples))
    return EnrollmentPreview(os.fspath(audio), language, result, prompt_sentence(prompt_text), codes)


def voice_from_preview(p: EnrollmentPreview, name: str, language: str, prompt_text: str) -> tuple[Voice, list[str]]:
    """The voice (not saved: `path` is None) with `prompt_text` as its transcript, and the symbols of the text that
    have no phoneme (left out)."""
    name = check_name(name)
    text, phonemes = prompt_ids(prompt_text, language)
    ids = np.asarray(phonemes.ids, np.int64).reshape(-1)
    codes = np.ascontiguousarray(p.codes.T, np.int64)
    voice = Voice(name, language, codes, ids, text, len(codes) / FRAME_RATE)  # as a loaded voice counts it
    return voice, list(phonemes.dropped)


def enroll(audio: str | os.PathLike, name: str, language: str, prompt_text: str | None,
           transcribe: Callable[[np.ndarray], str], encode: Callable[[np.ndarray], np.ndarray],
           progress: Progress | None = None, check: Callable[[], None] | None = None) -> tuple[Voice, PromptCheck]:
    """Check the prompt in `audio`, transcribe it unless `prompt_text` is given, encode it, and return the voice
    (not saved: `path` is None) with the check, whose warnings the caller shows."""
    name, language = check_name(name), check_language(language)  # before any model runs
    if prompt_text is not None and prompt_text.strip():
        prompt_ids(prompt_text, language)  # a typed text without phonemes fails before the audio is encoded
    p = preview(audio, language, prompt_text, transcribe, encode, progress, check)
    if not p.transcript:
        raise StudioError("No words were recognised in the prompt.",
                          "Type what the recording says, or record clearer speech.")
    voice, dropped = voice_from_preview(p, name, language, p.transcript)
    if dropped:
        p.check.warnings.append(f"Left out of the phonemes (no pronunciation known): {listing(dropped)}.")
    if progress is not None:
        progress(1.0, "Enrolled")
    return voice, p.check


def listing(dropped: object) -> str:
    items = [str(d) for d in dropped] if isinstance(dropped, list | tuple | set) else [str(dropped)]
    return ", ".join(f"'{d}'" for d in items[:10]) + (f" and {len(items) - 10} more" if len(items) > 10 else "")


def _checked_codes(codes: np.ndarray, n_samples: int) -> np.ndarray:
    """The codec's output as (8, T) int64, T matching the audio (a wrong bandwidth or codec is named, not saved)."""
    codes = np.asarray(codes)
    frames = -(-n_samples // HOP)
    if codes.ndim != 2 or codes.shape[0] != N_CODEBOOKS or abs(codes.shape[1] - frames) > 1:
        raise StudioError(f"The codec gave codes of shape {codes.shape}; a voice needs ({N_CODEBOOKS}, about "
                          f"{frames}): EnCodec 24 kHz at 6 kbps.", "Use the EnCodec 24 kHz model at 6 kbps.")
    if codes.dtype.kind not in "iu" or codes.min() < 0 or codes.max() > MAX_CODE:
        raise StudioError(f"The codec gave codes outside 0…{MAX_CODE}.", "Use the EnCodec 24 kHz model.")
    return codes.astype(np.int64)
