"""Worker jobs for the Codec panel: the codec is loaded once (registry), files are analysed, reconstructions
with the first k codebooks are written to WAV for playback."""

from __future__ import annotations

import os
from pathlib import Path

from studio.engine.codec.files import MODEL_RATES, read_codes
from studio.engine.codec.result import CodecAnalysis, codebook_stats
from studio.worker.jobs import JobContext


def get_codec(ctx: JobContext, model: str, cache_dir: str | None = None) -> object:
    from studio.hub.encodec_weights import load_encodec

    def load() -> object:
        ctx.progress(0.0, f"Loading EnCodec {model}…")
        return load_encodec(model, cache_dir=cache_dir or None, cancel=ctx._cancel,
                            progress=lambda p: ctx.progress(p.done / max(1, p.total), f"Downloading {p.filename}"))

    return ctx.models.get(f"encodec:{model}", load)  # runs on the CPU: its convolutions are tuned for oneDNN


def analyze_job(ctx: JobContext, path: str, model: str, bandwidth: float,
                cache_dir: str | None = None) -> CodecAnalysis:
    from studio.engine.codec.analysis import analyze

    codec = get_codec(ctx, model, cache_dir)
    if bandwidth not in codec.cfg.bandwidths:  # type: ignore[attr-defined]
        bandwidth = min(codec.cfg.bandwidths, key=lambda b: abs(b - bandwidth))  # type: ignore[attr-defined]
    return analyze(codec, path, bandwidth, progress=ctx.progress, check=ctx.check)  # type: ignore[arg-type]


def open_codes_job(ctx: JobContext, path: str) -> CodecAnalysis:
    """A code file: its grid and statistics; no audio, so no per-stage quality."""
    f = read_codes(path)
    rate, fps, _ = MODEL_RATES[f.model]
    length = f.audio_length or f.codes.shape[1] * rate // fps
    n_q = f.codes.shape[0]
    return CodecAnalysis(os.fspath(path), f.model, rate, fps, n_q * 10 * fps / 1000, f.codes, f.scales, length,
                         codebook_stats(f.codes, fps))


def reconstruct_job(ctx: JobContext, analysis: CodecAnalysis, model: str, k: int, out_dir: str,
                    cache_dir: str | None = None) -> str:
    """Decode the first k codebooks of `analysis` to a WAV in `out_dir`, block by block with progress and cancel
    (a temporary file renamed when complete, so a cancel leaves nothing); returns its path."""
    from studio.engine.codec.analysis import decode_to_file
    from studio.outputs import check_folder

    codec = get_codec(ctx, model, cache_dir)
    if codec.cfg.sample_rate != analysis.sample_rate:  # type: ignore[attr-defined]
        from studio.errors import StudioError

        raise StudioError(f"These codes are from {analysis.model}; the chosen codec runs at "
                          f"{codec.cfg.sample_rate // 1000} kHz.", "Pick the matching EnCodec model.")  # type: ignore
    ctx.progress(0.0, f"Decoding with {k} codebooks…")
    out = Path(check_folder(out_dir, create=True)) / f"{Path(analysis.source).stem}-{analysis.model}-k{k}.wav"
    decode_to_file(codec, analysis.codes, analysis.scales, analysis.audio_length, out, k,  # type: ignore[arg-type]
                   subtype="FLOAT", progress=ctx.progress, check=ctx.check)
    return str(out)
