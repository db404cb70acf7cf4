"""Live-mode lag with tiny.en on CPU: speech is fed in real time (100 ms pieces, as a microphone delivers it)
while a worker thread runs decoding steps back to back. For every word: the time from the end of its audio to
the moment its text is first on screen (tentative) and to the moment it is final. Goal: under 3 s.
"""

from __future__ import annotations

import re
import statistics
import threading
import time
from pathlib import Path

import numpy as np
import torch

torch.set_num_threads(2)
DATA = Path(__file__).resolve().parents[1] / "tests" / "data"

from studio.audio.io import load_audio  # noqa: E402
from studio.engine.asr.live import LiveSession  # noqa: E402
from studio.engine.asr.transcribe import Transcriber  # noqa: E402
from studio.hub.whisper_weights import load_whisper  # noqa: E402


def key(text: str) -> str:
    return re.sub(r"\W", "", text.lower())


def main() -> None:
    tr = Transcriber(load_whisper("tiny.en"))
    sr = 48000
    gap = np.zeros(2 * sr, np.float32)
    audio = np.concatenate([load_audio(DATA / "jfk.flac", sr), gap, load_audio(DATA / "vallex-en-1.wav", sr), gap])
    session = LiveSession(sr)
    seen: list[tuple[float, str, float]] = []  # (wall time, word, start) of every word shown
    final: list[tuple[float, str, float]] = []
    steps: list[float] = []
    done = threading.Event()
    t0 = time.perf_counter()

    def feed() -> None:
        piece = sr // 10
        for i in range(0, len(audio), piece):
            session.push(audio[i: i + piece])
            time.sleep(max(0.0, t0 + (i + piece) / sr - time.perf_counter()))
        done.set()

    threading.Thread(target=feed, daemon=True).start()
    while not done.is_set():
        if not session.has_new_audio():
            time.sleep(0.01)
            continue
        s0 = time.perf_counter()
        update = session.step(tr)
        now = time.perf_counter()
        steps.append(now - s0)
        for segs, book in ((update.final + update.tentative, seen), (update.final, final)):
            book += [(now - t0, key(w.text), w.start) for s in segs for w in s.words]
    update = session.step(tr, final=True)

    def first(book: list[tuple[float, str, float]], text: str, start: float, end: float) -> float | None:
        """Lag of the first sighting of this word (same text, about the same place) after its audio ended."""
        times = [t for t, w, s in book if w == text and abs(s - start) < 0.6]
        return min(times) - end if times else None

    words = [w for s in update.final for w in s.words]
    shown = [x for w in words if (x := first(seen, key(w.text), w.start, w.end)) is not None]
    settled = [x for w in words if (x := first(final, key(w.text), w.start, w.end)) is not None]
    print(f"audio {len(audio) / sr:.1f} s fed in real time; {len(steps)} steps, "
          f"step time median {statistics.median(steps):.2f} s, max {max(steps):.2f} s")
    for name, lags in (("text on screen", shown), ("text final", settled)):
        lags = sorted(lags)
        print(f"{name:<16} lag after the word's audio: median {statistics.median(lags):.2f} s, "
              f"p90 {lags[int(0.9 * (len(lags) - 1))]:.2f} s, max {lags[-1]:.2f} s  ({len(lags)} words)")
    print("final text:", " ".join(s.text.strip() for s in update.final))


if __name__ == "__main__":
    main()
