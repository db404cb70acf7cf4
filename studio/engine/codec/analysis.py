"""Codec analysis: codes of a file, what each codebook carries, and what each added stage buys; encoding and
decoding whole files. Everything streams (`studio.engine.codec.stream`): a file of any length is read, coded,
decoded and measured block by block, with progress per block and a cancel check between blocks."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from studio.audio.io import iter_blocks, probe, resample, resample_context
from studio.engine.codec.result import CodecAnalysis, StageQuality, codebook_stats, stats_from_usage
from studio.engine.codec.stream import BLOCK_S, Coded, StreamDecoder, StreamEncoder
from studio.models.encodec import Encodec

STATS_SECONDS = 20.0  # reconstruction quality is measured on this much audio (one decode per k)

Progress = Callable[[float, str], None]


def model_name(model: Encodec) -> str:
    return f"encodec_{model.cfg.sample_rate // 1000}khz"


def si_snr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant signal-to-noise ratio in dB (both zero-meaned)."""
    acc = _SiSnr()
    acc.add(reference, estimate)
    return acc.value()


def mel_distance(reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> float:
    """Mean |log10 mel power| difference, on 16 kHz Whisper frames of the two signals."""
    ref, est = _LogMel(sample_rate), _LogMel(sample_rate)
    total = float((ref.push(reference) - est.push(estimate)).abs().sum())
    a, b = ref.finish(), est.finish()
    return (total + float((a - b).abs().sum())) / max(1, (ref.frames * a.shape[0]))


class _SiSnr:
    """SI-SNR from running sums (float64), so a long signal never has to be held."""

    def __init__(self) -> None:
        self.n, self.r, self.e, self.rr, self.ee, self.re = 0, 0.0, 0.0, 0.0, 0.0, 0.0

    def add(self, ref: np.ndarray, est: np.ndarray) -> None:
        r, e = ref.astype(np.float64), est.astype(np.float64)
        self.n += len(r)
        self.r += r.sum()
        self.e += e.sum()
        self.rr += r @ r
        self.ee += e @ e
        self.re += r @ e

    def value(self) -> float:
        n = max(1, self.n)
        rr = self.rr - self.r * self.r / n  # sums of the zero-meaned signals
        ee = self.ee - self.e * self.e / n
        re = self.re - self.r * self.e / n
        alpha = re / max(rr, 1e-12)
        target = alpha * alpha * rr
        noise = max(ee - alpha * re, 0.0)
        return float(10 * np.log10(max(target, 1e-12) / max(noise, 1e-12)))


class _LogMel:
    """log10 mel frames (16 kHz, n_fft 400, hop 160, reflect-padded by 200 at both ends) of a signal pushed in
    pieces at `rate`: the resampler reads its context across pieces, so the frames equal those of the whole."""

    def __init__(self, rate: int) -> None:
        from studio.audio.mel import HOP_LENGTH, N_FFT

        self.rate, self.hop, self.n_fft = rate, HOP_LENGTH, N_FFT
        g = math.gcd(rate, 16000)
        self.p_in, self.p_out = rate // g, 16000 // g
        self.ctx = resample_context(rate, 16000)
        self.raw = np.zeros(0, np.float32)  # left context (self.lead samples), then input not yet resampled
        self.lead = 0
        self.x16 = np.zeros(0, np.float32)  # 16 kHz samples from the next frame's start on
        self.started = False  # the left reflection is in place
        self.tail = np.zeros(0, np.float32)  # the last 16 kHz samples, for the right reflection
        self.n16 = 0
        self.frames = 0

    def push(self, x: np.ndarray) -> Tensor:
        self.raw = np.concatenate([self.raw, x.astype(np.float32, copy=False)])
        ready = max(0, (len(self.raw) - self.lead - self.ctx) // self.p_in * self.p_in)  # has right context
        if ready == 0:
            return self._frames(np.zeros(0, np.float32), False)
        y = resample(self.raw[: self.lead + ready + self.ctx], self.rate, 16000) if self.p_in != self.p_out \
            else self.raw[: self.lead + ready]
        out = y[self.lead // self.p_in * self.p_out: (self.lead + ready) // self.p_in * self.p_out]
        keep = min(self.ctx, self.lead + ready)
        self.raw, self.lead = self.raw[self.lead + ready - keep:], keep
        return self._frames(out, False)

    def finish(self) -> Tensor:
        y = resample(self.raw, self.rate, 16000) if self.p_in != self.p_out else self.raw
        return self._frames(y[self.lead // self.p_in * self.p_out:], True)

    def _frames(self, y: np.ndarray, last: bool) -> Tensor:
        from studio.audio.mel import log10_mel_frames

        self.n16 += len(y)
        self.tail = np.concatenate([self.tail, y])[-(self.n_fft // 2 + 1):]
        half = self.n_fft // 2
        self.x16 = np.concatenate([self.x16, y])
        if not self.started:
            if not last and len(self.x16) <= self.n_fft:
                return torch.zeros(80, 0)
            if self.n16 <= self.n_fft:  # as one pass does for very short signals: one frame of silence
                self.x16 = np.zeros(self.n_fft + 1, np.float32)
                last = False
            else:
                self.x16 = np.concatenate([self.x16[1: half + 1][::-1], self.x16])
            self.started = True
        if last:
            self.x16 = np.concatenate([self.x16, self.tail[-half - 1: -1][::-1]])
        n = (len(self.x16) - self.n_fft) // self.hop + 1 if len(self.x16) >= self.n_fft else 0
        if n <= 0:
            return torch.zeros(80, 0)
        out = log10_mel_frames(torch.from_numpy(np.ascontiguousarray(self.x16[: (n - 1) * self.hop + self.n_fft])))
        self.x16 = self.x16[n * self.hop:]
        self.frames += n
        return out


def read_model_input(model: Encodec, source: str | os.PathLike,
                     block_seconds: float = BLOCK_S) -> tuple[int, Iterator[np.ndarray]]:
    """(expected samples at the model's rate, blocks (channels, samples)) of an audio file, read in blocks: the
    stereo model gets the file's first two channels (or mono twice), the mono model their mean."""
    info = probe(source)
    rate = model.cfg.sample_rate
    expected = -(-info.frames * rate // info.sample_rate)
    stereo = model.cfg.channels == 2 and info.channels >= 2
    return expected, iter_blocks(info.path, rate, block_seconds, mono=not stereo)


def encode_blocks(model: Encodec, blocks: Iterable[np.ndarray], bandwidth: float, expected: int = 0,
                  progress: Progress = lambda f, m: None, check: Callable[[], None] = lambda: None,
                  block_seconds: float = BLOCK_S) -> Iterator[Coded]:
    """Pieces of codes for audio read block by block; progress is the fraction of `expected` samples coded."""
    enc = StreamEncoder(model, bandwidth, block_seconds)
    rate = model.cfg.sample_rate
    for block in blocks:
        check()
        for piece in enc.push(block):
            yield piece
            if expected:
                done = piece.start + piece.audio.shape[-1]
                progress(min(0.99, done / expected), f"Encoding… {_clock(done / rate)} of {_clock(expected / rate)}")
    check()
    yield from enc.finish()


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def encode_audio(model: Encodec, wav: np.ndarray, bandwidth: float,
                 check: Callable[[], None] = lambda: None) -> tuple[np.ndarray, list[float] | None]:
    """Samples at the model's rate (mono, or (channels, samples)) -> codes (n_q, frames) and chunk scales."""
    step = 1 << 20
    blocks = (wav[..., i: i + step] for i in range(0, wav.shape[-1], step))
    pieces = list(encode_blocks(model, blocks, bandwidth, check=check))
    codes = torch.cat([p.codes for p in pieces], dim=-1).numpy()
    scales = [p.scale for p in pieces if p.scale is not None]
    return codes, (scales if model.cfg.segment is not None else None)  # type: ignore[return-value]


def iter_decode(model: Encodec, codes: np.ndarray, scales: list[float] | None, length: int | None,
                k: int | None = None, progress: Progress = lambda f, m: None,
                check: Callable[[], None] = lambda: None, block_seconds: float = BLOCK_S) -> Iterator[np.ndarray]:
    """Codes of the first k codebooks -> audio blocks (channels, samples), decoded piece by piece."""
    k = k or codes.shape[0]
    hop, frames = model.cfg.hop_length, codes.shape[1]
    length = length or frames * hop
    dec = StreamDecoder(model, length)
    if model.cfg.segment is None:
        step = max(1, int(block_seconds * model.cfg.frame_rate))
        pieces = [(s, s + step, None) for s in range(0, frames, step)]
    else:
        bounds = np.cumsum([0, *model.chunk_frames(length)])
        pieces = [(int(a), int(b), None if scales is None else scales[i])
                  for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))]
    rate = model.cfg.sample_rate
    for a, b, scale in pieces:
        check()
        yield dec.push(np.ascontiguousarray(codes[:k, a:b]), scale)
        progress(min(0.99, b / max(1, frames)), f"Decoding… {_clock(a * hop / rate)} of {_clock(length / rate)}")
    yield dec.finish()


def decode_codes(model: Encodec, codes: np.ndarray, scales: list[float] | None, length: int | None,
                 k: int | None = None, check: Callable[[], None] = lambda: None) -> np.ndarray:
    """Codes of the first k codebooks -> (channels, samples)."""
    return np.concatenate(list(iter_decode(model, codes, scales, length, k, check=check)), axis=-1)


# what `decode_to_file` writes, by suffix: container and default sample format
AUDIO_FORMATS = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"), ".ogg": ("OGG", "VORBIS")}


def decode_to_file(model: Encodec, codes: np.ndarray, scales: list[float] | None, length: int | None,
                   path: str | os.PathLike, k: int | None = None, subtype: str | None = None,
                   progress: Progress = lambda f, m: None, check: Callable[[], None] = lambda: None) -> int:
    """Decode block by block straight into `path` (.wav/.flac/.ogg): a temporary file beside it, renamed into place
    only when complete, so neither the audio nor a partial file outlives an error or a cancel. Returns samples."""
    import soundfile as sf

    from studio.errors import StudioError
    from studio.outputs import atomic_output

    fmt, default = AUDIO_FORMATS[Path(path).suffix.lower()]
    subtype = subtype or default
    written = 0
    with atomic_output(path) as f:
        try:  # libsndfile writes to the descriptor itself and reports its own errors (a full disk among them)
            with sf.SoundFile(f.fileno(), "w", model.cfg.sample_rate, model.cfg.channels, subtype, format=fmt,
                              closefd=False) as out:
                for block in iter_decode(model, codes, scales, length, k, progress, check):
                    if subtype != "FLOAT":  # integer formats wrap what lies beyond full scale: clip it instead
                        block = np.clip(block, -1.0, 1.0)
                    out.write(block.T)
                    written += block.shape[-1]
        except (sf.LibsndfileError, AssertionError) as e:  # soundfile asserts that every frame was written
            import shutil

            free = shutil.disk_usage(Path(path).parent if str(Path(path).parent) else ".").free
            why = "the disk is full" if free < (1 << 20) else (str(e).rstrip(".") or "the disk took only part of it")
            raise StudioError(f"Cannot write '{path}': {why}.",
                              "Free some space or choose another folder.") from e
    return written


class _StageQuality:
    """SI-SNR, mel distance and latent residual energy of the reconstructions from k = 1..n_q codebooks on the
    first `n` samples, accumulated piece by piece: one streaming decoder per k, running sums, no waveform held."""

    def __init__(self, model: Encodec, n_q: int, n: int) -> None:
        self.model, self.n_q, self.n = model, n_q, n
        rate = model.cfg.sample_rate
        self.decoders = [StreamDecoder(model, n) for _ in range(n_q)]
        self.snr = [_SiSnr() for _ in range(n_q)]
        self.ref_mel, self.mels = _LogMel(rate), [_LogMel(rate) for _ in range(n_q)]
        self.mel_sum = [0.0] * n_q
        self.ref = np.zeros(0, np.float32)  # reference samples not yet matched by reconstructions
        self.fed = 0  # reference samples taken
        self.res = np.zeros(n_q)  # residual energy after each stage (24 kHz), summed over frames
        self.latent = 0.0
        self.frames = -(-n // model.cfg.hop_length)
        self.seen_frames = 0
        self.open = True

    def add(self, piece: Coded) -> None:
        if not self.open:
            return
        if piece.start >= self.n:  # pieces only move on: nothing later reaches the excerpt
            self.close()
            return
        take = max(0, min(piece.audio.shape[-1], self.n - self.fed))
        self.ref = np.concatenate([self.ref, piece.audio[:, :take].mean(0)])
        self.fed += take
        if piece.latent is not None:
            self._residuals(piece.codes, piece.latent)
        self._compare([d.push(piece.codes[: k + 1], piece.scale) for k, d in enumerate(self.decoders)])

    def close(self) -> None:
        if not self.open:
            return
        self.open = False
        self._compare([d.finish(self.n) for d in self.decoders])
        ref_tail = self.ref_mel.finish()
        for k in range(self.n_q):
            self.mel_sum[k] += float((ref_tail - self.mels[k].finish()).abs().sum())

    def _residuals(self, codes: Tensor, latent: Tensor) -> None:
        t = max(0, min(latent.shape[-1], self.frames - self.seen_frames))
        self.seen_frames += t
        z = latent[:, :t].double()
        self.latent += float(z.pow(2).sum())
        with torch.inference_mode():
            residual = latent[:, :t].T
            for k in range(self.n_q):
                residual = residual - self.model.quantizer.layers[k].decode(codes[k, :t])  # type: ignore[operator]
                self.res[k] += float(residual.double().pow(2).sum())

    def _compare(self, recs: list[np.ndarray]) -> None:
        """Reconstructions of the same samples, one per k, against the reference samples they cover."""
        m = min(len(self.ref), *(r.shape[-1] for r in recs))
        if m == 0:
            return
        ref, self.ref = self.ref[:m], self.ref[m:]
        ref_frames = self.ref_mel.push(ref)
        for k, rec in enumerate(recs):
            mono = rec[:, :m].mean(0)
            self.snr[k].add(ref, mono)
            self.mel_sum[k] += float((ref_frames - self.mels[k].push(mono)).abs().sum())

    def stages(self) -> list[StageQuality]:
        self.close()
        cells = max(1, self.ref_mel.frames * 80)
        energy = [float(r / self.latent) if self.latent > 0 else float("nan") for r in self.res]
        if self.model.cfg.segment is not None:
            energy = [float("nan")] * self.n_q
        return [StageQuality(k + 1, self.snr[k].value(), self.mel_sum[k] / cells, energy[k])
                for k in range(self.n_q)]


def analyze(model: Encodec, source: str | os.PathLike, bandwidth: float = 6.0,
            progress: Progress = lambda f, m: None, check: Callable[[], None] = lambda: None,
            stats_seconds: float = STATS_SECONDS, block_seconds: float = BLOCK_S) -> CodecAnalysis:
    """Encode a file block by block and measure every codebook; reconstructions k = 1..n_q on the first
    `stats_seconds`. Memory stays bounded by the block (plus the codes: 2 bytes per code while coding)."""
    rate = model.cfg.sample_rate
    progress(0.0, "Reading audio…")
    expected, blocks = read_model_input(model, source, block_seconds)
    n_q = model.cfg.n_q_for(bandwidth)
    quality = _StageQuality(model, n_q, min(expected, int(stats_seconds * rate)))
    usage = np.zeros((n_q, model.cfg.bins), np.int64)
    parts: list[np.ndarray] = []
    scales: list[float] = []
    length = 0
    for piece in encode_blocks(model, blocks, bandwidth, expected, progress, check, block_seconds):
        codes = piece.codes.numpy()
        parts.append(codes.astype(np.int16))  # 10-bit codes: a quarter of the memory while the file is read
        for k in range(n_q):
            usage[k] += np.bincount(codes[k], minlength=model.cfg.bins)
        if piece.scale is not None:
            scales.append(piece.scale)
        length = piece.start + piece.audio.shape[-1]
        quality.add(piece)
    progress(0.99, "Measuring each codebook…")
    all_codes = np.concatenate(parts, axis=1).astype(np.int64)
    del parts
    result = CodecAnalysis(os.fspath(source), model_name(model), rate, model.cfg.frame_rate, bandwidth, all_codes,
                           scales if model.cfg.segment is not None else None, length)
    result.codebooks = stats_from_usage(usage, all_codes.shape[1], model.cfg.frame_rate)
    result.stages = quality.stages()
    progress(1.0, "Done")
    return result


__all__ = ["AUDIO_FORMATS", "BLOCK_S", "STATS_SECONDS", "Coded", "StreamDecoder", "StreamEncoder", "analyze",
           "codebook_stats", "decode_codes", "decode_to_file", "encode_audio", "encode_blocks", "iter_decode",
           "mel_distance", "model_name", "read_model_input", "si_snr"]
