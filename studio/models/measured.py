"""Choosing between two ways to compute the same product by timing both here (studio.models.rowmatmul's row
split, studio.models.onednn's oneDNN products): which one wins depends on the CPU. Pure Python."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_time(f: Callable[[], object], runs: int) -> float:
    """The shortest of `runs` timed calls, in seconds."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def clearly_faster(base: float, candidate: float) -> bool:
    """The candidate must win by 20 %, so noise never picks it."""
    return candidate < 0.8 * base
