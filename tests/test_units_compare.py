"""DTW over unit sequences (compare mode): the vectorised recurrence against the textbook one, a stretched take,
a take with a different word, and the refusals."""

from __future__ import annotations

import numpy as np
import pytest

from studio.engine.units.codebook import Codebook
from studio.engine.units.compare import MAX_CELLS, align, unit_distances
from studio.engine.units.result import UnitsResult
from studio.errors import StudioError

RNG = np.random.default_rng(0)
CB = Codebook(RNG.normal(size=(20, 8)).astype(np.float32), "hubert-base", 6)


def _units(seq: list[int] | np.ndarray) -> UnitsResult:
    u = np.asarray(seq, np.int32)
    return UnitsResult(u, 50.0, CB.k, CB.model, CB.layer, u.size / 50)


def _textbook(a: np.ndarray, b: np.ndarray, dist: np.ndarray) -> float:
    n, m = len(a), len(b)
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            acc[i, j] = dist[a[i - 1], b[j - 1]] + min(acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1])
    return float(acc[n, m])


@pytest.mark.parametrize("seed", range(5))
def test_the_row_recurrence_equals_the_textbook_dtw(seed: int) -> None:
    g = np.random.default_rng(seed)
    a, b = g.integers(0, 20, 37), g.integers(0, 20, 53)
    al = align(_units(a), _units(b), CB)
    total = float(sum(unit_distances(CB)[a[i], b[j]] for i, j in al.path))
    assert total == pytest.approx(_textbook(a, b, unit_distances(CB)), rel=1e-5)
    assert tuple(al.path[0]) == (0, 0) and tuple(al.path[-1]) == (36, 52)
    assert np.all(np.diff(al.path, axis=0) >= 0) and np.all(np.diff(al.path, axis=0).sum(1) >= 1)


def test_a_slower_take_of_the_same_units_aligns_fully() -> None:
    a = (np.cumsum(RNG.integers(1, 20, 60)) % 20).astype(np.int32)  # no unit twice in a row: one best path
    b = np.repeat(a, 2)  # the same sounds, twice as long each
    al = align(_units(a), _units(b), CB)
    assert al.agreement == 1.0 and al.cost == 0.0
    assert np.array_equal(al.b_at_a(), np.arange(60) * 2)
    assert al.differing_spans(50.0) == []


def test_a_different_word_shows_where_it_is() -> None:
    a = np.repeat(RNG.integers(0, 10, 40), 3)  # 120 frames, units 0-9
    b = a.copy()
    b[45:75] = np.repeat(RNG.integers(10, 20, 10), 3)  # frames 0.9-1.5 s said otherwise (units 10-19)
    al = align(_units(a), _units(b), CB)
    spans = al.differing_spans(50.0)
    assert len(spans) >= 1 and spans[0][0] == pytest.approx(0.9, abs=0.1) and spans[-1][1] == pytest.approx(
        1.5, abs=0.1)
    assert 0.6 < al.agreement < 0.85


def test_refusals() -> None:
    other = UnitsResult(np.zeros(5, np.int32), 50.0, 20, "hubert-base", 9, 0.1)
    with pytest.raises(StudioError, match="layer 9"):
        align(_units([1, 2]), other, CB)
    with pytest.raises(StudioError, match="without units"):
        align(_units([]), _units([1]), CB)
    n = int(MAX_CELLS ** 0.5) + 10
    with pytest.raises(StudioError, match="too long for one alignment"):
        align(_units(np.zeros(n, int)), _units(np.zeros(n, int)), CB)
