"""The Speak view's synthesize jobs: which sentence (history key) each take of a job belongs to, which sentences
are still to come, the seeds they will be drawn with, and how many were spoken when a batch of jobs ends.

A batch is every job started while another was still running (Synthesize, then Regenerate during it): one Cancel
stops them all, and its message counts the takes of all of them. Plain Python, no Qt: the view drives it."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from studio.engine.clone.result import Take
from studio.ui.take_history import Key

KEEP_ENDED = 64  # ended runs remembered for a take whose signal arrives after its job ended


def fresh_seed(first: int, used: set[int]) -> int:
    """`first` unless it is used, else a random seed that is not."""
    seed, rng = first, random.Random()
    while seed in used:
        seed = rng.randrange(1, 2**31 - 1)
    return seed


@dataclass
class Run:
    number: int
    batch: int
    keys: list[Key]  # one per sentence of the job, in the order it speaks them
    seeds: list[int]
    first_index: int  # the engine numbers the job's takes first_index, first_index + 1, ...
    job: int = 0
    pending: set[Key] = field(default_factory=set)
    spoken: int = 0

    def key_of(self, take: Take) -> Key:
        k = take.index - self.first_index
        if 0 <= k < len(self.keys):
            return self.keys[k]
        voice, language = self.keys[0][:2]  # a take numbered outside the job: kept under its own number
        return voice, language, take.index, take.text

    def key_of_message(self, sentence_number: int) -> Key | None:
        """The sentence a progress message 'Sentence n: …' is about."""
        k = sentence_number - 1 - self.first_index
        return self.keys[k] if 0 <= k < len(self.keys) else None


class Runs:
    def __init__(self) -> None:
        self._active: dict[int, Run] = {}  # job id -> run
        self._numbered: dict[int, Run] = {}  # run number -> run, active and recently ended
        self._next = 1
        self._batch = 0

    def start(self, keys: list[Key], seeds: list[int], first_index: int) -> Run:
        """A run about to be submitted; `attach` gives it its job id."""
        if not self._active:
            self._batch += 1
        run = Run(self._next, self._batch, list(keys), list(seeds), first_index, pending=set(keys))
        self._next += 1
        self._numbered[run.number] = run
        for old in list(self._numbered)[:-KEEP_ENDED]:
            if self._numbered[old].job not in self._active:
                del self._numbered[old]
        return run

    def attach(self, run: Run, job: int) -> None:
        run.job = job
        self._active[job] = run

    def __bool__(self) -> bool:
        return bool(self._active)

    def __len__(self) -> int:
        return len(self._active)

    def __contains__(self, job: int) -> bool:
        return job in self._active

    def __iter__(self):  # noqa: ANN204 - the job ids of the running and queued runs
        return iter(list(self._active))

    def of_job(self, job: int) -> Run | None:
        return self._active.get(job)

    def of_number(self, number: int) -> Run | None:
        return self._numbered.get(number)

    def arrived(self, run: Run, key: Key) -> None:
        run.pending.discard(key)
        run.spoken += 1

    def end(self, job: int) -> Run | None:
        return self._active.pop(job, None)

    def batch_counts(self, batch: int) -> tuple[int, int]:
        """(takes spoken, takes asked) over every job of a batch."""
        runs = [r for r in self._numbered.values() if r.batch == batch]
        return sum(r.spoken for r in runs), sum(len(r.keys) for r in runs)

    def waiting(self, key: Key) -> bool:
        """Some running or queued job has this sentence still to speak."""
        return any(key in run.pending for run in self._active.values())

    def seeds_in_flight(self, key: Key) -> set[int]:
        """Seeds the running and queued jobs will draw this sentence with."""
        return {seed for run in self._active.values() for k, seed in zip(run.keys, run.seeds, strict=True)
                if k == key and k in run.pending}

    def move(self, moves: dict[Key, Key]) -> None:
        """Sentences moved to other rows (a sentence typed in above them): their takes still to come follow."""
        for run in self._numbered.values():
            run.keys = [moves.get(k, k) for k in run.keys]
            run.pending = {moves.get(k, k) for k in run.pending}
