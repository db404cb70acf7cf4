"""UI event-loop stalls while the worker does real work, in the real main window (offscreen), goal < 16 ms.

A 1 ms precise QTimer on the UI thread records the gap between its ticks while the app, driven as a user would:
  1. Transcribe panel: transcribes ~90 s of speech that never repeats (benchmarks/corpus.py) with tiny.en, beam 5:
     the first job of the session, so the worker imports torch and loads the model first;
  2. then a long file, ~5 minutes of that speech (model loaded: decoding only);
  3. live transcription: the first 60 s of the ~90 s file played into the virtual microphone (tests/virtual_mic.py,
     a PulseAudio null sink; skipped, and said so, where PulseAudio is missing), recorded and transcribed while it
     plays, then the last step;
  4. Codec panel: opens ten minutes of that speech at 24 kHz: its spectrogram job and the analysis job (EnCodec
     24 kHz at 6 kbps: encode, per-codebook statistics, eight reconstructions), with random weights (a .th file;
     the real ones need a download; the work is the same);
  5. Voice panel: speaks one sentence in the voice of the real VALL-E X preset with VALL-E X at the release size
     on random weights (benchmarks/clone.py's file; they never say the end token, so the AR runs to its cap),
     default precision, no listening back.
Before 4 and 5 the panel is switched to with no job running, and the window is given 0.5 s: that first showing of
a panel is reported on its own line ("panel switch"), apart from the jobs.
Progress, segment and result signals reach the real panel widgets, so their updates are in the measurement, and
the app's own garbage-collection timer (studio/ui/gc_guard.py) runs as in the app.

--profile repeats the run with attribution: each UI-thread slot of the panels, the job bar and the worker adapter
is timed, every garbage collection is timed (thread and generation), a plain Python thread ticks every 1 ms
beside the UI thread (when it stalls at the same moment, the whole interpreter was held: the GIL), and the
worker thread's Python stack is sampled when a long stall ends. The instrumented run is slower; its figures are
for attribution only.

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/ui_stall.py [--profile]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from machine import describe

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
THREADS = 2
ROOT = Path(__file__).resolve().parents[1]
LONG_MS = 16.0
FIRST = "1a. first job: torch import, model load"
FIRST_DECODE = "1b. first job: transcription"
FIRST_WHOLE = "1. first job: torch import, load, transcription"
SENTENCE = "We hold these truths to be self-evident, that all men are created equal."
LIVE_SECONDS = 60
SWITCH = "panel switch"  # phases named so are the first showing of a panel, no job running
QUIET = ("idle", "after")


def stats(gaps: list[float]) -> str:
    if not gaps:
        return "no ticks"
    g = sorted(gaps)
    p99, over = g[int(0.99 * (len(g) - 1))], sum(x > LONG_MS / 1000 for x in g)
    return (f"{len(g):6d} ticks, median {statistics.median(g) * 1000:6.2f} ms, p99 {p99 * 1000:7.2f} ms, "
            f"longest {g[-1] * 1000:7.1f} ms, over {LONG_MS:.0f} ms: {over}")


class Probe:
    """Attribution for --profile: timed slots, garbage collections, a heartbeat thread, worker stacks."""

    def __init__(self) -> None:
        self.ui = threading.get_ident()
        self.slots: list[tuple[float, float, str]] = []  # (start, end, name), outermost UI-thread calls only
        self.inner: dict[str, list[float]] = {}  # name -> durations of calls made inside another timed call
        self.gcs: list[tuple[float, float, int, str, int]] = []  # (start, end, generation, thread, young objects)
        self.beats: list[float] = []
        self.samples: list[tuple[float, float, str]] = []  # (gap end, gap, worker stack)
        self.ui_stacks: list[tuple[float, str]] = []  # (time, UI thread's stack) while its tick is late
        self.last_tick = time.perf_counter()
        self._depth = 0
        self._gc_start: dict[int, float] = {}
        self._stop = False
        gc.callbacks.append(self._gc)
        threading.Thread(target=self._beat, daemon=True, name="heartbeat").start()

    def _gc(self, phase: str, info: dict) -> None:
        t, me = time.perf_counter(), threading.get_ident()
        if phase == "start":
            self._gc_start[me] = t
            self._gc_young = gc.get_count()[0]  # container objects allocated (net) since the last collection
        elif me in self._gc_start:
            self.gcs.append((self._gc_start.pop(me), t, info["generation"], threading.current_thread().name,
                             self._gc_young))

    def _beat(self) -> None:
        while not self._stop:
            now = time.perf_counter()
            self.beats.append(now)
            if now - self.last_tick > 0.008:  # the UI thread is late and this thread runs: what is it doing?
                frame = sys._current_frames().get(self.ui)
                if frame is not None:
                    self.ui_stacks.append((now, self._stack(frame)))
            time.sleep(0.001)

    @staticmethod
    def _stack(frame: object, depth: int = 5) -> str:
        """Innermost `depth` frames of another thread, walked without letting that thread run: traceback's
        extract_stack reads source lines from disk (the interpreter lock is let go) while the sampled thread may
        unwind the frames being walked, and the instrumented run crashed with SIGSEGV now and then."""
        interval = sys.getswitchinterval()
        sys.setswitchinterval(10.0)  # no hand-over of the interpreter lock during the walk
        try:
            parts: list[tuple[str, int, str]] = []
            f = frame
            while f is not None and len(parts) < depth:
                parts.append((f.f_code.co_filename, f.f_lineno, f.f_code.co_name))  # type: ignore[attr-defined]
                f = f.f_back  # type: ignore[attr-defined]
        finally:
            sys.setswitchinterval(interval)
        return " < ".join(f"{Path(name).name}:{line} {func}" for name, line, func in parts)

    def wrap(self, cls: type) -> None:
        for name, fn in list(vars(cls).items()):
            if callable(fn) and not name.startswith("__") and not isinstance(fn, (type, staticmethod, classmethod)) \
                    and hasattr(fn, "__code__"):
                setattr(cls, name, self._timed(fn, f"{cls.__name__}.{name}"))

    def _timed(self, fn, label: str):
        probe = self

        def timed(*args, **kwargs):
            if threading.get_ident() != probe.ui:
                return fn(*args, **kwargs)
            probe._depth += 1
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                probe._depth -= 1
                if probe._depth == 0:
                    probe.slots.append((t, time.perf_counter(), label))
                else:
                    probe.inner.setdefault(label, []).append(time.perf_counter() - t)

        timed.__name__ = fn.__name__
        timed.__qualname__ = fn.__qualname__
        return timed

    def sample_worker(self, now: float, gap: float) -> None:
        frames = sys._current_frames()
        for th in threading.enumerate():
            if th.name == "studio-worker" and th.ident in frames:
                self.samples.append((now, gap, self._stack(frames[th.ident])))

    def explain(self, start: float, end: float) -> str:
        """What overlapped the stall [start, end]."""
        def overlap(a: float, b: float) -> float:
            return max(0.0, min(b, end) - max(a, start))

        parts = []
        for a, b, name in self.slots:
            if overlap(a, b) > 0.002:
                parts.append(f"slot {name} {1000 * (b - a):.0f} ms")
        for a, b, gen, thread, young in self.gcs:
            if overlap(a, b) > 0.001:
                parts.append(f"gc gen{gen} on {thread} {1000 * (b - a):.0f} ms ({young} new objects)")
        beats = [t for t in self.beats if start - 0.05 <= t <= end + 0.05]
        held = max((b - a for a, b in zip(beats, beats[1:], strict=False)
                    if overlap(a, b) > 0.5 * (end - start)), default=0.0)
        if held > 0.5 * (end - start):
            parts.append(f"Python heartbeat thread also stalled {1000 * held:.0f} ms (interpreter held: GIL)")
        else:
            parts.append("heartbeat thread kept ticking (UI thread busy, not the GIL)")
            seen = [st for t, st in self.ui_stacks if start <= t <= end]
            if seen:
                common = max(set(seen), key=seen.count)
                parts.append(f"UI thread in {seen.count(common)}/{len(seen)} samples: {common}")
        sample = next((s for t, g, s in self.samples if abs(t - end) < 0.003), None)
        if sample:
            parts.append(f"worker at the end: {sample}")
        return "; ".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", action="store_true", help="attribute the long stalls (instrumented run)")
    ap.add_argument("--seconds", type=float, default=90, help="length of the corpus file to transcribe")
    ap.add_argument("--worker", choices=("process", "thread", "both"), default="both",
                    help="where the jobs run: the app's model process (its default), a thread of the window's "
                         "process (VOICE_STUDIO_WORKER=thread, as before the model process), or both, one after "
                         "the other")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("spec", nargs="?", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not args.child:  # each run in a fresh process: the first job imports torch, as in the app
        sys.path.insert(0, str(Path(__file__).parent))
        from codec import shared_state
        from corpus import CACHE, corpus, cut

        c = corpus(args.seconds)
        long = corpus(300)
        clip = cut(corpus(620, 24000), 600)  # the passages reach 607 s at 620: ten minutes exactly
        live = cut(c, LIVE_SECONDS)
        sys.path.insert(0, str(ROOT / "tests"))
        import virtual_mic

        CACHE.mkdir(parents=True, exist_ok=True)
        th = shared_state(CACHE)
        from clone import weights as valle_weights

        valle = valle_weights()
        preset = ROOT / "tests" / "data" / "vallex-preset-librispeech_1.npz"
        mic, no_mic = virtual_mic.start()  # last: stopped in the finally below
        print(f"UI stall benchmark, {time.strftime('%Y-%m-%d %H:%M')}; {describe()}, torch threads "
              f"{THREADS}; QT_QPA_PLATFORM={os.environ['QT_QPA_PLATFORM']}; load average "
              f"{os.getloadavg()[0]:.1f} at the start")
        print(f"Transcribe: {c.describe()}")
        print(f"Long file: {long.describe()}")
        print(f"Live: {live.name} (its first {LIVE_SECONDS} s) into the virtual microphone" if mic else
              f"Live: skipped, no virtual microphone ({no_mic})")
        print(f"Codec: {clip.name} (the first 600 s of that speech at 24 kHz); model {th.name}")
        try:
            for worker in (["thread", "process"] if args.worker == "both" else [args.worker]):
                # PYTHONFAULTHANDLER: a crash prints every thread's Python stack (the instrumented run crashed at times)
                env = {**os.environ, "OMP_NUM_THREADS": str(THREADS), "VOICE_STUDIO_WORKER": worker,
                       "PYTHONFAULTHANDLER": "1"}
                for profile in ([False, True] if args.profile else [False]):
                    cmd = [sys.executable, __file__, "--child", "--seconds", str(args.seconds), json.dumps(
                        {"audio": str(c.path), "long": str(long.path), "live": str(live) if mic else None,
                         "clip": str(clip), "th": str(th), "profile": profile,
                         "valle": str(valle), "preset": str(preset)})]
                    out = subprocess.run(cmd, env=env, text=True, capture_output=True)
                    sys.stdout.write(out.stdout)
                    if out.returncode != 0 and profile:  # attribution only: the plain run's figures stand without it
                        print(f"instrumented run failed (exit status {out.returncode}): no attribution this time")
                        lines = out.stderr.splitlines()
                        fatal = next((i for i, line in enumerate(lines) if line.startswith("Fatal Python error")), None)
                        for line in lines[fatal: fatal + 12] if fatal is not None else lines[-1:]:
                            print(f"  | {line}")
                    elif out.returncode != 0:
                        sys.exit(f"ui_stall child failed (exit status {out.returncode}):\n{out.stderr[-3000:]}")
        finally:  # our PulseAudio daemon goes with the run, a failed one too
            if mic:
                virtual_mic.stop(mic)
        return
    run(json.loads(args.spec))


def run(spec: dict) -> None:
    import asyncio

    import qasync
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from studio.ui import (
        codec_panel,
        gc_guard,
        main_window,
        spectrogram_panel,
        transcribe_panel,
        widgets,
    )
    from studio.ui.settings import AppSettings
    from studio.worker import qt as worker_qt

    probe = Probe() if spec["profile"] else None
    if probe:
        for cls in (transcribe_panel.TranscribePanel, codec_panel.CodecPanel, codec_panel.TokenGrid,
                    spectrogram_panel.SpectrogramPanel, widgets.JobBar, widgets.SpectrogramPlot,
                    worker_qt.QtWorker, gc_guard.GarbageCollector, main_window.MainWindow):
            probe.wrap(cls)
    app = QApplication([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    tmp = Path(tempfile.mkdtemp(prefix="ui-stall-"))
    settings = AppSettings()
    window = main_window.MainWindow(settings)
    gc_guard.freeze_startup()  # as the app's start does
    window.show()

    phase = ["idle"]
    gaps: dict[str, list[float]] = {}
    worst: list[tuple[float, float, str, float]] = []  # (gap, end, phase, UI thread's CPU seconds in the gap)
    last = [time.perf_counter(), time.thread_time()]

    def tick() -> None:
        now = time.perf_counter()
        gap = now - last[0]
        cpu = time.thread_time()
        used = cpu - last[1]
        last[0], last[1] = now, cpu
        gaps.setdefault(phase[0], []).append(gap)
        if probe:
            probe.last_tick = now
        if phase[0] == FIRST and any(k.startswith("whisper:") for k in window.worker.worker.models.keys()):
            set_phase(FIRST_DECODE)  # the worker has the model: decoding from here
        if gap > LONG_MS / 1000:
            worst.append((gap, now, phase[0], used))
            if probe:
                probe.sample_worker(now, gap)

    timer = QTimer(interval=1)
    timer.setTimerType(Qt.PreciseTimer)
    timer.timeout.connect(tick)
    done = asyncio.Event()
    panel, codec = window.transcribe, window.codec
    t_phase: dict[str, float] = {}

    def set_phase(name: str) -> None:
        phase[0] = name
        t_phase[name] = time.perf_counter()

    state = {"step": 0}

    def transcribe(copy_name: str, source: str | None = None) -> None:
        path = tmp / copy_name
        shutil.copyfile(source or spec["audio"], path)
        window.nav.setCurrentRow(window.PANELS.index("Transcribe"))
        panel.open_file(str(path))
        panel.start()

    def switch_then(panel_name: str, job: object) -> None:
        """Show the panel with no job running, give the window 0.5 s, then start the job."""
        set_phase(f"{SWITCH} to {panel_name}")
        window.nav.setCurrentRow(window.PANELS.index(panel_name))
        QTimer.singleShot(500, job)  # type: ignore[arg-type]

    def live_session() -> None:
        set_phase(f"3. live transcription, {LIVE_SECONDS} s")
        # picked from the Record panel's listing made at start-up, as a user picks it (listing again runs pactl
        # on the UI thread: this harness's own 26 ms stall, not the app's)
        monitor = next(d for d in window.record._devices if "Monitor" in d.label)
        window.settings.input_device = monitor.key
        panel.start_live()
        player: list[subprocess.Popen] = []

        def poll() -> None:  # play once the recorder hears the server; stop live 1 s after the audio ends
            if not player:
                if panel.recorder is not None and panel.recorder.frames_written > 0:
                    player.append(subprocess.Popen(["paplay", "--device=vsink", spec["live"]]))
            elif player[0].poll() is not None:
                QTimer.singleShot(1000, panel.stop_live)
                return
            QTimer.singleShot(50, poll)

        poll()

    def open_codec() -> None:
        set_phase("4. codec panel: 10 min analysis")
        i = codec.model.count() - 1  # as "Local model…" does: the .th file becomes the chosen model
        codec.model.blockSignals(True)
        codec.model.insertItem(i, Path(spec["th"]).name, spec["th"])
        codec.model.setCurrentIndex(i)
        codec.model.blockSignals(False)
        codec.open_file(spec["clip"])

    def transcript_done(_: object) -> None:
        state["step"] += 1
        if state["step"] == 1:
            set_phase("2. model loaded: ~5 min file")
            QTimer.singleShot(0, lambda: transcribe("long-" + Path(spec["long"]).name, spec["long"]))
        elif state["step"] == 2 and spec["live"]:
            state["long_rows"] = panel.table.rowCount()
            QTimer.singleShot(0, live_session)
        else:
            state["live_rows" if state["step"] == 3 else "long_rows"] = panel.table.rowCount()
            switch_then("Codec", open_codec)

    def codec_done(_: object) -> None:
        switch_then("Voice", synthesize)

    def synthesize() -> None:
        set_phase("5. voice panel: synthesis")
        voice = window.voice
        voice.codec = spec["th"]
        voice.voices.import_presets([spec["preset"]])
        speak = voice.speak
        speak.set_model_file(spec["valle"])
        speak.controls.check_words.setChecked(False)
        speak.text.setPlainText(SENTENCE)
        started = [False]

        def poll() -> None:  # the plan is made on a thread of its own; then one run
            if not started[0]:
                if speak._plan_current():
                    started[0] = True
                    speak.synthesize()
            elif not speak._runs:
                set_phase("after")
                QTimer.singleShot(300, done.set)
                return
            QTimer.singleShot(50, poll)

        poll()

    panel.transcript_ready.connect(transcript_done)
    codec.analysis_ready.connect(codec_done)
    def failed(message: str, remedy: str) -> None:
        if message:  # an empty message is the panel clearing its banner after a good open
            print("error:", message, remedy)
            done.set()

    panel.error.connect(failed)
    codec.error.connect(failed)

    def begin() -> None:
        # a thread worker's models are in sight: its first job splits at the model's load; the model process
        # keeps them to itself, so there the first job is one phase
        set_phase(FIRST if hasattr(window.worker.worker, "models") else FIRST_WHOLE)
        transcribe(Path(spec["audio"]).name)

    QTimer.singleShot(1000, begin)  # one second idle first: the baseline
    timer.start()
    t0 = time.perf_counter()
    with loop:
        loop.run_until_complete(done.wait())
    timer.stop()
    order = sorted(t_phase, key=t_phase.get)
    where = {"process": "jobs in the model process", "thread": "jobs on a thread of the window's process",
             "isolated": "jobs on a thread (isolated)"}[os.environ.get("VOICE_STUDIO_WORKER", "process")]
    print(f"\n{'instrumented run (--profile): figures for attribution only' if probe else 'plain run'}, {where}; "
          f"{time.perf_counter() - t0:.1f} s in all")
    print(f"  {'idle, before the first job':<40}{'':>8} {stats(gaps.get('idle', []))}")
    for name in order:
        if name in QUIET:
            continue
        nxt = order[order.index(name) + 1] if order.index(name) + 1 < len(order) else None
        took = (t_phase[nxt] - t_phase[name]) if nxt else 0.0
        print(f"  {name:<40}{took:6.1f} s {stats(gaps.get(name, []))}")
    busy = [g for n, v in gaps.items() if n not in QUIET and not n.startswith(SWITCH) for g in v]
    print(f"  {'all of the jobs':<40}{'':>8} {stats(busy)}")
    rows = state.get("long_rows")
    live = "skipped" if spec["live"] is None else f"{state.get('live_rows')} segments"
    takes = sum(t is not None for t in window.voice.speak.current_takes())
    print(f"  transcripts on screen: {rows} segments, live {live}; codec grid: "
          f"{None if codec.analysis is None else codec.analysis.codes.shape} codes; takes spoken: {takes}; load "
          f"average {os.getloadavg()[0]:.1f} at the end")
    if probe:
        probe._stop = True
        worst.sort(reverse=True)
        print(f"  the {min(10, len(worst))} longest stalls and what overlapped them:")
        for gap, end, ph, used in worst[:10]:
            print(f"    {gap * 1000:6.1f} ms in {ph.split(':')[0]} (UI thread on a CPU {used * 1000:.0f} ms of it): "
                  f"{probe.explain(end - gap, end)}")
        ui_gc = [(b - a, g, n) for a, b, g, th, n in probe.gcs if th == "MainThread"]
        other_gc = [b - a for a, b, g, th, n in probe.gcs if th != "MainThread"]
        print(f"  garbage collections: {len(ui_gc)} on the UI thread, {len(other_gc)} on other threads; on the UI "
              "thread, per generation: " + "; ".join(
                  f"gen{gen} x{len(d)} longest {max(d) * 1000:.1f} ms" for gen in (0, 1, 2)
                  if (d := [t for t, g, _ in ui_gc if g == gen])))
        slow = {}
        for a, b, name in probe.slots:
            slow.setdefault(name, []).append(b - a)
        top = sorted(slow.items(), key=lambda kv: -max(kv[1]))[:8]
        print("  slowest UI-thread slots: " + "; ".join(f"{n} x{len(v)} longest {max(v) * 1000:.1f} ms"
                                                       for n, v in top))
        inner = sorted(probe.inner.items(), key=lambda kv: -max(kv[1]))[:8]
        print("  slowest calls inside them: " + "; ".join(f"{n} x{len(v)} longest {max(v) * 1000:.1f} ms"
                                                         for n, v in inner))
    sys.stdout.flush()
    window.worker.shutdown()
    os._exit(0)  # skip interpreter teardown with Qt objects still referenced from the worker thread


if __name__ == "__main__":
    main()
