"""Worker jobs for voice cloning: enrollment into the voices library."""

from __future__ import annotations

import numpy as np

from studio.engine.clone.prompt_check import PromptCheck
from studio.engine.clone.voices import Voice, VoiceLibrary, check_language
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
    from studio.engine.asr.jobs import get_transcriber
    from studio.engine.asr.options import TranscribeOptions
    from studio.engine.clone.enroll import enroll
    from studio.engine.codec.analysis import encode_audio
    from studio.engine.codec.jobs import get_codec

    check_language(language)
    asr = asr_model or ASR_MODELS.get(language, MULTILINGUAL_ASR)

    def transcribe(samples16k: np.ndarray) -> str:
        transcriber = get_transcriber(ctx, asr, cache_dir)
        return transcriber.transcribe(samples16k, TranscribeOptions(language=language), check=ctx.check).text

    def encode(samples24k: np.ndarray) -> np.ndarray:
        model = get_codec(ctx, codec, cache_dir)
        codes, _ = encode_audio(model, samples24k, BANDWIDTH, check=ctx.check)  # type: ignore[arg-type]
        return codes

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
    voice, result = enroll_voice(ctx, path, name, language, prompt_text, cache_dir, asr_model, codec)
    return library.add(voice), result
