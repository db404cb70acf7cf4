"""Single-row products on a CPU at memory speed. A decoder step multiplies one row by each weight matrix: a
(1, in) @ (in, out) product that MKL runs reading the weights on one thread, at about half the memory bandwidth
two threads reach. Cut the weight into its two row halves (views, no copy) and the same product becomes one
batched product that both threads stream. Used by the Whisper, BLIP and VALL-E decoders; pure torch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

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
    # matrix measured 4-5x slower on the vocabulary
    cols = x.reshape(1, rows, in_f).expand(2, rows, in_f).transpose(1, 2)
    halves = weight.view(2, out_f // 2, in_f)
    y = torch.bmm(halves, cols) if bias is None else torch.baddbmm(bias.view(2, -1, 1), halves, cols)
    return y.permute(2, 0, 1).reshape(*x.shape[:-1], out_f)


def linear(layer: nn.Module, x: Tensor) -> Tensor:
    """`layer(x)`, through row_product for a plain nn.Linear on one row (int8 layers run as they are)."""
    if type(layer) is nn.Linear:
        y = row_product(x, layer.weight, layer.bias)
        if y is not None:
            return y
    return layer(x)
