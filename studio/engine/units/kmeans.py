"""k-means for speech units, in torch: k-means++ seeding, then Lloyd's iterations when the frames fit one batch and
mini-batch k-means (Sculley 2010, per-centre step 1/count) when they do not. A fixed seed gives the same
codebook every time. Progress and cancel between batches, as every worker job has them.

Ours rather than scikit-learn's MiniBatchKMeans: the features are already torch tensors on the worker, and
scikit-learn would be a 40 MB dependency for ~100 lines; benchmarks/units.py times the two.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

import torch

from studio.errors import JobCancelled, StudioError

_ROWS = 8192  # frames per distance product: (rows x k) floats stay small
_INITS = 3  # seedings tried; one left a local optimum on 1 of 20 constructed data sets, three on none


def nearest(x: torch.Tensor, centers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Index of the nearest centre for each row of `x` and the squared distance to it."""
    c2 = (centers * centers).sum(1)
    labels, dists = [], []
    for i in range(0, x.shape[0], _ROWS):
        rows = x[i:i + _ROWS]
        d = (rows * rows).sum(1, keepdim=True) - 2 * (rows @ centers.T) + c2
        best, idx = d.min(1)
        labels.append(idx)
        dists.append(best.clamp_min(0))
    if not labels:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0)
    return torch.cat(labels), torch.cat(dists)


def _plus_plus(x: torch.Tensor, k: int, gen: torch.Generator) -> torch.Tensor:
    """Greedy k-means++ (as scikit-learn seeds): each step draws 2 + ln k candidates with probability proportional
    to their squared distance to the nearest centre and keeps the one that lowers the total most. Plain k-means++
    (one candidate) left two centres in one of ten well-separated blobs on the test's data."""
    trials = 2 + int(math.log(k))
    x2 = (x * x).sum(1)

    def sq_dists(idx: torch.Tensor) -> torch.Tensor:  # (n, len(idx))
        return (x2[:, None] - 2 * (x @ x[idx].T) + x2[idx]).clamp_min(0)

    first = torch.randint(x.shape[0], (1,), generator=gen)
    chosen = [int(first)]
    d = sq_dists(first)[:, 0]
    for _ in range(1, k):
        total = float(d.sum())
        if total <= 0:  # fewer distinct frames than k: the rest can only be duplicates
            idx = torch.randint(x.shape[0], (trials,), generator=gen)
        else:
            idx = torch.multinomial(d / total, trials, replacement=True, generator=gen)
        after = torch.minimum(d[:, None], sq_dists(idx))  # (n, trials)
        best = int(after.sum(0).argmin())
        chosen.append(int(idx[best]))
        d = after[:, best]
    return x[chosen].clone()


def check_frames(frames: int, k: int) -> None:
    """k-means needs at least k frames: said before any features are computed where the count is known."""
    if k < 1:
        raise StudioError(f"k must be at least 1 (got {k}).", "Choose k = 50, 100 or 200.")
    if frames < 2:
        raise StudioError(f"There {'is' if frames == 1 else 'are'} only {frames} frame{'' if frames == 1 else 's'} "
                          "of features (20 ms each): too little to fit units on.",
                          "Use a longer recording, or a saved codebook.")
    if frames < k:
        raise StudioError(f"There are {frames} frames of features, fewer than the {k} units asked for.",
                          f"Choose k of at most {frames}, or fit on more audio ({k} frames are {k / 50:.2f} s).")


def fit_kmeans(features: torch.Tensor, k: int, seed: int = 0, batch: int = 10_240, max_epochs: int = 30,
               tol: float = 1e-4, progress: Callable[[float], None] | None = None,
               cancel: threading.Event | None = None) -> torch.Tensor:
    """(frames, dim) float features -> (k, dim) centres."""
    x = features.float()
    n = x.shape[0]
    check_frames(n, k)
    if not bool(torch.isfinite(x).all()):
        raise StudioError("The features hold NaN or infinite values; k-means cannot use them.",
                          "Check the model and the audio.")
    gen = torch.Generator().manual_seed(seed)

    def check() -> None:
        if cancel is not None and cancel.is_set():
            raise JobCancelled()

    seed_rows = x[torch.randperm(n, generator=gen)[:max(3 * batch, k)]]  # k-means++ on a sample, as sklearn does
    best = math.inf
    for _ in range(_INITS):  # the seeding that leaves the least inertia on the sample (sklearn's n_init)
        candidate = _plus_plus(seed_rows, k, gen)
        inertia = float(nearest(seed_rows, candidate)[1].sum())
        if inertia < best:
            best, centers = inertia, candidate
        check()
    if n <= batch:  # everything in one batch: plain Lloyd
        prev = math.inf
        for epoch in range(max_epochs * 3):
            labels, d = nearest(x, centers)
            inertia = float(d.sum())
            sums = torch.zeros_like(centers).index_add_(0, labels, x)
            counts = torch.bincount(labels, minlength=k).float()
            centers = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], centers)
            if progress is not None:
                progress(min(1.0, (epoch + 1) / (max_epochs * 3)))
            check()
            if math.isfinite(prev) and prev - inertia <= tol * prev:
                break
            prev = inertia
        return centers
    counts = torch.zeros(k)
    steps = math.ceil(n / batch)
    prev = math.inf
    for epoch in range(max_epochs):
        order = torch.randperm(n, generator=gen)
        inertia = 0.0
        for s in range(steps):
            rows = x[order[s * batch:(s + 1) * batch]]
            labels, d = nearest(rows, centers)
            inertia += float(d.sum())
            sums = torch.zeros_like(centers).index_add_(0, labels, rows)
            got = torch.bincount(labels, minlength=k).float()
            counts += got
            hit = got > 0
            # c <- c + (sum - got * c) / count: the running mean of every frame the centre has taken
            centers[hit] += (sums[hit] - got[hit, None] * centers[hit]) / counts[hit, None]
            if progress is not None:
                progress((epoch * steps + s + 1) / (max_epochs * steps))
            check()
        dead = counts == 0
        if bool(dead.any()):  # a centre no frame chose: move it to frames far from their centres
            _, d = nearest(x, centers)
            if float(d.sum()) > 0:
                centers[dead] = x[torch.multinomial(d, int(dead.sum()), replacement=True, generator=gen)]
        if math.isfinite(prev) and abs(prev - inertia) <= tol * prev:
            break
        prev = inertia
    return centers
