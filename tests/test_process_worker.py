"""The model process (studio.worker.process): jobs run in a child, progress/updates/results/errors/cancels cross
back in order, a dead child is reported and replaced, and the real window transcribes through it without ever
importing torch itself."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from studio.worker.process import ProcessWorker

HERE = Path(__file__).parent
ROOT = HERE.parent


class Events:
    def __init__(self, worker: ProcessWorker) -> None:
        self.q: queue.Queue[tuple] = queue.Queue()
        worker.on_started = lambda j, name: self.q.put(("started", j, name))
        worker.on_progress = lambda j, f, m: self.q.put(("progress", j, f, m))
        worker.on_update = lambda j, p: self.q.put(("update", j, p))
        worker.on_result = lambda j, r: self.q.put(("result", j, r))
        worker.on_error = lambda j, e: self.q.put(("error", j, e))
        worker.on_cancelled = lambda j, p: self.q.put(("cancelled", j, p))

    def until_end(self, job_id: int, timeout: float = 60.0) -> list[tuple]:
        seen: list[tuple] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                event = self.q.get(timeout=0.1)
            except queue.Empty:
                continue
            if event[1] == job_id:
                seen.append(event)
                if event[0] in ("result", "error", "cancelled"):
                    return seen
        raise AssertionError(f"job {job_id} did not end in {timeout} s: {seen}")


@pytest.fixture
def worker(monkeypatch):  # noqa: ANN201
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), str(ROOT)]))  # the child imports worker_jobs
    w = ProcessWorker("cpu", warm=False)
    yield w
    w.shutdown()


def test_a_job_runs_in_the_child_and_its_events_arrive_in_order(worker):
    import worker_jobs

    events = Events(worker)
    job = worker.submit(worker_jobs.count, 5, name="counting")
    seen = events.until_end(job)
    assert seen[0] == ("started", job, "counting")
    assert [e[2] for e in seen if e[0] == "update"] == [0, 1, 2, 3, 4]
    assert [e[3] for e in seen if e[0] == "progress"] == [f"step {i}" for i in range(5)]
    kind, _, child_pid = seen[-1]
    assert kind == "result" and child_pid != os.getpid() and child_pid == worker.pid
    assert worker.pending() == []
    # the priority of the app unless VOICE_STUDIO_NICE lowers it
    expected = os.nice(0) + int(os.environ.get("VOICE_STUDIO_NICE", "0"))
    assert os.getpriority(os.PRIO_PROCESS, child_pid) == min(expected, 19)


def test_cancel_keeps_what_the_job_did_and_errors_keep_their_message(worker):
    import worker_jobs

    events = Events(worker)
    job = worker.submit(worker_jobs.until_cancelled)
    while events.q.get(timeout=30)[0] != "update":
        pass
    worker.cancel(job)
    kind, _, partial = events.until_end(job)[-1]
    assert kind == "cancelled" and partial and partial == list(range(len(partial)))

    job = worker.submit(worker_jobs.refuse)
    kind, _, report = events.until_end(job)[-1]
    assert kind == "error"
    assert (report.message, report.remedy) == ("That file is not audio.", "Choose a WAV or FLAC file.")


def test_a_result_that_cannot_cross_is_an_error_not_a_hang(worker):
    import worker_jobs

    events = Events(worker)
    kind, _, report = events.until_end(worker.submit(worker_jobs.lock))[-1]
    assert kind == "error" and "bug" in report.remedy
    assert events.until_end(worker.submit(worker_jobs.pid))[-1][0] == "result"  # the child goes on


def test_a_job_that_cannot_cross_fails_at_submit():
    with pytest.raises(Exception, match="pickle|lambda|local"):
        ProcessWorker.submit(ProcessWorker.__new__(ProcessWorker), lambda ctx: 1)


def test_a_dead_child_fails_its_jobs_with_a_message_and_the_next_job_gets_a_new_one(worker):
    import worker_jobs

    events = Events(worker)
    first_pid = events.until_end(worker.submit(worker_jobs.pid))[-1][2]
    job = worker.submit(worker_jobs.until_cancelled)
    while events.q.get(timeout=30)[0] != "update":
        pass
    os.kill(first_pid, 9)  # as the kernel's out-of-memory killer does
    kind, _, report = events.until_end(job)[-1]
    assert kind == "error"
    assert "model process stopped" in report.message and "out of memory" in report.message
    assert "Run it again" in report.remedy
    second_pid = events.until_end(worker.submit(worker_jobs.pid))[-1][2]
    assert second_pid not in (first_pid, os.getpid())


def wait_for_update(events: Events) -> None:
    while events.q.get(timeout=30)[0] != "update":
        pass


def test_jobs_queued_behind_a_crash_run_in_the_next_process(worker):
    import worker_jobs

    events = Events(worker)
    running = worker.submit(worker_jobs.until_cancelled)
    queued = worker.submit(worker_jobs.pid)
    wait_for_update(events)
    crashed = worker.pid
    os.kill(crashed, 9)
    assert "in the middle of this job" in events.until_end(running)[-1][2].message
    kind, _, pid = events.until_end(queued)[-1]
    assert kind == "result" and pid not in (crashed, os.getpid())


def test_cancelling_a_queued_job_is_answered_at_once_and_spares_the_running_one(worker, monkeypatch):
    """Opening a second file cancels the first one's jobs, still queued behind a long transcription: they end
    now, and the transcription goes on (the grace before a kill is for jobs that have started)."""
    import worker_jobs

    from studio.worker import process

    monkeypatch.setattr(process, "CANCEL_GRACE", 1.0)
    events = Events(worker)
    running = worker.submit(worker_jobs.stubborn)
    wait_for_update(events)
    pid = worker.pid
    queued = [worker.submit(worker_jobs.pid) for _ in range(3)]
    for job in queued:
        worker.cancel(job)
    for job in queued:
        assert events.until_end(job, timeout=10)[-1][0] == "cancelled"
    time.sleep(2.0)  # past the grace
    assert worker.pid == pid and worker.pending() == [running]
    worker.cancel(running)  # deaf to it: killed after the grace
    assert events.until_end(running, timeout=30)[-1][0] == "cancelled"


def test_a_stopped_child_neither_freezes_the_caller_nor_ignores_cancel(worker):
    """SIGSTOP (Ctrl+Z, a debugger): the child reads nothing. A large job argument must not block submit (the
    pipe is full), Cancel must still end the job, and the next job must get a new child."""
    import worker_jobs

    events = Events(worker)
    job = worker.submit(worker_jobs.until_cancelled)
    wait_for_update(events)
    stopped_pid = worker.pid
    os.kill(stopped_pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        big = worker.submit(worker_jobs.size, bytes(8_000_000))  # eight times what a pipe holds
        assert time.monotonic() - t0 < 5.0  # hung forever when the caller wrote to the pipe itself
        worker.cancel(job)
        assert events.until_end(job, timeout=30)[-1][0] == "cancelled"
        assert events.until_end(big, timeout=30)[-1][:3] == ("result", big, 8_000_000)  # resent to the new child
        again = events.until_end(worker.submit(worker_jobs.size, bytes(10)))[-1]
        assert again[0] == "result" and again[2] == 10 and worker.pid != stopped_pid
    finally:
        try:
            os.kill(stopped_pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_a_cancelled_job_that_will_not_stop_has_its_process_replaced(worker, monkeypatch):
    import worker_jobs

    from studio.worker import process

    monkeypatch.setattr(process, "CANCEL_GRACE", 1.0)
    events = Events(worker)
    job = worker.submit(worker_jobs.stubborn)
    wait_for_update(events)
    first = worker.pid
    worker.cancel(job)
    assert events.until_end(job, timeout=30)[-1][0] == "cancelled"
    assert events.until_end(worker.submit(worker_jobs.pid))[-1][2] not in (first, 0)


def test_a_child_started_from_a_thread_that_ends_lives_on(worker):
    """Linux kills a child when the thread that started it ends (PR_SET_PDEATHSIG): children are started from the
    worker's own long-lived thread, whichever thread submits."""
    import threading

    import worker_jobs

    events = Events(worker)
    first = events.until_end(worker.submit(worker_jobs.pid))[-1][2]
    os.kill(first, 9)
    while worker._child is not None and not worker._child.gone:
        time.sleep(0.05)
    jobs: list[int] = []

    def submit() -> None:
        jobs.append(worker.submit(worker_jobs.until_cancelled))
        wait_for_update(events)  # the new child runs it: it has asked to die with its parent thread by now

    submitter = threading.Thread(target=submit)
    submitter.start()
    submitter.join()  # the thread that called submit is gone
    time.sleep(1.0)
    worker.cancel(jobs[0])
    assert events.until_end(jobs[0])[-1][0] == "cancelled"  # not "stopped: killed (SIGKILL)"


def test_the_current_folder_cannot_shadow_the_libraries(tmp_path, monkeypatch):
    """A user's numbers.py (or torch.py) in the folder the app starts from must not be imported by the model
    process, as `python -m` would."""
    import worker_jobs

    (tmp_path / "numbers.py").write_text("raise SystemExit('the folder shadowed the standard library')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), str(ROOT)]))
    w = ProcessWorker("cpu", warm=False)
    try:
        events = Events(w)
        kind, _, result = events.until_end(w.submit(worker_jobs.size, b"abc"))[-1]
        assert (kind, result) == ("result", 3)
    finally:
        w.shutdown()


def test_a_child_that_cannot_start_says_why(tmp_path, monkeypatch):
    broken = tmp_path / "studio"
    broken.mkdir()
    (broken / "__init__.py").write_text("raise ImportError('half-installed: the studio package is broken')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # found before the real package
    w = ProcessWorker("cpu", warm=False)
    try:
        events = Events(w)
        kind, _, report = events.until_end(w.submit(print))[-1]
        assert kind == "error" and "could not start" in report.message
        assert "half-installed" in report.message and "reinstall" in report.remedy
    finally:
        w.shutdown()


def test_a_job_submitted_after_shutdown_is_cancelled_and_starts_nothing(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), str(ROOT)]))
    w = ProcessWorker("cpu", warm=False)
    w.shutdown(timeout=10)
    events = Events(w)
    assert events.until_end(w.submit(print))[-1][0] == "cancelled"
    assert w._child is None  # no new model process


ORPHAN = r"""
import time
from studio.worker.process import ProcessWorker
w = ProcessWorker("cpu", warm=False)
while not w.pid:
    time.sleep(0.05)
print(w.pid, flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"  # a zombie has ended
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_stopped_child_does_not_outlive_a_window_killed_outright():
    window = subprocess.Popen([sys.executable, "-c", ORPHAN], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        child = int(window.stdout.readline())  # type: ignore[union-attr]
        os.kill(child, signal.SIGSTOP)  # reads nothing: the end of its input cannot tell it
        window.kill()
        window.wait()
        deadline = time.monotonic() + 20
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child)
    finally:
        window.kill()


def test_shutdown_ends_the_child(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), str(ROOT)]))
    w = ProcessWorker("cpu", warm=False)
    proc = w._child.proc if w._child else None
    w.shutdown(timeout=10)
    assert proc is not None and proc.poll() is not None


WINDOW = r"""
import json, os, sys
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication
from studio.ui.refcount_guard import pad_none_refcount
pad_none_refcount()
app = QApplication([])
from studio.ui.main_window import MainWindow
from studio.ui.settings import AppSettings
tmp = sys.argv[2]
s = AppSettings(QSettings(os.path.join(tmp, "settings.ini"), QSettings.IniFormat))
s.recordings_folder, s.voices_folder = os.path.join(tmp, "rec"), os.path.join(tmp, "voices")
w = MainWindow(s)
p = w.transcribe
out = {"rows_before_end": 0, "text": "", "error": ""}
def ended(t):
    out["text"] = " ".join(seg.text for seg in t.segments)
    app.quit()
def failed(message, remedy):
    if message:
        out["error"] = message
        app.quit()
def rows():  # segments on screen while the job still ran
    if p._job:
        out["rows_before_end"] = max(out["rows_before_end"], p.table.rowCount())
p.transcript_ready.connect(ended)
p.error.connect(failed)
p.segment_ready.connect(lambda seg: rows())
p.open_file(sys.argv[1])
p.start()
QTimer.singleShot(240000, app.quit)
app.exec()
out["ui_imported_torch"] = "torch" in sys.modules
with open(f"/proc/{w.worker.worker.pid}/maps") as maps:  # the model process never loads the window's Qt
    out["child_qt"] = any("libQt6" in line or "PySide6" in line for line in maps)
out["child"] = w.worker.worker.pid
out["ui"] = os.getpid()
w.worker.shutdown()
print("RESULT " + json.dumps(out))
sys.stdout.flush()
os._exit(0)
"""


def test_the_window_transcribes_through_the_model_process_without_importing_torch(tmp_path, data):
    env = {**os.environ, "VOICE_STUDIO_WORKER": "process", "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", WINDOW, str(data / "jfk.flac"), str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, proc.stdout[-2000:] + proc.stderr[-3000:]
    out = json.loads(line[len("RESULT "):])
    assert out["error"] == ""
    assert "ask not what your country can do for you" in out["text"].lower()
    assert out["rows_before_end"] >= 1  # segments arrived one by one, before the result
    assert out["child"] and out["child"] != out["ui"]
    assert out["ui_imported_torch"] is False
    assert out["child_qt"] is False


def test_the_windows_jobs_live_outside_the_ui_layer():
    """A job defined in studio/ui would make the model process import that widget module and with it Qt (700 MB
    for nothing); the panels name engine jobs with studio.worker.jobs.Job instead, and each name resolves."""
    import ast
    import importlib

    from studio.worker.jobs import Job

    for path in sorted((ROOT / "studio" / "ui").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.args.args and node.args.args[0].arg == "ctx":
                raise AssertionError(f"{path.name} defines the job {node.name}: move it to the engine")
        module = importlib.import_module(f"studio.ui.{path.stem}")
        for value in vars(module).values():
            if isinstance(value, Job):
                assert not value.module.startswith("studio.ui"), value
                assert callable(getattr(importlib.import_module(value.module), value.function)), value
