"""One attention layer's cached keys and values for step-by-step decoding (Whisper's text decoder, VALL-E's AR).
Pure torch."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


class LayerKV:
    """Keys and values (rows, heads, positions, head size), written in place into a buffer that grows by doubling:
    a decoder appends one position per step, and copying the whole cache every step (torch.cat) cost more than the
    step's attention."""

    def __init__(self, capacity: int = 0) -> None:
        self.capacity = capacity
        self.k: Tensor | None = None
        self.v: Tensor | None = None
        self.n = 0

    def append(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Add positions; returns every cached position's keys and values (views of the buffer)."""
        t = k.shape[2]
        if self.k is None or self.v is None or self.n + t > self.k.shape[2]:
            cap = max(self.capacity, 2 * (self.n + t), 64)
            nk = k.new_empty(k.shape[0], k.shape[1], cap, k.shape[3])
            nv = v.new_empty(nk.shape)
            if self.k is not None and self.v is not None:
                nk[:, :, : self.n] = self.k[:, :, : self.n]
                nv[:, :, : self.n] = self.v[:, :, : self.n]
            self.k, self.v = nk, nv
        self.k[:, :, self.n : self.n + t] = k
        self.v[:, :, self.n : self.n + t] = v
        self.n += t
        return self.k[:, :, : self.n], self.v[:, :, : self.n]

    def repeat_rows(self, rows: int) -> None:
        """A cache filled for one row becomes `rows` equal rows (beams that share a prompt: the prompt runs once)."""
        if self.k is None or self.v is None or self.k.shape[0] == rows:
            return
        if self.k.shape[0] != 1:
            raise ValueError(f"only a one-row cache repeats, this one has {self.k.shape[0]} rows")
        self.k = self.k.expand(rows, -1, -1, -1).contiguous()
        self.v = self.v.expand(rows, -1, -1, -1).contiguous()

    def reorder(self, index: Sequence[int]) -> None:
        """Row r takes what row index[r] held (beam search keeps some hypotheses, drops or forks others). Only the
        rows that change are copied: most steps keep most beams where they were."""
        if self.k is None or self.v is None:
            return
        changed = [r for r, src in enumerate(index) if r != src]
        if not changed:
            return
        src = torch.tensor([index[r] for r in changed], device=self.k.device)
        for buf in (self.k, self.v):
            filled = buf[:, :, : self.n]
            taken = filled.index_select(0, src)  # first, as a source row may itself change
            for j, r in enumerate(changed):  # row by row: index_copy_ into the strided view measured 3x slower
                filled[r].copy_(taken[j])
