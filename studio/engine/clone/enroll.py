"""Enrollment: a recorded or imported prompt becomes a Voice (checked audio, its transcript as phoneme ids, its
EnCodec codes). The transcriber and the codec are passed in, so this runs the same under the worker and in tests."""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from studio.engine.clone.prompt_check import SAMPLE_RATE, PromptCheck, check_prompt
from studio.engine.clone.voices import FRAME_RATE, MAX_CODE, N_CODEBOOKS, Voice, check_language, check_name
from studio.errors import StudioError

Progress = Callable[[float, str], None]
HOP = SAMPLE_RATE // FRAME_RATE  # samples per EnCodec frame
_END_PUNCTUATION = "?!.,。，？！、"  # VALL-E X's make_prompt ends every transcript with one of these


def prompt_sentence(text: str) -> str:
    """The transcript as VALL-E X's make_prompt stores it: trimmed, ending in punctuation (it adds '.'), because
    the model learned prompts that end a sentence before the new text starts."""
    text = " ".join(text.split())
    if text and text[-1] not in _END_PUNCTUATION:
        text += "."
    return text


def enroll(audio: str | os.PathLike, name: str, language: str, prompt_text: str | None,
           transcribe: Callable[[np.ndarray], str], encode: Callable[[np.ndarray], np.ndarray],
           progress: Progress | None = None, check: Callable[[], None] | None = None) -> tuple[Voice, PromptCheck]:
    """Check the prompt in `audio`, transcribe it unless `prompt_text` is given, encode it, and return the voice
    (not saved: `path` is None) with the check, whose warnings the caller shows.

    `transcribe(samples)`: 16 kHz mono float32 -> text. `encode(samples)`: 24 kHz mono float32 -> codes (8, T)."""
    from studio.audio.io import resample
    from studio.engine.clone.phonemes import text_to_ids

    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, message)

    name, language = check_name(name), check_language(language)
    report(0.0, "Checking the prompt…")
    result = check_prompt(audio, check=check)
    if prompt_text is None or not prompt_text.strip():
        report(0.2, "Transcribing the prompt…")
        prompt_text = transcribe(resample(result.samples, SAMPLE_RATE, 16000))
        if not prompt_text.strip():
            raise StudioError("No words were recognised in the prompt.",
                              "Type what the recording says, or record clearer speech.")
    text = prompt_sentence(prompt_text)
    phonemes = text_to_ids(text, language)
    ids = np.asarray(phonemes.ids, np.int64).reshape(-1)
    if len(ids) == 0:
        raise StudioError(f"The prompt text '{text[:60]}' gives no phonemes in {language}.",
                          "Check that the text is what the recording says, in the chosen language.")
    if phonemes.dropped:
        result.warnings.append(f"Left out of the phonemes (no pronunciation known): {_listing(phonemes.dropped)}.")
    report(0.5, "Encoding the prompt…")
    codes = _checked_codes(encode(result.samples), len(result.samples))
    report(1.0, "Enrolled")
    voice = Voice(name, language, np.ascontiguousarray(codes.T, np.int64), ids, text, result.duration)
    return voice, result


def _listing(dropped: object) -> str:
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
