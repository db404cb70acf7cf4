"""The Speak view's sentence plan, made as the user types: each sentence with its phoneme count, estimated length
against the clip budget the voice's prompt leaves, whether it was split to fit, and the symbols that will not be
heard.

English G2P costs about 10 ms a sentence (an SQLite query per call), so a pasted page would stall the window for
seconds: the plan is made on a thread of its own (not the model worker, which may be busy synthesizing), and only
the newest request is worked on; an older one stops between sentences. The G2P libraries are safe to call from
two threads (eng_to_ipa opens a connection per call, pyopenjtalk and jieba lock their shared state)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from studio.engine.clone.plan import MAX_CLIP_S, budget_ids, estimate_seconds, plan_sentences
from studio.errors import StudioError
from studio.worker.errors import describe_error

MAX_TEXT_CHARS = 20_000  # about 25 minutes of speech; more belongs in several runs
_WHOLE = 10**9  # a phoneme budget no sentence reaches: split_sentences then cuts at sentence ends only


@dataclass(frozen=True)
class PlannedSentence:
    text: str
    n_ids: int
    seconds: float  # estimated speech time
    budget: float  # seconds of clip left after the voice's prompt
    split: bool  # a piece of a sentence too long for one clip
    dropped: tuple[str, ...] = ()  # symbols that cannot be spoken


@dataclass(frozen=True)
class Plan:
    text: str
    language: str
    prompt_seconds: float
    sentences: list[PlannedSentence] = field(default_factory=list)
    error: StudioError | None = None
    took: float = 0.0  # seconds the plan took to make

    @property
    def dropped(self) -> list[str]:
        seen: dict[str, None] = {}
        for s in self.sentences:
            seen.update(dict.fromkeys(s.dropped))
        return list(seen)


def make_plan(text: str, language: str, prompt_seconds: float,
              stale: Callable[[], bool] = lambda: False) -> Plan | None:
    """The plan of `text`, or None when `stale()` turns true on the way (a newer request replaced this one). Bad
    text is a plan with `error` set, never an exception."""
    from studio.engine.clone.phonemes import split_sentences, text_to_ids

    started = time.perf_counter()
    budget_s = max(0.0, MAX_CLIP_S - prompt_seconds)
    limit = budget_ids(prompt_seconds)
    out: list[PlannedSentence] = []
    try:
        if len(text) > MAX_TEXT_CHARS:
            raise StudioError(f"The text is too long: {len(text):,} characters; one run takes at most "
                              f"{MAX_TEXT_CHARS:,}.", "Speak it in parts: paste the next part when this one is done.")
        if not text.strip():
            raise StudioError("There is no text to speak.", "Type a sentence in the text box.")
        # whole sentences first; only those over the budget go through plan_sentences to be cut
        for sentence in split_sentences(text, language, _WHOLE):
            if stale():
                return None
            ph = text_to_ids(sentence, language)
            if len(ph.ids) <= limit:
                out.append(PlannedSentence(sentence, len(ph.ids), estimate_seconds(len(ph.ids)), budget_s, False,
                                           tuple(ph.dropped)))
                continue
            for piece in plan_sentences(sentence, language, prompt_seconds):
                ph = text_to_ids(piece, language)
                out.append(PlannedSentence(piece, len(ph.ids), estimate_seconds(len(ph.ids)), budget_s, True,
                                           tuple(ph.dropped)))
    except StudioError as e:
        return Plan(text, language, prompt_seconds, out, e, time.perf_counter() - started)
    return Plan(text, language, prompt_seconds, out, None, time.perf_counter() - started)


class Planner:
    """One background thread that plans the newest request; `take()` hands a finished plan to the UI thread,
    which polls it from a timer (no Qt object is touched off the UI thread)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._request: tuple[int, str, str, float] | None = None
        self._generation = 0  # of the newest request
        self._finished = 0  # generation of the last plan made
        self._ready: Plan | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="speak-planner", daemon=True)
        self._thread.start()

    def request(self, text: str, language: str, prompt_seconds: float) -> int:
        with self._cond:
            self._generation += 1
            self._request = (self._generation, text, language, prompt_seconds)
            self._ready = None
            self._cond.notify()
            return self._generation

    @property
    def busy(self) -> bool:
        with self._cond:
            return self._finished != self._generation

    def take(self) -> Plan | None:
        """The plan of the newest request once it is ready (once); None while it is being made."""
        with self._cond:
            plan, self._ready = self._ready, None
            return plan

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._generation += 1  # a plan under way stops at its next sentence
            self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._request is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                generation, text, language, prompt_seconds = self._request  # type: ignore[misc]
                self._request = None
            try:
                plan = make_plan(text, language, prompt_seconds, lambda g=generation: self._generation != g)
            except Exception as e:  # a bug in G2P must not end the thread: the plan says what happened
                report = describe_error(e)
                plan = Plan(text, language, prompt_seconds, [], StudioError(report.message, report.remedy))
            with self._cond:
                if plan is not None and generation == self._generation:
                    self._ready, self._finished = plan, generation
