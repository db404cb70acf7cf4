"""One transformer layer's features for a whole recording, at 50 frames/s, in blocks of bounded memory.

A block is `block_s` of frames plus `context_s` on each side that the transformer sees and we drop; a file of
up to `block_s + 2 * context_s` (80 s) is one pass. Two things
make blocks agree with one pass over the file: the input is normalised with the whole file's mean and variance
(as the checkpoint's preprocessing does for one input), and the first convolution's GroupNorm uses the whole
file's statistics (SpeechEncoder.conv_stats). Blocks start on a frame's first sample, so the convolutional
features of every frame are exactly those of one pass; what differs is attention beyond the context.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import torch

from studio.errors import JobCancelled, StudioError
from studio.hub.hubert_weights import LoadedEncoder
from studio.models.hubert import SAMPLE_RATE

BLOCK_S = 60.0
CONTEXT_S = 10.0


@dataclass(frozen=True)
class FeatureBlock:
    first_frame: int
    features: torch.Tensor  # (frames, dim) float32


def check_layer(loaded: LoadedEncoder, layer: int) -> None:
    n = loaded.model.cfg.num_hidden_layers
    if not 0 <= layer <= n:
        raise StudioError(f"{loaded.name} has layers 0 (the transformer's input) to {n}; layer {layer} does not "
                          "exist.", f"Choose a layer from 0 to {n} (6 is the usual one for HuBERT base units).")


def normalised_input(wave: np.ndarray, loaded: LoadedEncoder) -> torch.Tensor:
    """16 kHz mono samples -> the model's input: float32, zero mean and unit variance where the checkpoint says."""
    cfg = loaded.model.cfg
    if wave.ndim != 1:
        raise ValueError("expected mono samples")
    if wave.shape[0] < cfg.receptive_field:
        raise StudioError(f"The audio is {1000 * wave.shape[0] / SAMPLE_RATE:.1f} ms long, shorter than one frame "
                          f"of the model ({1000 * cfg.receptive_field / SAMPLE_RATE:.0f} ms).",
                          "Record or choose a longer piece of audio.")
    x = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
    if loaded.normalize:
        mean = float(x.double().mean())
        var = float(x.double().var(unbiased=False))
        x = (x - mean) / float(np.sqrt(var + 1e-7))  # the feature extractor's epsilon
    return x


def frame_count(samples: int, loaded: LoadedEncoder) -> int:
    return loaded.model.cfg.frames(samples)


@torch.inference_mode()
def iter_features(wave: np.ndarray, loaded: LoadedEncoder, layer: int, block_s: float = BLOCK_S,
                  context_s: float = CONTEXT_S, progress: Callable[[float], None] | None = None,
                  cancel: threading.Event | None = None) -> Iterator[FeatureBlock]:
    """Blocks of layer `layer`'s hidden states, in order, covering every frame once. The convolutions run once
    per frame: a block's context that the last block computed is kept, not computed again."""
    check_layer(loaded, layer)
    model, cfg = loaded.model, loaded.model.cfg
    x = normalised_input(wave, loaded)
    total = cfg.frames(x.shape[0])
    rate = SAMPLE_RATE / cfg.hop
    core, ctx = max(1, round(block_s * rate)), max(0, round(context_s * rate))
    if total <= core + 2 * ctx:  # one pass, every sample, as a plain call would (GroupNorm counts the tail)
        yield FeatureBlock(0, model(x[None], layer=layer).hidden_states[layer][0].float().contiguous())
        if progress is not None:
            progress(1.0)
        return
    stats = model.conv_stats(x)
    conv = torch.zeros(0, cfg.conv_dim[-1])
    conv_lo = conv_hi = 0  # the frames `conv` holds
    done = 0
    while done < total:
        if cancel is not None and cancel.is_set():
            raise JobCancelled()
        end = min(total, done + core)
        lo, hi = max(0, done - ctx), min(total, end + ctx)
        conv, conv_lo = conv[lo - conv_lo:], lo
        start = max(conv_hi, lo)
        if start < hi:
            new = model.conv_features(x[None, start * cfg.hop:(hi - 1) * cfg.hop + cfg.receptive_field], stats)[0]
            if new.shape[0] != hi - start:  # the block arithmetic and the convolution cascade must agree
                raise RuntimeError(f"frames {start}..{hi} gave {new.shape[0]}")
            conv, conv_hi = torch.cat([conv, new]), hi
        out = model.transform(conv[None], layer=layer).hidden_states[layer][0]
        yield FeatureBlock(done, out[done - lo:end - lo].float().contiguous())
        done = end
        if progress is not None:
            progress(done / total)


def extract_features(wave: np.ndarray, loaded: LoadedEncoder, layer: int, block_s: float = BLOCK_S,
                     context_s: float = CONTEXT_S, progress: Callable[[float], None] | None = None,
                     cancel: threading.Event | None = None) -> np.ndarray:
    """(frames, dim) float32 features of layer `layer` for the whole recording."""
    blocks = [b.features for b in iter_features(wave, loaded, layer, block_s, context_s, progress, cancel)]
    return torch.cat(blocks).numpy()


class NpyRows:
    """A float32 (rows, dim) .npy written into an open binary file block by block: the header first (the row
    count is known before the features are), then each block's bytes, so hours of features never sit in memory."""

    def __init__(self, fh: BinaryIO, rows: int, dim: int) -> None:
        self.fh, self.rows, self.dim, self.written = fh, rows, dim, 0
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False, "shape": (rows, dim)})

    def __call__(self, block: np.ndarray) -> None:
        if block.ndim != 2 or block.shape[1] != self.dim or self.written + block.shape[0] > self.rows:
            raise RuntimeError(f"block {block.shape} does not fit ({self.written} of {self.rows} x {self.dim})")
        self.fh.write(np.ascontiguousarray(block, dtype="<f4").tobytes())
        self.written += block.shape[0]

    def finish(self) -> None:
        if self.written != self.rows:
            raise RuntimeError(f"wrote {self.written} of {self.rows} rows")
