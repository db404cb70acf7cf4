"""Longest UI event-loop stall while the worker runs a 10-second CPU-heavy job (goal < 16 ms)."""

import os
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from studio.worker.qt import QtWorker  # noqa: E402


def heavy(ctx, seconds: float) -> int:
    import torch

    a = torch.randn(512, 512)
    n, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        a = torch.tanh(a @ a / 512)
        n += 1
        ctx.progress(1 - (end - time.monotonic()) / seconds)
    return n


def main() -> None:
    app = QApplication([])
    worker = QtWorker("cpu")
    gaps: list[float] = []
    last = [time.perf_counter()]
    done = []

    warmup: list[float] = []

    def tick() -> None:
        now = time.perf_counter()
        (gaps if progress else warmup).append(now - last[0])  # before the first progress: torch importing
        last[0] = now

    timer = QTimer(interval=1)
    timer.timeout.connect(tick)
    timer.start()
    worker.submit(heavy, 10.0, on_result=lambda n: (done.append(n), app.quit()))
    progress = []
    worker.progress.connect(lambda j, f, m: progress.append(f))
    app.exec()
    gaps.sort()
    print(f"while the worker imports torch (first use): longest stall {max(warmup) * 1000:.1f} ms")
    print(f"job: {done[0]} matmul steps in 10 s on the worker, {len(progress)} progress signals")
    print(f"event-loop ticks: {len(gaps)}; median gap {gaps[len(gaps) // 2] * 1000:.2f} ms; "
          f"p99 {gaps[int(len(gaps) * 0.99)] * 1000:.2f} ms; longest stall {gaps[-1] * 1000:.2f} ms (goal < 16 ms)")
    worker.shutdown()
    os._exit(0)  # skip interpreter teardown with Qt objects still referenced from the worker thread


if __name__ == "__main__":
    main()
