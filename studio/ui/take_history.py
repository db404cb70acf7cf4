"""Every take the Speak view made, per sentence, and which one is in use.

Takes are kept by (voice, language, row, sentence text): a sentence said twice ("Yes. No. Yes.") has a take per
row, an edited sentence does not reuse the take of another one, and a sentence that comes back to its row gets its
takes back. When sentences are typed in or removed above others, the others' takes move with them (moved_keys)."""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np

from studio.engine.clone.result import SAMPLE_RATE, Synthesis, Take

Key = tuple[str, str, int, str]  # voice file, language, row, sentence


@dataclass(frozen=True)
class TakeEntry:
    take: Take
    made: datetime


def top_k_text(top_k: int) -> str:
    return "all" if top_k <= 0 else str(top_k)


def describe_take(take: Take) -> str:
    """'seed 5 · T 1.00 · top-k all · 2.3 s · ended' — what is needed to tell takes apart and make one again."""
    s = take.settings
    why = {"end": "ended", "cap": "hit the length cap", "forced": "forced length"}.get(take.stopped, take.stopped)
    return f"seed {s.seed} · T {s.temperature:.2f} · top-k {top_k_text(s.top_k)} · {take.duration:.1f} s · {why}"


def check_text(take: Take) -> str:
    """The word check in a few words: a take without one (turned off, no transcriber, or cancelled while it was
    being listened back) says so, never passes for a clean one."""
    rt = take.round_trip
    if rt is None:
        return "words not checked"
    n = len(rt.problems)
    return "✓ every word heard" if not n else f"⚠ {n} word problem{'s' if n > 1 else ''}"


class TakeHistory:
    def __init__(self) -> None:
        self._entries: dict[Key, list[TakeEntry]] = {}
        self._chosen: dict[Key, int] = {}

    def add(self, key: Key, take: Take) -> TakeEntry:
        """A new take; it becomes the one in use."""
        entries = self._entries.setdefault(key, [])
        entries.append(TakeEntry(take, datetime.now()))
        self._chosen[key] = len(entries) - 1
        return entries[-1]

    def entries(self, key: Key) -> list[TakeEntry]:
        return list(self._entries.get(key, []))

    def chosen_index(self, key: Key) -> int:
        return self._chosen.get(key, -1)

    def current(self, key: Key) -> Take | None:
        entries = self._entries.get(key)
        return entries[self._chosen[key]].take if entries else None

    def choose(self, key: Key, index: int) -> Take:
        entries = self._entries[key]
        self._chosen[key] = max(0, min(index, len(entries) - 1))
        return entries[self._chosen[key]].take

    def seeds(self, key: Key) -> set[int]:
        return {e.take.settings.seed for e in self._entries.get(key, [])}

    def move(self, moves: dict[Key, Key]) -> None:
        """Give the takes of each old key to its new key (all at once: rows may swap). Takes already under a new
        key (its sentence was there earlier) are kept before the moved ones."""
        taken = {old: (self._entries.pop(old), self._chosen.pop(old)) for old in moves if old in self._entries}
        for old, (entries, chosen) in taken.items():
            new = moves[old]
            before = self._entries.get(new, [])
            self._entries[new] = before + entries
            self._chosen[new] = len(before) + chosen


def moved_keys(old: list[str], new: list[str], voice: str, language: str) -> dict[Key, Key]:
    """Sentences of the old plan found unchanged at another row of the new one (old key -> new key)."""
    moves: dict[Key, Key] = {}
    for a, b, size in difflib.SequenceMatcher(None, old, new, autojunk=False).get_matching_blocks():
        if a != b:
            for k in range(size):
                moves[(voice, language, a + k, old[a + k])] = (voice, language, b + k, new[b + k])
    return moves


def joined(takes: list[Take], prompt_codes: np.ndarray, voice: str, language: str) -> np.ndarray:
    """The takes in the given order with the engine's pause between them (Synthesis.joined)."""
    ordered = [replace(t, index=i) for i, t in enumerate(takes)]  # row order, not the order they were made
    return Synthesis(voice, language, prompt_codes, ordered).joined()


def write_wav(path: str | os.PathLike, samples: np.ndarray) -> None:
    """24 kHz 16-bit WAV, written beside `path` and renamed into place (never half a file)."""
    import soundfile as sf

    from studio.outputs import atomic_output

    with atomic_output(path) as f:
        sf.write(f, np.clip(samples, -1.0, 1.0), SAMPLE_RATE, subtype="PCM_16", format="WAV")
