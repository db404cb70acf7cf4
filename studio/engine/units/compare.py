"""Two recordings of the same text, unit by unit: dynamic time warping over their unit sequences, and where the
aligned units differ.

The cost of matching unit a with unit b is the distance between their codebook centres (scaled so the median
distance between two centres is 1), not just equal / different: two units that sit close in feature space are
nearly the same sound, and the alignment should treat them so. Steps (1, 0), (0, 1), (1, 1) with equal weight.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from studio.engine.units.codebook import Codebook
from studio.engine.units.result import UnitsResult
from studio.errors import StudioError

MAX_CELLS = 36_000_000  # 6,000 x 6,000 frames (two takes of 2 minutes): the accumulated costs take 144 MB


@dataclass(frozen=True)
class Alignment:
    path: np.ndarray       # (steps, 2) int: frame of A, frame of B, from (0, 0) to (len A - 1, len B - 1)
    same: np.ndarray       # (steps,) bool: the aligned frames carry the same unit
    cost: float            # total cost of the path over its length (0: the same units throughout)

    @property
    def agreement(self) -> float:
        """Share of aligned steps whose units are equal."""
        return float(self.same.mean()) if self.same.size else 0.0

    def b_at_a(self) -> np.ndarray:
        """For each frame of A, the first frame of B aligned with it: B drawn on A's time axis."""
        n = int(self.path[-1, 0]) + 1
        out = np.zeros(n, np.int64)
        firsts = np.r_[True, self.path[1:, 0] != self.path[:-1, 0]]
        out[self.path[firsts, 0]] = self.path[firsts, 1]
        return out

    def differing_spans(self, frame_rate: float, min_frames: int = 3) -> list[tuple[float, float]]:
        """(start, end) seconds on A's axis where the units differ for at least `min_frames` frames of A."""
        a_frames = self.path[:, 0]
        differs = np.zeros(int(a_frames[-1]) + 1, bool)
        differs[a_frames[~self.same]] = True
        spans, start = [], None
        for i, d in enumerate(np.r_[differs, False]):
            if d and start is None:
                start = i
            elif not d and start is not None:
                if i - start >= min_frames:
                    spans.append((start / frame_rate, i / frame_rate))
                start = None
        return spans


def unit_distances(codebook: Codebook) -> np.ndarray:
    """(k, k) distances between centres, divided by their median off-diagonal value."""
    c = codebook.centers.astype(np.float64)
    sq = (c * c).sum(1)
    d = np.sqrt(np.maximum(sq[:, None] - 2 * c @ c.T + sq[None], 0))
    np.fill_diagonal(d, 0.0)  # exactly: rounding left 1e-9 where a unit meets itself
    off = d[~np.eye(len(c), dtype=bool)]
    scale = float(np.median(off)) if off.size else 1.0
    return (d / (scale if scale > 0 else 1.0)).astype(np.float32)


def align(a: UnitsResult, b: UnitsResult, codebook: Codebook) -> Alignment:
    """DTW of B onto A; both must come from `codebook`."""
    for r, name in ((a, "the first"), (b, "the second")):
        if (r.model, r.layer, r.k) != (codebook.model, codebook.layer, codebook.k):
            raise StudioError(f"The units of {name} recording come from {r.model} layer {r.layer}, k = {r.k}; "
                              "both must use one codebook.", "Compute both with the same codebook.")
    n, m = a.units.size, b.units.size
    if n == 0 or m == 0:
        raise StudioError("A recording without units cannot be compared.", "Compute the units of both first.")
    if n * m > MAX_CELLS:
        raise StudioError(f"Comparing {n / a.frame_rate:.0f} s with {m / b.frame_rate:.0f} s is too long for one "
                          "alignment.", "Compare takes of one sentence or paragraph (up to a few minutes each).")
    dist = unit_distances(codebook)
    acc = np.empty((n, m), np.float32)
    acc[0] = np.cumsum(dist[a.units[0], b.units], dtype=np.float64)
    for i in range(1, n):
        cost = dist[a.units[i], b.units].astype(np.float64)
        # vertical and diagonal steps come from row i - 1 at once; a run of horizontal steps adds the row's costs,
        # so acc[i, j] = C[j] + min over k <= j of (best[k] - C[k]), C the row's running sum
        best = np.minimum(acc[i - 1], np.r_[np.inf, acc[i - 1, :-1]]) + cost
        running = np.cumsum(cost)
        acc[i] = np.minimum.accumulate(best - running) + running
    i, j = n - 1, m - 1
    steps = [(i, j)]
    while i > 0 or j > 0:
        if i == 0:
            j -= 1
        elif j == 0:
            i -= 1
        else:
            moves = ((acc[i - 1, j - 1], i - 1, j - 1), (acc[i - 1, j], i - 1, j), (acc[i, j - 1], i, j - 1))
            _, i, j = min(moves, key=lambda t: t[0])
        steps.append((i, j))
    path = np.array(steps[::-1], np.int64)
    same = a.units[path[:, 0]] == b.units[path[:, 1]]
    return Alignment(path, same, float(acc[-1, -1]) / len(path))
