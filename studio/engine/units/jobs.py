"""Worker jobs for the units strip: the encoder is loaded once (registry); a recording's units come from a saved
codebook or one fitted on it; all occurrences of one unit are written to a WAV to play them in a row."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from studio.engine.units.codebook import Codebook, load_codebook
from studio.engine.units.pretrained import is_pretrained_name, load_pretrained
from studio.engine.units.result import UnitsAnalysis, UnitsComparison
from studio.engine.units.stats import UnitStats
from studio.worker.jobs import JobContext

GAP_S = 0.15  # silence between two occurrences, so each is heard as one
FADE_S = 0.005  # ramps at each cut: a cut mid-wave clicks


def get_encoder(ctx: JobContext, model: str, cache_dir: str | None = None) -> object:
    from studio.hub.hubert_weights import load_encoder

    def load() -> object:
        ctx.progress(0.0, f"Loading {model}…")
        return load_encoder(model, cache_dir=cache_dir or None, cancel=ctx._cancel,
                            progress=lambda p: ctx.progress(p.done / max(1, p.total), f"Downloading {p.filename}"))

    return ctx.models.get(f"units-encoder:{model}", load)


def units_job(ctx: JobContext, path: str, model: str, layer: int, k: int, codebook_path: str | None = None,
              cache_dir: str | None = None) -> UnitsAnalysis:
    """Units of the recording at `path`: with the saved codebook if given (its model and layer win; a pretrained
    km.bin file takes `model` and `layer`; a pretrained name, hubert-base-km100, is downloaded on first use), else
    with k-means fitted on this recording's own features."""
    from studio.audio.io import load_audio
    from studio.engine.units.kmeans import check_frames
    from studio.engine.units.units import fit_and_assign, units_of
    from studio.hub.hubert_weights import model_identity
    from studio.models.hubert import SAMPLE_RATE

    if is_pretrained_name(codebook_path):  # textless-lib's: downloaded on first use
        codebook: Codebook | None = load_pretrained(
            codebook_path, cache_dir or None, cancel=ctx._cancel,  # type: ignore[arg-type]
            progress=lambda p: ctx.progress(0.0, f"Downloading the k-means of {codebook_path} ({p.done >> 10} kB)"))
    else:
        codebook = load_codebook(codebook_path, model_identity(model), layer) if codebook_path else None
    if codebook is not None:
        model, layer = codebook.model, codebook.layer
    ctx.progress(0.0, f"Reading {Path(path).name}…")
    wave = load_audio(path, SAMPLE_RATE)
    loaded = get_encoder(ctx, model, cache_dir)
    ctx.check()
    if codebook is not None:
        result = units_of(wave, loaded, codebook, progress=lambda f: ctx.progress(f, "Units"),  # type: ignore
                          cancel=ctx._cancel)
        return UnitsAnalysis(path, result, codebook, fitted_here=False)
    if frames := loaded.model.cfg.frames(wave.shape[0]):  # type: ignore[attr-defined]
        check_frames(frames, k)  # before the features, not after (none at all: "shorter than one frame")
    result, codebook = fit_and_assign(wave, loaded, layer, k,  # type: ignore[arg-type]
                                      progress=lambda f: ctx.progress(f, "Features, then k-means"),
                                      cancel=ctx._cancel)
    return UnitsAnalysis(path, result, codebook, fitted_here=True)


def occurrences_job(ctx: JobContext, path: str, spans: list[tuple[float, float]], out: str) -> str:
    """Every (start, end) span of `path`, in order, with a short silence between them, to `out` (WAV)."""
    import soundfile as sf

    from studio.audio.io import load_audio, probe
    from studio.outputs import atomic_output

    rate = probe(path).sample_rate
    pieces = []
    ramp = max(1, int(FADE_S * rate))
    for i, (a, b) in enumerate(spans):
        ctx.check()
        x = load_audio(path, rate, start=a, end=b)
        if x.size > 2 * ramp:
            env = np.linspace(0.0, 1.0, ramp, dtype=np.float32)
            x = x.copy()
            x[:ramp] *= env
            x[-ramp:] *= env[::-1]
        pieces += [x, np.zeros(int(GAP_S * rate), np.float32)]
        ctx.progress((i + 1) / len(spans), "Collecting the unit's runs")
    audio = np.concatenate(pieces) if pieces else np.zeros(1, np.float32)
    with atomic_output(out) as f:
        sf.write(f, audio, rate, format="WAV", subtype="FLOAT")
    return out


def compare_job(ctx: JobContext, first: UnitsAnalysis, path: str, cache_dir: str | None = None) -> UnitsComparison:
    """Units of the recording at `path` with `first`'s codebook, aligned onto `first` (DTW)."""
    from studio.audio.io import load_audio
    from studio.engine.units.compare import align
    from studio.engine.units.units import units_of
    from studio.models.hubert import SAMPLE_RATE

    cb = first.codebook
    ctx.progress(0.0, f"Reading {Path(path).name}…")
    wave = load_audio(path, SAMPLE_RATE)
    loaded = get_encoder(ctx, cb.model, cache_dir)
    result = units_of(wave, loaded, cb, progress=lambda f: ctx.progress(0.9 * f, "Units"),  # type: ignore[arg-type]
                      cancel=ctx._cancel)
    ctx.progress(0.9, "Aligning…")
    al = align(first.result, result, cb)
    return UnitsComparison(UnitsAnalysis(path, result, cb, fitted_here=False), al.b_at_a(), al.agreement,
                           al.differing_spans(result.frame_rate))


def _words(ctx: JobContext, wave: object, asr_model: str, cache_dir: str | None, at: float, span: float
           ) -> list[tuple[str, float, float]]:
    from studio.engine.asr.jobs import get_transcriber
    from studio.engine.asr.options import TranscribeOptions

    transcriber = get_transcriber(ctx, asr_model, cache_dir)
    ctx.progress(at, "Transcribing (word times)…")
    options = TranscribeOptions(word_timestamps=True, language="en" if asr_model.endswith(".en") else None)
    transcript = transcriber.transcribe(wave, options, progress=lambda f, m="": ctx.progress(at + span * f, m),
                                        check=ctx.check)
    return [(w.text.strip(), w.start, w.end) for s in transcript.segments for w in s.words]


def words_job(ctx: JobContext, path: str, asr_model: str = "tiny.en", cache_dir: str | None = None
              ) -> list[tuple[str, float, float]]:
    """The words of the recording at `path` with their times (text, start s, end s): a transcript with word
    timestamps, by the embedded tiny.en unless `asr_model` says otherwise."""
    from studio.audio.io import load_audio
    from studio.models.hubert import SAMPLE_RATE

    ctx.progress(0.0, f"Reading {Path(path).name}…")
    return _words(ctx, load_audio(path, SAMPLE_RATE), asr_model, cache_dir, 0.05, 0.95)


def stats_job(ctx: JobContext, analysis: UnitsAnalysis, with_words: bool = False, asr_model: str = "tiny.en",
              cache_dir: str | None = None, words: list[tuple[str, float, float]] | None = None) -> UnitStats:
    """Histogram and per-unit mean spectra of `analysis`; with `with_words`, the units' purity against the words
    (`words` where the caller has them already, else the recording is transcribed with word timestamps)."""
    from studio.audio.io import load_audio
    from studio.engine.units.stats import unit_spectra, word_purity
    from studio.models.hubert import SAMPLE_RATE

    r = analysis.result
    ctx.progress(0.0, f"Reading {Path(analysis.source).name}…")
    wave = load_audio(analysis.source, SAMPLE_RATE)
    spectra = unit_spectra(wave, r)
    purity = None
    if with_words:
        if words is None:
            words = _words(ctx, wave, asr_model, cache_dir, 0.1, 0.85)
        purity = word_purity(r, words)
    return UnitStats(r.histogram(), spectra, purity)
