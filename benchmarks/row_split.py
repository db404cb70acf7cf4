"""Whether a decoder step's few-row products run faster as the weight's two halves in one batched product
(studio.models.rowmatmul) on this CPU: the plain and the split product on a 64 MB weight, best of 5
(rowmatmul.measure), at 1, 2, 4 and the machine's thread count, and whether the split is taken (it must win by
20 %). The choice is per machine: run it there.

Run: .venv/bin/python benchmarks/row_split.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
from machine import describe

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from studio.models import rowmatmul  # noqa: E402


def main() -> None:
    print(f"Row split, {describe()}, torch {torch.__version__}")
    for threads in sorted({1, 2, 4, os.cpu_count() or 1}):
        torch.set_num_threads(threads)
        plain, split = rowmatmul.measure()
        print(f"  {threads:2d} threads: plain {plain * 1e3:6.2f} ms, split {split * 1e3:6.2f} ms -> split taken: "
              f"{rowmatmul.split_wins(plain, split)}")


if __name__ == "__main__":
    main()
