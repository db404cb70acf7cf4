import subprocess
import sys
import threading
import time

import pytest

from studio.audio.io import AudioError
from studio.worker import ModelRegistry, Worker, describe_error


class _Collector:
    def __init__(self, worker: Worker) -> None:
        self.events: list[tuple] = []
        self.done = threading.Event()
        worker.on_progress = lambda j, f, m: self.events.append(("progress", j, f, m))
        worker.on_result = lambda j, r: (self.events.append(("result", j, r)), self.done.set())
        worker.on_error = lambda j, e: (self.events.append(("error", j, e)), self.done.set())
        worker.on_cancelled = lambda j, partial: (self.events.append(("cancelled", j)), self.done.set())


def test_jobs_run_in_order_on_one_thread_with_progress():
    w = Worker("cpu")
    c = _Collector(w)
    threads = []

    def job(ctx, n):
        threads.append(threading.current_thread().name)
        for i in range(3):
            ctx.progress((i + 1) / 3, f"step {i}")
        return n * 2

    ids = [w.submit(job, n) for n in (1, 2, 3)]
    deadline = time.monotonic() + 10
    while sum(e[0] == "result" for e in c.events) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [e[2] for e in c.events if e[0] == "result"] == [2, 4, 6]
    assert [e[1] for e in c.events if e[0] == "result"] == ids
    assert set(threads) == {"studio-worker"}
    assert ("progress", ids[0], 1.0, "step 2") in c.events
    w.shutdown()


def test_cancel_stops_a_running_job_cooperatively():
    w = Worker("cpu")
    c = _Collector(w)
    started = threading.Event()

    def long_job(ctx):
        started.set()
        for i in range(1000):
            ctx.progress(i / 1000)
            time.sleep(0.01)
        return "finished"

    jid = w.submit(long_job)
    started.wait(5)
    w.cancel(jid)
    assert c.done.wait(5)
    assert c.events[-1] == ("cancelled", jid)
    w.shutdown()


def test_errors_reach_the_caller_as_messages_with_remedies():
    w = Worker("cpu")
    c = _Collector(w)

    def bad(ctx):
        raise AudioError("'x.wav' is empty (0 bytes).", "Record it again.")

    w.submit(bad)
    assert c.done.wait(5)
    kind, _, report = c.events[-1]
    assert kind == "error" and report.message == "'x.wav' is empty (0 bytes)." and report.remedy
    w.submit(lambda ctx: 42)  # the worker survives
    time.sleep(0.3)
    assert c.events[-1][0] == "result" and c.events[-1][2] == 42
    w.shutdown()


def test_gpu_out_of_memory_is_explained():
    import torch

    report = describe_error(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert "GPU ran out of memory" in report.message and "CPU" in report.remedy
    assert "ran out of memory" in describe_error(MemoryError()).message


def test_registry_loads_lazily_and_unloads_least_recently_used_under_budget():
    import torch

    def make(n):
        return lambda: torch.nn.Linear(n, n)  # n*n*4 + n*4 bytes

    loads = []
    reg = ModelRegistry(budget=3 * (256 * 256 * 4 + 1024), reserve=0)
    for key in ("a", "b", "c"):
        reg.get(key, lambda k=key: loads.append(k) or make(256)())
    reg.get("a", make(256))          # touch a: b is now least recently used
    reg.get("d", make(256), expected_bytes=256 * 256 * 4 + 1024)
    assert reg.keys() == ["c", "a", "d"]
    assert loads == ["a", "b", "c"]
    assert reg.bytes_held <= reg.budget


def test_ui_start_does_not_import_torch():
    code = ("import sys, os; os.environ['QT_QPA_PLATFORM']='offscreen';"
            "from PySide6.QtWidgets import QApplication; app = QApplication([]);"
            "from studio.ui.main_window import MainWindow; w = MainWindow(); w.show(); app.processEvents();"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "False", out.stderr


@pytest.mark.parametrize("choice", ["cpu", "auto"])
def test_device_resolves_to_an_available_device(choice: str):
    import torch

    from studio.worker.thread import resolve_device

    assert resolve_device(choice) == ("cuda" if choice == "auto" and torch.cuda.is_available() else "cpu")
