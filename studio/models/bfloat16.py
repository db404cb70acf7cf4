"""Whether this CPU multiplies bfloat16 faster than float32, for the fast modes' compute-bound parts (VALL-E's NAR,
BLIP's vision tower). Where the CPU has bfloat16 instructions (AVX512-BF16, AMX) bfloat16 ran about 4x faster than
float32 (benchmarks/clone.py, Zen 5); where it has not (AVX2 only: Zen 3, most laptops) oneDNN emulates it and a
600 x 1024 @ 1024 x 4096 product took 242 ms against 30 ms in float32 (benchmarks/precisions.py), which made a
one-sentence synthesis take 362.7 s instead of 120.4 s (Zen 3, benchmarks/ui_stall.py). CPU flags do not say which
way it goes on every CPU: one small product is timed each way, once per process (~50 ms where bfloat16 is
emulated)."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from studio.models.measured import best_time, clearly_faster


@functools.cache
def bfloat16_pays() -> bool:
    gen = torch.Generator().manual_seed(0)
    x, w = torch.randn(64, 1024, generator=gen), torch.randn(1024, 1024, generator=gen)
    xb, wb = x.bfloat16(), w.bfloat16()
    with torch.inference_mode():
        F.linear(x, w), F.linear(xb, wb)  # first-call costs stay out of the timing
        return clearly_faster(best_time(lambda: F.linear(x, w), 3), best_time(lambda: F.linear(xb, wb), 3))
