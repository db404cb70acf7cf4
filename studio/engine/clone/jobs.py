"""Worker jobs for voice cloning: enrollment into the voices library (in one step, or as a preview the user
corrects, then saves), and decoding a voice's codes for listening."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from studio.engine.clone.enroll import EnrollmentPreview
from studio.engine.clone.prompt_check import SAMPLE_RATE, PromptCheck
from studio.engine.clone.voices import FRAME_RATE, Voice, VoiceLibrary, check_language, check_name
from studio.errors import StudioError
from studio.worker.jobs import JobContext

ASR_MODELS = {"en": "tiny.en"}  # built in; Mandarin and Japanese need a multilingual model (downloaded once)
MULTILINGUAL_ASR = "small"  # tiny and base garble Mandarin and Japanese too often for a phoneme transcript
BANDWIDTH = 6.0  # kbps: 8 codebooks, what VALL-E X models


def enroll_voice(ctx: JobContext, path: str, name: str, language: str, prompt_text: str | None,
                 cache_dir: str | None = None, asr_model: str | None = None,
                 codec: str = "24khz") -> tuple[Voice, PromptCheck]:
    """Enroll the prompt in `path` without saving it (`studio clone` with a recording). The models load only when
    needed, after the prompt passed its check: no transcriber when the text is given. `codec`: the EnCodec 24 kHz
    model (name, Hub repo or local file)."""
    from studio.engine.clone.enroll import enroll

    check_language(language)
    transcribe, encode = _models(ctx, language, cache_dir, asr_model, codec)
    return enroll(path, name, language, prompt_text, transcribe, encode, ctx.progress, ctx.check)


def enroll_job(ctx: JobContext, path: str, name: str, language: str, prompt_text: str | None,
               library_folder: str | None, cache_dir: str | None = None,
               asr_model: str | None = None, codec: str = "24khz") -> tuple[Voice, PromptCheck]:
    """Enroll the prompt in `path` and save it in the library at `library_folder` (None: the default folder);
    the returned voice has its `path`."""
    from studio.outputs import check_folder

    check_language(language)
    library = VoiceLibrary(library_folder)
    check_folder(library.folder, create=True)  # a folder we cannot write fails now, not after the models ran
    library.check_free(check_name(name))  # so does a name the library has
    voice, result = enroll_voice(ctx, path, name, language, prompt_text, cache_dir, asr_model, codec)
    return library.add(voice), result


def preview_enrollment_job(ctx: JobContext, path: str, language: str, cache_dir: str | None = None,
                           asr_model: str | None = None, codec: str = "24khz") -> EnrollmentPreview:
    """Step 1 of enrollment in the Voice panel: check, transcribe and encode the prompt in `path`. A transcriber
    that cannot run (a multilingual model not downloaded, offline) leaves the transcript empty with a note, so the
    user can type it; a prompt that fails its check or a codec that cannot run is an error."""
    from studio.engine.clone.enroll import preview

    check_language(language)
    transcribe, encode = _models(ctx, language, cache_dir, asr_model, codec)
    note: list[str] = []

    def transcribe_or_note(samples16k: np.ndarray) -> str:
        try:
            return transcribe(samples16k)
        except StudioError as e:
            note.append(f"{e.message} Type what the recording says.")
            return ""

    result = preview(path, language, None, transcribe_or_note, encode, ctx.progress, ctx.check)
    if note:
        result.transcript_note = note[0]
    elif not result.transcript:
        result.transcript_note = "No words were recognised: type what the recording says."
    ctx.progress(1.0, "Ready: check the transcript, then save")
    return result


def save_enrollment(preview: EnrollmentPreview, name: str, language: str, prompt_text: str,
                    library_folder: str | None) -> Voice:
    """Step 2: the previewed prompt with the user's (corrected) text saved in the library at `library_folder`
    (None: the default folder); returns the voice with its `path`."""
    from studio.engine.clone.enroll import voice_from_preview

    voice, _ = voice_from_preview(preview, name, check_language(language), prompt_text)
    return VoiceLibrary(library_folder).add(voice)


def unavailable_languages(ctx: JobContext | None = None) -> dict[str, str]:
    """Languages whose text cannot be turned into phonemes on this computer (a G2P package or the Japanese
    dictionary missing), each with the reason."""
    from studio.engine.clone.phonemes import text_to_ids

    samples = {"en": "Hello.", "zh": "你好。", "ja": "こんにちは。"}
    out = {}
    for language, text in samples.items():
        try:
            text_to_ids(text, language)
        except StudioError as e:
            out[language] = e.message
    return out


def decode_voice_job(ctx: JobContext, codes: np.ndarray, out_path: str, k: int = 8, codec: str = "24khz",
                     cache_dir: str | None = None) -> str:
    """Decode the first `k` codebooks of a voice's codes (8, T) to a float WAV at `out_path` (written whole or not
    at all); returns the path. For listening to a voice and to what each codebook adds."""
    from studio.engine.codec.analysis import decode_to_file
    from studio.outputs import check_folder

    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[1] == 0 or not 1 <= k <= codes.shape[0]:
        raise StudioError(f"Cannot decode codebooks 1…{k} of codes shaped {codes.shape}.",
                          "Pick k from 1 to 8 for a voice's (8, frames) codes.")
    model = _codec24(ctx, codec, cache_dir)
    check_folder(Path(out_path).parent, create=True)
    ctx.progress(0.0, f"Decoding the prompt with {k} codebook{'s' if k > 1 else ''}…")
    decode_to_file(model, codes, None, codes.shape[1] * (SAMPLE_RATE // FRAME_RATE), out_path, k,  # type: ignore
                   subtype="FLOAT", progress=ctx.progress, check=ctx.check)
    return out_path


def _models(ctx: JobContext, language: str, cache_dir: str | None, asr_model: str | None,
            codec: str) -> tuple[Callable[[np.ndarray], str], Callable[[np.ndarray], np.ndarray]]:
    """The transcribe and encode functions of enrollment; each model loads on first use (none for a prompt that
    fails its check)."""
    from studio.engine.asr.jobs import get_transcriber
    from studio.engine.asr.options import TranscribeOptions
    from studio.engine.codec.analysis import encode_audio

    asr = asr_model or ASR_MODELS.get(language, MULTILINGUAL_ASR)

    def transcribe(samples16k: np.ndarray) -> str:
        transcriber = get_transcriber(ctx, asr, cache_dir)
        return transcriber.transcribe(samples16k, TranscribeOptions(language=language), check=ctx.check).text

    def encode(samples24k: np.ndarray) -> np.ndarray:
        model = _codec24(ctx, codec, cache_dir)
        codes, _ = encode_audio(model, samples24k, BANDWIDTH, check=ctx.check)  # type: ignore[arg-type]
        return codes

    return transcribe, encode


def _codec24(ctx: JobContext, codec: str, cache_dir: str | None) -> object:
    from studio.engine.codec.jobs import get_codec

    model = get_codec(ctx, codec, cache_dir)
    rate = model.cfg.sample_rate  # type: ignore[attr-defined]
    if rate != SAMPLE_RATE:
        raise StudioError(f"The codec '{codec}' runs at {rate // 1000} kHz; voices are EnCodec 24 kHz codes.",
                          "Choose the EnCodec 24 kHz model.")
    return model


# The Voice panel's jobs (submitted by name, studio.worker.jobs.Job: the window never imports this module)

def preview_with_envelope_job(ctx: JobContext, path: str, language: str, cache_dir: str, asr_model: str | None,
                              codec: str) -> tuple[EnrollmentPreview, object]:
    """Step 1 as the panel shows it: the preview and the recording's envelope for its waveform."""
    from studio.engine.waveform import compute_envelope

    preview = preview_enrollment_job(ctx, path, language, cache_dir or None, asr_model, codec)
    return preview, compute_envelope(path, 800)


def phonemes_job(ctx: JobContext, text: str, language: str) -> tuple[str, int, list[str]]:
    """The phonemes of a typed prompt text, their id count and the symbols dropped."""
    from studio.engine.clone.enroll import prompt_ids

    _, phonemes = prompt_ids(text, language)
    return phonemes.phonemes, len(phonemes.ids), list(phonemes.dropped)


def save_enrollment_job(ctx: JobContext, preview: EnrollmentPreview, name: str, language: str, text: str,
                        folder: str) -> Voice:
    return save_enrollment(preview, name, language, text, folder)


def decode_preview_job(ctx: JobContext, preview: EnrollmentPreview, k: int, out: str, codec: str,
                       cache_dir: str) -> str:
    return decode_voice_job(ctx, preview.codes, out, k, codec, cache_dir or None)


def decode_saved_voice_job(ctx: JobContext, voice: Voice, out: str, codec: str, cache_dir: str) -> str:
    return decode_voice_job(ctx, voice.audio_tokens.T, out, 8, codec, cache_dir or None)
