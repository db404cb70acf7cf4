"""Many-row float32 products on a CPU through oneDNN instead of MKL. torch sends a float32 nn.Linear to MKL's sgemm;
on this project's AMD EPYC (Zen 5, AVX-512) MKL runs about 200 GFLOP/s at 2 threads, oneDNN's matmul on the
same weight about 490 (Whisper's 1500 x 384 x 1536 products; tiny.en's encoder per 30 s window 215 -> 164 ms,
outputs equal within 1e-6 relative). On an Intel CPU MKL may well be the faster one, so `onednn_pays()` measures
both once per process and thread count (about 10 ms) and products take oneDNN only where it won. The weight is
used as it is: a pre-packed copy measured no faster. Pure torch (its bundled oneDNN, `torch.ops.mkldnn`)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from studio.models.measured import best_time, clearly_faster

log = logging.getLogger(__name__)
MIN_ROWS = 9  # fewer rows: a decoder step, memory bound (studio.models.rowmatmul's split serves those)
_pays: dict[int, bool] = {}  # thread count -> whether oneDNN measured faster here


def _op() -> Callable[..., Tensor] | None:
    try:
        return torch.ops.mkldnn._linear_pointwise  # the op torch's own compiler uses for CPU linears
    except (AttributeError, RuntimeError):  # a build without oneDNN
        return None


def _run(op: Callable[..., Tensor], x2d: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    return op(x2d, weight, bias, "none", [], "")


def measure() -> tuple[float, float] | None:
    """(MKL, oneDNN) seconds, best of 3 each, for a (256, 384) x (384, 1536) product; None where oneDNN cannot
    run it."""
    op = _op()
    if op is None or not torch.backends.mkldnn.is_available():
        return None
    x, w, b = torch.full((256, 384), 0.25), torch.full((1536, 384), 0.5), torch.zeros(1536)
    with torch.inference_mode():
        try:
            if not torch.allclose(_run(op, x, w, b), F.linear(x, w, b)):
                return None
        except RuntimeError:
            return None
        return best_time(lambda: F.linear(x, w, b), 3), best_time(lambda: _run(op, x, w, b), 3)


onednn_wins = clearly_faster  # (MKL, oneDNN): oneDNN must win by 20 %


def onednn_pays() -> bool:
    """Whether many-row float32 products go to oneDNN on this CPU at the current thread count (measured once; the
    environment variable VOICE_STUDIO_ONEDNN=1 or 0 decides instead)."""
    forced = os.environ.get("VOICE_STUDIO_ONEDNN")
    if forced == "0":
        return False
    threads = torch.get_num_threads()
    if threads not in _pays:
        times = measure()
        if times is None:
            _pays[threads] = False
        else:
            log.info("float32 products: MKL %.2f ms, oneDNN %.2f ms at %d threads", times[0] * 1e3, times[1] * 1e3,
                     threads)
            _pays[threads] = forced == "1" or onednn_wins(*times)
    return _pays[threads]


def onednn_product(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor | None:
    """F.linear(x, weight, bias) through oneDNN for float32 CPU tensors of at least MIN_ROWS rows where that
    measured faster; None where it does not apply (then F.linear is the way). Inference only: the op has no
    gradient."""
    if (x.device.type != "cpu" or x.dtype != torch.float32 or weight.dtype != torch.float32
            or x.shape[-1] != weight.shape[-1] or x.numel() < MIN_ROWS * x.shape[-1]
            or not weight.is_contiguous() or (bias is not None and bias.dtype != torch.float32)
            or (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad))
            or not onednn_pays()):
        return None
    op = _op()
    assert op is not None  # onednn_pays() checked it
    y = _run(op, x.reshape(-1, x.shape[-1]), weight, bias)
    return y.view(*x.shape[:-1], weight.shape[0])
