"""Few-row products on a CPU at memory speed. A decoder step multiplies one row (or one per beam) by each weight
matrix. On this project's 2-core AMD EPYC, MKL runs that (1, in) @ (in, out) product at about half the memory
bandwidth two threads reach; cut the weight into its two row halves (views, no copy) and the same product, as one
batched product, runs 2x faster. On an Intel Xeon (the GPU machine's CPU) it is the other way round: the plain
product is 2x faster at every thread count. So `split_pays()` measures both once per process and thread count
(about 50 ms) and the decoders take the split only where it won. Used by the Whisper, BLIP and VALL-E decoders;
pure torch."""

from __future__ import annotations

import logging
import os

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from studio.models.measured import best_time, clearly_faster
from studio.models.onednn import onednn_product

log = logging.getLogger(__name__)
_pays: dict[int, bool] = {}  # thread count -> whether the split measured faster here


def split_pays() -> bool:
    """Whether row_product beats F.linear on this CPU at the current thread count (measured once; the environment
    variable VOICE_STUDIO_ROW_SPLIT=1 or 0 decides instead)."""
    forced = os.environ.get("VOICE_STUDIO_ROW_SPLIT")
    if forced in ("0", "1"):
        return forced == "1"
    threads = torch.get_num_threads()
    if threads not in _pays:
        _pays[threads] = _measure()
    return _pays[threads]


def measure() -> tuple[float, float]:
    """(plain, split) seconds, best of 5 each, on a 64 MB weight (past the caches, as a decoder step's weights
    are)."""
    w = torch.full((16384, 1024), 0.5)  # the values do not matter to the time; filling is quicker than drawing
    x = torch.full((1, 1024), 0.25)
    with torch.inference_mode():
        return best_time(lambda: F.linear(x, w), 5), best_time(lambda: row_product(x, w, None), 5)


split_wins = clearly_faster  # (plain, split): the split must win by 20 %


def _measure() -> bool:
    plain, split = measure()
    log.info("few-row products: plain %.2f ms, split %.2f ms at %d threads", plain * 1e3, split * 1e3,
             torch.get_num_threads())
    return split_wins(plain, split)


MAX_ROWS = 8  # a decoder step's rows (beams); past this the plain product is a real matrix product


def row_product(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor | None:
    """x (..., in) holding at most MAX_ROWS rows, on a CPU: x @ weight.T (+ bias) as one batched product over the
    two halves of `weight` (row-major views, no copy), so both threads stream the weights; a few-row product reads
    them on one (measured, cold caches, 2 threads: a (1, 384) row by the 51864-row vocabulary 5.5 -> 1.3 ms,
    three rows by BLIP's 30524 x 768 19 -> 2.6 ms). None when it does not apply; equal to F.linear within float
    rounding."""
    out_f, in_f = weight.shape[0], weight.shape[-1]
    rows = x.numel() // max(1, in_f)
    if (x.device.type != "cpu" or not 1 <= rows <= MAX_ROWS or x.shape[-1] != in_f or out_f < 2
            or x.dtype != weight.dtype or not weight.is_contiguous()):
        return None
    if out_f % 2:  # an odd vocabulary (51865, multilingual): the even part so, the last row on its own
        head = row_product(x, weight[:-1], None if bias is None else bias[:-1])
        last = F.linear(x, weight[-1:], None if bias is None else bias[-1:])
        return torch.cat([head, last], dim=-1)  # type: ignore[list-item]
    # the rows given as a transposed matrix (strides 0, 1, in_f): MKL's fast kernel here; a contiguous (in_f, rows)
    # matrix measured 4-5x slower on the vocabulary. One as_strided instead of reshape/expand/transpose: a decoder
    # step makes 28 of these products, and its views were most of its 365 tensor operations.
    if x.is_contiguous():
        cols = x.as_strided((2, in_f, rows), (0, 1, in_f), x.storage_offset())
    else:
        cols = x.reshape(1, rows, in_f).expand(2, rows, in_f).transpose(1, 2)
    halves = weight.view(2, out_f // 2, in_f)
    y = torch.bmm(halves, cols) if bias is None else torch.baddbmm(bias.view(2, -1, 1), halves, cols)
    if rows == 1:  # (2, out_f / 2, 1) is already the row, in order
        return y.view(*x.shape[:-1], out_f)
    # contiguous: with several rows the permuted view has a last-dimension stride of `rows`, and strided inputs
    # sent the next attention to SDPA's slow math path (which also rescales all 1500 cross keys every step)
    return y.permute(2, 0, 1).reshape(*x.shape[:-1], out_f).contiguous()


def split_product(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor | None:
    """row_product where it applies and measured faster on this CPU, else None."""
    if x.device.type != "cpu" or x.numel() > MAX_ROWS * x.shape[-1] or not split_pays():
        return None
    return row_product(x, weight, bias)


def linear(layer: nn.Module, x: Tensor) -> Tensor:
    """`layer(x)`, for a plain nn.Linear on a CPU through split_product on a few rows or oneDNN on many, where each
    measured faster (int8 layers run as they are)."""
    if type(layer) is nn.Linear:
        y = split_product(x, layer.weight, layer.bias)
        if y is None:
            y = onednn_product(x, layer.weight, layer.bias)
        if y is not None:
            return y
    return layer(x)
