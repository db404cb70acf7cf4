"""What the *fast* precisions buy on this CPU: a NAR-sized many-row product (600 x 1024 @ 1024 x 4096) in float32
and bfloat16, an AR-sized one-row step (1024 -> 4096 -> 1024) in float32 and int8 (studio.models.int8), best of 5
after a warm-up, and whether the app takes bfloat16 here (studio.models.bfloat16, its own smaller timing).

Run: .venv/bin/python benchmarks/precisions.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from machine import describe
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from studio.models.bfloat16 import bfloat16_pays  # noqa: E402
from studio.models.int8 import int8_linears  # noqa: E402
from studio.models.measured import best_time  # noqa: E402


def timed(f) -> float:  # noqa: ANN001
    f()
    return best_time(f, 5) * 1e3


def main() -> None:
    print(f"Precisions, {describe()}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    gen = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        x, w = torch.randn(600, 1024, generator=gen), torch.randn(4096, 1024, generator=gen)
        xb, wb = x.bfloat16(), w.bfloat16()
        f32, b16 = timed(lambda: F.linear(x, w)), timed(lambda: F.linear(xb, wb))
        print(f"  many rows (600 x 1024 @ 1024 x 4096): float32 {f32:7.2f} ms, bfloat16 {b16:7.2f} ms "
              f"({f32 / b16:.2f}x)")
        step = nn.Sequential(nn.Linear(1024, 4096), nn.Linear(4096, 1024))
        q = int8_linears(nn.Sequential(nn.Linear(1024, 4096), nn.Linear(4096, 1024)))
        one = torch.randn(1, 1024, generator=gen)
        s32, s8 = timed(lambda: step(one)), timed(lambda: q(one))
        print(f"  one row (1024 -> 4096 -> 1024):       float32 {s32:7.3f} ms, int8     {s8:7.3f} ms ({s32 / s8:.2f}x)")
    print(f"  fast precision takes bfloat16 here: {bfloat16_pays()}")


if __name__ == "__main__":
    main()
