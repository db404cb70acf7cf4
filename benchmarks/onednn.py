"""Whether many-row float32 products run faster through oneDNN than through MKL on this CPU
(studio.models.onednn): the products of tiny.en's encoder (1500 rows: 384 -> 1536, 1536 -> 384, 384 -> 384) in
GFLOP/s each way, best of 5, then tiny.en's whole encoder on one 30 s window (random log-mel input, best of 5 after
two warm-ups) both ways, and whether oneDNN is taken (it must win by 20 % in the app's own measurement). The
choice is per machine: run it there.

Run: .venv/bin/python benchmarks/onednn.py [--threads N]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from machine import describe  # noqa: E402

from studio.models import onednn  # noqa: E402
from studio.models.measured import best_time  # noqa: E402


def best(f: Callable[[], object], runs: int = 5, warm: int = 2) -> float:
    for _ in range(warm):
        f()
    return best_time(f, runs)


def encoder_seconds(use_onednn: bool) -> float:
    from studio.hub.whisper_weights import load_whisper

    os.environ["VOICE_STUDIO_ONEDNN"] = "1" if use_onednn else "0"
    onednn._pays.clear()
    model = load_whisper("tiny.en").model.eval()
    mel = torch.randn(1, 80, 3000, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        return best(lambda: model.encoder(mel))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"oneDNN against MKL, {describe()}, {args.threads} threads, "
          f"torch {torch.__version__}; load average {os.getloadavg()[0]:.1f}")
    if onednn.measure() is None:
        print("  this torch build has no oneDNN linear: MKL is used")
        return
    op = torch.ops.mkldnn._linear_pointwise
    g = torch.Generator().manual_seed(0)
    for rows, n_in, n_out in ((1500, 384, 1536), (1500, 1536, 384), (1500, 384, 384)):
        x, w, b = torch.randn(rows, n_in, generator=g), torch.randn(n_out, n_in, generator=g), torch.zeros(n_out)
        flops = 2 * rows * n_in * n_out
        with torch.inference_mode():
            mkl = best(lambda: F.linear(x, w, b))  # noqa: B023 - used before the next iteration
            dnn = best(lambda: op(x, w, b, "none", [], ""))  # noqa: B023
        print(f"  ({rows}, {n_in}) x ({n_in}, {n_out}): MKL {flops / mkl / 1e9:5.0f} GFLOP/s, oneDNN "
              f"{flops / dnn / 1e9:5.0f} GFLOP/s")
    mkl_s, dnn_s = encoder_seconds(False), encoder_seconds(True)
    os.environ.pop("VOICE_STUDIO_ONEDNN")
    onednn._pays.clear()
    print(f"  tiny.en encoder, one 30 s window: MKL {mkl_s * 1e3:.1f} ms, oneDNN {dnn_s * 1e3:.1f} ms "
          f"({mkl_s / dnn_s:.2f}x)")
    print(f"  the app's measurement takes oneDNN here: {onednn.onednn_pays()}")


if __name__ == "__main__":
    main()
