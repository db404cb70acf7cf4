"""The codec run block by block, so memory is bounded by one block whatever the length of the audio.

The causal 24 kHz model runs with every layer's state carried from one block to the next (the last input samples
of each convolution, the LSTM's hidden state, the overlapping tail of each transposed convolution): codes and audio
equal one pass over the whole signal, up to float rounding. The 48 kHz model codes 1 s chunks (1 % overlap) on their
own, as the `encodec` package does; they are coded and cross-faded in the same order, so the result is the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from studio.models.encodec import (
    Conv,
    ConvTranspose,
    Elu,
    Encodec,
    LSTMBlock,
    ResBlock,
    _as_image,
    _from_image,
    _image_weight,
    _pad_time,
    elu,
)

BLOCK_S = 3.0  # seconds of audio per block: the encoder's activations for 3 s take about 200 MB


class _CausalStream:
    """A causal SEANet encoder or decoder (24 kHz: no GroupNorm) run block by block with each layer's state
    carried over. Every block but the last holds a whole number of the network's total stride."""

    def __init__(self, net: torch.nn.Module) -> None:
        self.net = net
        self.state: dict[int, object] = {}
        self.last = False

    def __call__(self, x: Tensor, last: bool = False) -> Tensor:
        """(B, C, T) -> (B, C', T')."""
        self.last = last
        h = x.transpose(1, 2).contiguous()
        for layer in self.net.layers:  # type: ignore[union-attr]
            h = self._run(layer, h)
        return h.transpose(1, 2)

    def _run(self, m: torch.nn.Module, x: Tensor) -> Tensor:
        if isinstance(m, Conv):
            return self._conv(m, x)
        if isinstance(m, ConvTranspose):
            return self._conv_transpose(m, x)
        if isinstance(m, ResBlock):
            y = self._conv(m.block["3"], elu(self._conv(m.block["1"], elu(x))))  # type: ignore[arg-type]
            return self._conv(m.shortcut, x) + y
        if isinstance(m, LSTMBlock):
            xt = x.transpose(0, 1).contiguous()
            y, self.state[id(m)] = m.lstm(xt, self.state.get(id(m)))
            return (y + xt).transpose(0, 1).contiguous()
        if isinstance(m, Elu):
            return elu(x)
        raise TypeError(f"cannot stream {type(m).__name__}")

    def _conv(self, m: Conv, x: Tensor) -> Tensor:
        k, s, d = m.conv.kernel_size[0], m.conv.stride[0], m.conv.dilation[0]
        total = (k - 1) * d - (s - 1)
        prev = self.state.get(id(m))
        # the first block reflects its start as one pass does; later ones read the previous block's last samples
        full = x if prev is None else torch.cat([prev, x], 1)  # type: ignore[list-item]
        padded = _pad_time(x, total, 0) if prev is None else full
        if self.last and -x.shape[1] % s:  # the completing pad, as one pass computes it for the whole length
            padded = _pad_time(padded, 0, -x.shape[1] % s)
        self.state[id(m)] = full[:, full.shape[1] - total:].clone()  # a view would keep the whole block alive
        return _from_image(F.conv2d(_as_image(padded), _image_weight(m.conv), m.conv.bias, (1, s), dilation=(1, d)))

    def _conv_transpose(self, m: ConvTranspose, x: Tensor) -> Tensor:
        k, s = m.conv.kernel_size[0], m.conv.stride[0]
        y = _from_image(F.conv_transpose2d(_as_image(x), _image_weight(m.conv), None, (1, s)))
        tail = self.state.get(id(m))
        if tail is not None:  # the previous block's overlap; the causal model trims it only after the last frame
            y[:, : k - s] += tail  # type: ignore[operator]
        n = x.shape[1] * s
        self.state[id(m)] = y[:, n:].clone()
        return y[:, :n] + m.conv.bias


@dataclass
class Coded:
    """What the encoder gives for a piece of audio."""
    codes: Tensor  # (n_q, frames)
    latent: Tensor | None  # (D, frames) before quantization (24 kHz), for the residual energy per stage
    scale: float | None  # the chunk's volume scale (48 kHz)
    start: int  # the piece's first sample in the audio
    audio: np.ndarray  # (channels, samples): the samples this piece starts to cover that earlier pieces did not


class StreamEncoder:
    """Audio (channels, samples) pushed in blocks of any length -> pieces of codes equal to `model.encode` of the
    whole signal. 24 kHz: one piece per block; 48 kHz: one per 1 s chunk."""

    def __init__(self, model: Encodec, bandwidth: float, block_seconds: float = BLOCK_S) -> None:
        self.model, self.n_q = model, model.cfg.n_q_for(bandwidth)
        hop = model.cfg.hop_length
        self.block = max(1, int(block_seconds * model.cfg.sample_rate) // hop) * hop
        self.buf = np.zeros((model.cfg.channels, 0), np.float32)
        self.offset = 0  # the buffer's first sample in the audio
        self.covered = 0  # samples handed out with a piece
        self.stream = _CausalStream(model.encoder) if model.cfg.segment is None else None
        self.started = False

    def push(self, wav: np.ndarray) -> list[Coded]:
        self.buf = np.concatenate([self.buf, to_model_input(wav, self.model.cfg.channels)], axis=1)
        out = []
        if self.stream is not None:
            while self.buf.shape[1] >= self.block:
                out.append(self._block(self.block, last=False))
        else:
            seg = self.model.cfg.segment_length or 1
            while self.buf.shape[1] >= seg:
                out.append(self._chunk(seg))
        return out

    def finish(self) -> list[Coded]:
        out = []
        if self.stream is not None:
            if self.buf.shape[1]:
                out.append(self._block(self.buf.shape[1], last=True))
        else:
            while self.buf.shape[1]:
                out.append(self._chunk(self.buf.shape[1]))
        return out

    @torch.inference_mode()
    def _block(self, n: int, last: bool) -> Coded:
        x = torch.from_numpy(self.buf[:, :n])[None]
        if not self.started and last:  # the whole signal in one block: exactly one pass
            z = self.model.encoder(x)
        else:
            z = self.stream(x, last)  # type: ignore[misc]
        self.started = True
        codes = self.model.quantizer.encode(z, self.n_q)[0]
        return self._piece(codes, z[0], None, n, n)

    @torch.inference_mode()
    def _chunk(self, n: int) -> Coded:
        """The chunk at the buffer's start (n samples), then on by the chunk stride, as `Encodec.encode` cuts."""
        seg = self.model.cfg.segment_length or n
        codes, scale = self.model.encode_chunk(torch.from_numpy(self.buf[:, :seg])[None], self.n_q)
        stride = min(self.model.cfg.segment_stride or n, n)
        return self._piece(codes[0], None, None if scale is None else float(scale[0]), stride, min(n, seg))

    def _piece(self, codes: Tensor, latent: Tensor | None, scale: float | None, advance: int, seen: int) -> Coded:
        new = self.buf[:, self.covered - self.offset: seen]
        piece = Coded(codes, latent, scale, self.offset, new.copy())
        self.covered = max(self.covered, self.offset + seen)
        self.buf, self.offset = self.buf[:, advance:], self.offset + advance
        return piece


class StreamDecoder:
    """Codes pushed in pieces -> audio (channels, samples) blocks equal to `model.decode` of all of them.
    24 kHz: any number of frames per push; 48 kHz: one chunk (its frames and scale) per push, cross-faded."""

    def __init__(self, model: Encodec, length: int | None = None) -> None:
        self.model = model
        self.length = length  # samples of the original: output stops there
        self.done = 0
        self.stream = _CausalStream(model.decoder) if model.cfg.segment is None else None
        stride = model.cfg.segment_stride or 1
        self.stride, self.chunks = stride, 0
        self.acc = torch.zeros(model.cfg.channels, 0)
        self.weight_sum = torch.zeros(0)
        self.weight: Tensor | None = None
        self.acc_start = 0

    @torch.inference_mode()
    def push(self, codes: Tensor | np.ndarray, scale: float | None = None) -> np.ndarray:
        c = torch.as_tensor(codes)[None]
        if self.stream is not None:
            return self._emit(self.stream(self.model.quantizer.decode(c))[0])
        frame = self.model.decoder(self.model.quantizer.decode(c))[0]
        if scale is not None:
            frame = frame * scale
        if self.weight is None:  # one triangle for the first chunk's length, as `overlap_add` cuts it
            t = torch.linspace(0, 1, frame.shape[-1] + 2, dtype=frame.dtype)[1:-1]
            self.weight = 0.5 - (t - 0.5).abs()
        offset, n = self.chunks * self.stride - self.acc_start, frame.shape[-1]
        if offset + n > self.acc.shape[-1]:
            grow = offset + n - self.acc.shape[-1]
            self.acc = torch.cat([self.acc, self.acc.new_zeros(self.acc.shape[0], grow)], -1)
            self.weight_sum = torch.cat([self.weight_sum, self.weight_sum.new_zeros(grow)])
        self.acc[:, offset: offset + n] += self.weight[:n] * frame
        self.weight_sum[offset: offset + n] += self.weight[:n]
        self.chunks += 1
        return self._flush(self.chunks * self.stride - self.acc_start)  # later chunks start after this

    def finish(self, upto: int | None = None) -> np.ndarray:
        """The rest (48 kHz: the cross-faded tail; with `upto`, only samples before it, when no chunk starting
        before `upto` is left out)."""
        if self.stream is not None:
            return np.zeros((self.model.cfg.channels, 0), np.float32)
        end = self.acc.shape[-1] if upto is None else max(0, min(self.acc.shape[-1], upto - self.acc_start))
        return self._flush(end)

    def _flush(self, n: int) -> np.ndarray:
        n = max(0, min(n, self.acc.shape[-1]))
        out = self.acc[:, :n] / self.weight_sum[:n]
        self.acc, self.weight_sum, self.acc_start = self.acc[:, n:], self.weight_sum[n:], self.acc_start + n
        return self._emit(out)

    def _emit(self, audio: Tensor) -> np.ndarray:
        if self.length is not None:
            audio = audio[:, : max(0, self.length - self.done)]
        self.done += audio.shape[-1]
        return audio.numpy()


def to_model_input(wav: np.ndarray, channels: int) -> np.ndarray:
    """(channels, samples) for the model: mono is duplicated for stereo models, stereo averaged for mono; a file
    with more channels than a stereo model takes gives it its first two (as the 48 kHz model was always fed)."""
    wav = wav[None] if wav.ndim == 1 else wav
    if channels == 2 and wav.shape[0] > 2:
        wav = wav[:2]
    if wav.shape[0] != channels:
        wav = np.repeat(wav.mean(0, keepdims=True), channels, axis=0)
    return np.ascontiguousarray(wav, np.float32)
