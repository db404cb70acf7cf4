"""Codec analysis: codes of a file, what each codebook carries, and what each added stage buys."""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import numpy as np
import soundfile as sf
import torch

from studio.audio.io import load_audio, probe, resample
from studio.engine.codec.result import CodecAnalysis, StageQuality, codebook_stats
from studio.models.encodec import Encodec

LONG_PIECE_S = 60.0  # the causal model codes long files in pieces of this length ...
CONTEXT_S = 2.0  # ... each started this much earlier, so its first frames have their past
STATS_SECONDS = 20.0  # reconstruction quality is measured on this much audio (one decode per k)


def model_name(model: Encodec) -> str:
    return f"encodec_{model.cfg.sample_rate // 1000}khz"


def si_snr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant signal-to-noise ratio in dB (both zero-meaned)."""
    ref = reference - reference.mean()
    est = estimate - estimate.mean()
    target = (est @ ref) / max(ref @ ref, 1e-12) * ref
    noise = est - target
    return float(10 * np.log10(max(target @ target, 1e-12) / max(noise @ noise, 1e-12)))


def mel_distance(reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> float:
    from studio.audio.mel import N_FFT, log10_mel_frames

    def logmel(x: np.ndarray) -> torch.Tensor:
        x16 = resample(x.astype(np.float32), sample_rate, 16000)
        x16 = np.pad(x16, (N_FFT // 2, N_FFT // 2), mode="reflect") if len(x16) > N_FFT else np.zeros(N_FFT + 1)
        return log10_mel_frames(torch.from_numpy(x16.astype(np.float32)))

    return float((logmel(reference) - logmel(estimate)).abs().mean())


def _to_model_input(wav: np.ndarray, channels: int) -> torch.Tensor:
    """(channels, samples) for the model: mono is duplicated for stereo models, stereo averaged for mono."""
    if wav.ndim == 1:
        wav = wav[None]
    if wav.shape[0] != channels:
        wav = np.repeat(wav.mean(0, keepdims=True), channels, axis=0)
    return torch.from_numpy(np.ascontiguousarray(wav, np.float32))[None]


@torch.inference_mode()
def encode_audio(model: Encodec, wav: np.ndarray, bandwidth: float,
                 check: Callable[[], None] = lambda: None) -> tuple[np.ndarray, list[float] | None]:
    """Samples at the model's rate -> codes (n_q, frames) and chunk scales. Long input to the causal model is
    coded in overlapping pieces so memory stays bounded; shorter input in one go, exactly as the package does."""
    x = _to_model_input(wav, model.cfg.channels)
    rate, hop = model.cfg.sample_rate, model.cfg.hop_length
    if model.cfg.segment is not None or x.shape[-1] <= LONG_PIECE_S * rate * 1.5:
        codes, scales = model.encode(x, bandwidth)
        return codes[0].numpy(), None if scales is None else scales[0].tolist()
    piece, context = int(LONG_PIECE_S * rate), int(CONTEXT_S * rate)
    parts = []
    for start in range(0, x.shape[-1], piece):
        check()
        lead = min(context, start)
        codes, _ = model.encode(x[..., start - lead: start + piece], bandwidth)
        parts.append(codes[0, :, lead // hop:])
    return torch.cat(parts, dim=1).numpy(), None


@torch.inference_mode()
def decode_codes(model: Encodec, codes: np.ndarray, scales: list[float] | None, length: int | None,
                 k: int | None = None, check: Callable[[], None] = lambda: None) -> np.ndarray:
    """Codes of the first k codebooks -> (channels, samples). Long input is decoded in pieces with context."""
    k = k or codes.shape[0]
    c = torch.from_numpy(np.ascontiguousarray(codes[:k]))[None]
    hop = model.cfg.hop_length
    length = length or c.shape[-1] * hop
    if model.cfg.segment is not None:
        s = None if scales is None else torch.tensor(scales)[None]
        return model.decode(c, s, length)[0].numpy()
    fps = model.cfg.frame_rate
    piece, context = int(LONG_PIECE_S * fps), int(CONTEXT_S * fps)
    if c.shape[-1] <= piece * 1.5:
        return model.decode(c, None, length)[0].numpy()
    parts = []
    for start in range(0, c.shape[-1], piece):
        check()
        lead = min(context, start)
        out = model.decode(c[..., start - lead: start + piece])
        parts.append(out[0, :, lead * hop:])
    return torch.cat(parts, dim=-1)[:, :length].numpy()


def analyze(model: Encodec, source: str | os.PathLike, bandwidth: float = 6.0,
            progress: Callable[[float, str], None] = lambda f, m: None,
            check: Callable[[], None] = lambda: None, stats_seconds: float = STATS_SECONDS) -> CodecAnalysis:
    """Encode a file and measure every codebook; reconstructions k = 1..n_q on the first `stats_seconds`."""
    rate = model.cfg.sample_rate
    info = probe(source)
    progress(0.02, "Reading audio…")
    if model.cfg.channels == 2 and info.channels >= 2:
        raw, sr = sf.read(str(info.path), dtype="float32", always_2d=True)
        wav = np.stack([resample(raw[:, c], sr, rate) for c in range(2)])
    else:
        wav = load_audio(source, rate)
    progress(0.1, "Encoding…")
    codes, scales = encode_audio(model, wav, bandwidth, check)
    length = wav.shape[-1]
    result = CodecAnalysis(os.fspath(source), model_name(model), rate, model.cfg.frame_rate, bandwidth, codes,
                           scales, length)
    result.codebooks = codebook_stats(codes, model.cfg.frame_rate, model.cfg.bins)
    # quality per stage on an excerpt: one decode per k
    n = min(length, int(stats_seconds * rate))
    frames = math.ceil(n / model.cfg.hop_length)
    if model.cfg.segment is not None:  # whole chunks, so the excerpt's codes are the file's first codes
        seg, stride = model.cfg.segment_length or n, model.cfg.segment_stride or n
        chunks = model.chunk_frames(length)
        m = max(1, min(len(chunks), (n - seg) // stride + 1))
        n = min(length, (m - 1) * stride + seg)
        frames = sum(chunks[:m])
    excerpt = wav[..., :n]
    mono_ref = excerpt if excerpt.ndim == 1 else excerpt.mean(0)
    with torch.inference_mode():
        z = model.encoder(_to_model_input(excerpt, model.cfg.channels)) if model.cfg.segment is None else None
        energies = (model.quantizer.stage_residuals(z, torch.from_numpy(codes[:, : z.shape[-1]])[None])
                    / z.pow(2).mean()).tolist() if z is not None else [float("nan")] * codes.shape[0]
    for k in range(1, codes.shape[0] + 1):
        check()
        progress(0.3 + 0.7 * k / codes.shape[0], f"Reconstructing with {k} codebooks…")
        sub_scales = None if scales is None else scales[: len(model.chunk_frames(n))]
        rec = decode_codes(model, codes[:, :frames], sub_scales, n, k)
        rec_mono = rec.mean(0)[:n]
        result.stages.append(StageQuality(k, si_snr(mono_ref, rec_mono), mel_distance(mono_ref, rec_mono, rate),
                                          energies[k - 1]))
    progress(1.0, "Done")
    return result
