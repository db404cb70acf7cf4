"""Worker jobs for the Voice panel and `studio clone`: VALL-E X and the codec are loaded once (registry); each
sentence is a take that appears as soon as it is done and can be redone alone with another seed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from studio.engine.clone.result import SAMPLE_RATE, EmptyTake, Settings, Synthesis, Take
from studio.engine.clone.voices import Voice
from studio.errors import JobCancelled
from studio.hub.download import WeightsMissingError
from studio.worker.jobs import JobContext

PRECISIONS = ("auto", "float32", "fast")  # auto: fast on a CPU (4x quicker), float32 on a GPU (fast enough)


def resolve_precision(precision: str, device: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}")
    if precision == "auto":
        return "fast" if device == "cpu" else "float32"
    return precision


def get_synthesizer(ctx: JobContext, model: str = "vallex", precision: str = "auto",
                    cache_dir: str | None = None, codec: str = "24khz") -> object:
    """VALL-E X on the job's device; "fast": int8 AR and (where it pays) bfloat16 NAR on a CPU, float32 on a GPU
    (studio.models.valle.make_fast)."""
    from studio.engine.clone.synthesize import Synthesizer, encodec_decoder
    from studio.engine.codec.jobs import get_codec
    from studio.hub.valle_weights import CHECKPOINT_BYTES, load_valle

    device = ctx.device
    precision = resolve_precision(precision, device)
    try:
        decoder = get_codec(ctx, codec, cache_dir)  # before the 1.5 GB model: a missing or wrong codec fails at once
    except WeightsMissingError as e:
        if not _valle_on_disk(model, cache_dir):  # say both at once: a user offline needs both files
            from studio.hub.valle_weights import HF_FILE, HF_REPO

            raise WeightsMissingError(f"Neither VALL-E X ({HF_FILE} from {HF_REPO}) nor the codec is on this "
                                      f"computer. {e.message}", e.remedy) from e
        raise
    if decoder.cfg.sample_rate != SAMPLE_RATE:  # type: ignore[attr-defined]
        from studio.errors import StudioError

        raise StudioError(f"VALL-E X speaks EnCodec 24 kHz codes; the codec '{codec}' runs at "
                          f"{decoder.cfg.sample_rate // 1000} kHz.",  # type: ignore[attr-defined]
                          "Use the 24 kHz EnCodec (24khz, or a facebook/encodec_24khz / encodec_24khz-*.th file).")

    def load() -> object:
        ctx.progress(0.0, "Loading VALL-E X…")

        def downloading(p: object) -> None:
            ctx.progress(p.done / max(1, p.total), f"Downloading {p.filename}")  # type: ignore[attr-defined]

        net = load_valle(model, cache_dir=cache_dir or None, progress=downloading, cancel=ctx._cancel).to(device)
        if precision == "fast":
            from studio.models.valle import make_fast

            ctx.progress(0.99, "Preparing VALL-E X (fast precision)…")
            net = make_fast(net, device)
        return net

    net = ctx.models.get(f"valle:{model}:{device}:{precision}", load,
                         expected_bytes=CHECKPOINT_BYTES)
    return Synthesizer(net, encodec_decoder(decoder), device)  # type: ignore[arg-type]


def _valle_on_disk(model: str, cache_dir: str | None) -> bool:
    from studio.hub.checkpoint_io import looks_like_path
    from studio.hub.download import cached_file
    from studio.hub.valle_weights import HF_FILE, HF_REPO

    if looks_like_path(model):
        return Path(model).expanduser().exists()
    return cached_file(HF_REPO, HF_FILE, cache_dir=cache_dir or None) is not None


def device_label(device: str) -> str:
    """'cpu (2.1 GB in use)' (this process) or 'cuda:0 (NVIDIA H100, 3.1 of 80 GB in use)'."""
    import torch

    if not device.startswith("cuda") or not torch.cuda.is_available():
        import psutil

        return f"{device} ({psutil.Process().memory_info().rss / 1e9:.1f} GB in use)"
    idx = torch.device(device).index or 0
    name = torch.cuda.get_device_name(idx)
    free, total = torch.cuda.mem_get_info(idx)
    return f"{device} ({name}, {(total - free) / 1e9:.1f} of {total / 1e9:.0f} GB in use)"


def load_or_enroll(ctx: JobContext, source: str, language: str, prompt_text: str | None,
                   cache_dir: str | None = None, codec: str = "24khz") -> tuple[Voice, list[str]]:
    """A voice file as it is, or a recording enrolled on the fly (not saved): the voice and the prompt check's
    warnings."""
    from studio.engine.clone.jobs import enroll_voice
    from studio.engine.clone.voices import load_voice

    if source.lower().endswith(".npz"):
        return load_voice(source), []
    name = Path(source).stem or "voice"
    voice, check = enroll_voice(ctx, source, name, language, prompt_text, cache_dir, codec=codec)
    return voice, list(check.warnings)


def round_trip(ctx: JobContext, take: Take, language: str, prompt_text: str, asr_model: str | None = None,
               cache_dir: str | None = None) -> Take:
    """Transcribe the take back and compare with its text. Without the transcriber for the language (offline,
    not downloaded) the take is kept unchecked."""
    from studio.audio.io import resample
    from studio.engine.asr.jobs import get_transcriber
    from studio.engine.asr.options import TranscribeOptions
    from studio.engine.clone.jobs import ASR_MODELS, MULTILINGUAL_ASR
    from studio.engine.clone.roundtrip import compare

    name = asr_model or ASR_MODELS.get(language, MULTILINGUAL_ASR)
    try:
        transcriber = get_transcriber(ctx, name, cache_dir)
    except WeightsMissingError:
        return replace(take, check_skipped=f"not checked: the transcriber {name} is not on this computer")
    if language != "en" and not transcriber.multilingual:
        return replace(take, check_skipped=f"not checked: {name} understands English only")
    audio16 = resample(take.samples, SAMPLE_RATE, 16000).astype(np.float32)
    options = TranscribeOptions(language=language, condition_on_previous_text=False, silence_db=None)
    heard = transcriber.transcribe(audio16, options, check=ctx.check).text
    return replace(take, round_trip=compare(take.text, heard, prompt_text))


def synthesize_job(ctx: JobContext, voice: str | Voice, sentences: list[str], language: str, settings: Settings,
                   model: str = "vallex", precision: str = "auto", check_words: bool = True,
                   asr_model: str | None = None, cache_dir: str | None = None,
                   on_take: Callable[[Take], None] | None = None, first_index: int = 0,
                   seeds: list[int] | None = None, codec: str = "24khz") -> Synthesis:
    """Speak `sentences` one after another in `voice` (a Voice or a voice file). Sentence i is drawn with seeds[i]
    (default settings.seed + its index), so redoing one sentence with a new seed leaves the others as they
    were; `first_index` numbers the takes when a single sentence is redone."""
    from studio.engine.clone.voices import load_voice

    if not isinstance(voice, Voice):
        voice = load_voice(voice)
    synth = get_synthesizer(ctx, model, precision, cache_dir, codec)
    label = device_label(ctx.device)
    takes: list[Take] = []
    n = len(sentences)
    for i, sentence in enumerate(sentences):
        index = first_index + i

        def progress(f: float, message: str, i: int = i) -> None:
            ctx.progress((i + f) / n, f"{message} · {label}")

        seed = seeds[i] if seeds is not None else settings.seed + index
        take = _take_with_retries(synth, voice, sentence, language, replace(settings, seed=seed), index, progress,
                                  ctx.check)
        take.device = label
        if check_words:
            ctx.progress((i + 0.99) / n, f"Sentence {index + 1}: listening back…")
            try:
                take = round_trip(ctx, take, language, voice.prompt_text, asr_model, cache_dir)
            except (JobCancelled, KeyboardInterrupt):  # the take is made: keep it, unchecked, then stop
                take = replace(take, check_skipped="not checked: stopped while listening back")
                takes.append(take)
                if on_take is not None:
                    on_take(take)
                raise
        takes.append(take)
        if on_take is not None:
            on_take(take)
    return Synthesis(voice.name, language, voice.audio_tokens.T.astype(np.int16), takes)


RETRY_SEED_STEP = 100_003  # a prime: retries never land on the seed of a neighbouring sentence (seed + index)
RETRIES = 3


def _take_with_retries(synth: object, voice: Voice, sentence: str, language: str, settings: Settings, index: int,
                       progress: Callable[[float, str], None], check: Callable[[], None]) -> Take:
    """A take; when the model ends the sentence before saying anything (it happens with some seeds), the next
    seeds are tried, so one unlucky draw does not stop a long text. The seed used is in the take's settings."""
    for attempt in range(RETRIES):
        try:
            return synth.take(voice, sentence, language, settings, index, progress, check)  # type: ignore
        except EmptyTake:
            if attempt == RETRIES - 1:
                raise
            settings = replace(settings, seed=settings.seed + RETRY_SEED_STEP)
    raise AssertionError("unreachable")


def device_label_job(ctx: JobContext) -> str:
    return device_label(ctx.device)


def speak_job(ctx: JobContext, *args: object, **kwargs: object) -> Synthesis:
    """synthesize_job with each take sent to the window as soon as it is made."""
    return synthesize_job(ctx, *args, on_take=ctx.send, **kwargs)  # type: ignore[arg-type]
