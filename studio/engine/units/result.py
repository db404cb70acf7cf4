"""What a units analysis gives the CLI and the views: plain numpy, no torch (widgets import this)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from studio.engine.units.codebook import Codebook


@dataclass(frozen=True)
class UnitRun:
    unit: int
    first_frame: int
    frames: int


@dataclass(frozen=True)
class UnitsResult:
    units: np.ndarray  # (frames,) int32, one per frame
    frame_rate: float  # frames per second (50)
    k: int
    model: str
    layer: int
    duration: float    # seconds of audio

    def run_starts(self) -> np.ndarray:
        """First frame of every run, as an array (cheap on hours of frames, unlike `runs`)."""
        u = self.units
        return np.flatnonzero(np.r_[True, u[1:] != u[:-1]]) if u.size else np.zeros(0, np.int64)

    def runs(self) -> list[UnitRun]:
        """Consecutive equal units merged: what "deduplicated units" means in the units literature."""
        starts = self.run_starts()
        lengths = np.diff(np.r_[starts, self.units.size])
        return [UnitRun(int(self.units[s]), int(s), int(n)) for s, n in zip(starts, lengths, strict=True)]

    def runs_per_unit(self) -> np.ndarray:
        """(k,) how many runs of each unit there are (for hover texts: counted once, not per mouse move)."""
        return np.bincount(self.units[self.run_starts()], minlength=self.k)

    def histogram(self) -> np.ndarray:
        """Frames per unit, (k,)."""
        return np.bincount(self.units, minlength=self.k)

    def seconds(self, frame: int) -> float:
        return frame / self.frame_rate

    def frame_at(self, seconds: float) -> int | None:
        """The frame at a time, or None outside the recording."""
        f = int(seconds * self.frame_rate)
        return f if 0 <= seconds and f < self.units.size else None

    def run_at(self, frame: int) -> UnitRun:
        """The run of equal units that holds `frame`."""
        u = self.units
        unit = u[frame]
        lo = frame
        while lo > 0 and u[lo - 1] == unit:
            lo -= 1
        hi = frame + 1
        while hi < u.size and u[hi] == unit:
            hi += 1
        return UnitRun(int(unit), lo, hi - lo)

    def occurrences(self, unit: int) -> list[tuple[float, float]]:
        """(start, end) seconds of every run of `unit`."""
        return [(self.seconds(r.first_frame), self.seconds(r.first_frame + r.frames))
                for r in self.runs() if r.unit == unit]


@dataclass(frozen=True)
class UnitsAnalysis:
    """A recording's units, with the codebook that gave them (to save it, or to use it on another recording)."""
    source: str
    result: UnitsResult
    codebook: Codebook
    fitted_here: bool  # the codebook was fitted on this recording (no saved one was given)


@dataclass(frozen=True)
class UnitsComparison:
    """A second recording's units (with the first's codebook) aligned onto the first's time axis."""
    other: UnitsAnalysis
    b_at_a: np.ndarray                       # for each frame of the first, the aligned frame of the second
    agreement: float                         # share of aligned frames with the same unit
    differing: list[tuple[float, float]]     # seconds on the first's axis where they differ
