"""Live-mode lag with tiny.en on CPU (2 threads): ~90 s of speech that never repeats (benchmarks/corpus.py) is fed
in real time (100 ms pieces at 48 kHz, as a microphone delivers it) while this thread runs decoding steps back to
back, as the Transcribe panel keeps one step in flight. When the audio ends, the session is stopped: one last step
with final=True (the flush) makes every remaining word final.

Every word of the final transcript is counted, none dropped:
- "on screen": from the end of the word's audio to the first step that showed it (tentative or final; same text,
  start within 0.6 s), the flush included;
- "final": from the end of its audio to the step that made it final; words only made final by the flush are
  counted and their lag is measured to the flush's end;
- against the reference text, each final word is correct, substituted or inserted, and reference words never
  written are counted as missing (WER).
Goal: text on screen within 3 s.

Run: .venv/bin/python benchmarks/live_lag.py [--seconds 90]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import torch

THREADS = 2
torch.set_num_threads(THREADS)
sys.path.insert(0, str(Path(__file__).parent))

from corpus import align, corpus, normalize  # noqa: E402
from machine import describe  # noqa: E402

from studio.audio.io import load_audio  # noqa: E402
from studio.engine.asr.live import LiveSession  # noqa: E402
from studio.engine.asr.transcribe import Transcriber  # noqa: E402
from studio.hub.whisper_weights import load_whisper  # noqa: E402

SR = 48000


def dist(lags: list[float]) -> str:
    if not lags:
        return "none"
    g = sorted(lags)
    return (f"median {statistics.median(g):5.2f} s, p90 {g[int(0.9 * (len(g) - 1))]:5.2f} s, "
            f"max {g[-1]:5.2f} s ({len(g)} words)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=90)
    args = ap.parse_args()
    c = corpus(args.seconds)
    print(f"Live lag benchmark, {time.strftime('%Y-%m-%d %H:%M')}; {describe()}, {THREADS} torch "
          f"threads; tiny.en (built in); load average {os.getloadavg()[0]:.1f} at the start")
    print(f"Audio: {c.describe()}")
    tr = Transcriber(load_whisper("tiny.en"))
    audio = load_audio(c.path, SR)
    session = LiveSession(SR, language="en")
    shown: list[tuple[float, str, float]] = []  # (wall time, word key, start) of every word a step showed
    final: list[tuple[float, str, float]] = []  # ... that a step made final
    steps: list[float] = []
    done = threading.Event()
    t0 = time.perf_counter()

    def feed() -> None:
        piece = SR // 10
        for i in range(0, len(audio), piece):
            session.push(audio[i: i + piece])
            time.sleep(max(0.0, t0 + (i + piece) / SR - time.perf_counter()))
        done.set()

    def record(update: object, now: float) -> None:
        for segs, book in ((update.final + update.tentative, shown), (update.final, final)):  # type: ignore
            book += [(now, key(w.text), w.start) for s in segs for w in s.words]

    threading.Thread(target=feed, daemon=True).start()
    while not done.is_set():
        if not session.has_new_audio():
            time.sleep(0.01)
            continue
        s0 = time.perf_counter()
        update = session.step(tr)
        now = time.perf_counter()
        steps.append(now - s0)
        record(update, now - t0)
    stop = time.perf_counter()  # the recording stops here: the panel submits the final step
    update = session.step(tr, final=True)
    flush_end = time.perf_counter()
    flush_t = flush_end - t0
    record(update, flush_t)

    def first(book: list[tuple[float, str, float]], text: str, start: float) -> float:
        return min(t for t, w, s in book if w == text and abs(s - start) < 0.6)

    words = [w for s in update.final for w in s.words]
    on_screen, settled, by_flush = [], [], []
    for w in words:
        k = key(w.text)
        on_screen.append(first(shown, k, w.start) - w.end)  # the flush is in both books: always found
        t_final = first(final, k, w.start)
        settled.append(t_final - w.end)
        by_flush.append(t_final >= flush_t)
    hyp, owner = [], []
    for i, w in enumerate(words):
        for token in normalize(w.text):
            hyp.append(token)
            owner.append(i)
    counts, fate = align(c.reference, hyp)
    unmatched = sorted({owner[j] for j, f in enumerate(fate) if f in ("sub", "ins")})
    unscored = sorted({owner[j] for j, f in enumerate(fate) if f == "free"})
    print(f"fed {len(audio) / SR:.1f} s in real time; {len(steps)} steps, step time median "
          f"{statistics.median(steps):.2f} s, max {max(steps):.2f} s; the flush (final step after the stop) took "
          f"{flush_end - stop:.2f} s")
    print(f"final transcript: {len(words)} words; {sum(by_flush)} of them made final only by the flush")
    print(f"{'text on screen':<34} lag after the word's audio: {dist(on_screen)}")
    print(f"{'text final (flush included)':<34} lag after the word's audio: {dist(settled)}")
    print(f"{'  made final before the stop':<34} lag after the word's audio: "
          f"{dist([x for x, f in zip(settled, by_flush, strict=True) if not f])}")
    print(f"{'  made final by the flush':<34} lag after the word's audio: "
          f"{dist([x for x, f in zip(settled, by_flush, strict=True) if f])}")
    wer = 100 * (counts["sub"] + counts["del"] + counts["ins"]) / max(1, counts["ref"])
    print(f"against the reference ({counts['ref']} words; vallex-en-1's span unscored): {counts['ok']} correct, "
          f"{counts['sub']} substituted, {counts['ins']} inserted, {counts['del']} missing; WER {wer:.1f} %; "
          f"{len(unmatched)} final words match no reference word, {len(unscored)} fall in the unscored span")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    print("final text:", " ".join(s.text.strip() for s in update.final))


def key(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


if __name__ == "__main__":
    main()
