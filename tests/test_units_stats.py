"""Per-unit statistics: mean spectra land on each unit's own frames (a low and a high tone), chunking changes
nothing, purity against words on constructed cases, and the job end to end with the built-in tiny.en."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from studio.engine.units import stats
from studio.engine.units.result import UnitsResult
from studio.engine.units.stats import unit_spectra, word_purity


def _result(units: list[int] | np.ndarray, k: int = 3) -> UnitsResult:
    u = np.asarray(units, np.int32)
    return UnitsResult(u, 50.0, k, "m", 6, u.size / 50)


def test_spectra_of_a_low_and_a_high_tone(monkeypatch: pytest.MonkeyPatch) -> None:
    t = np.arange(32_000) / 16_000
    wave = np.where(t < 1.0, np.sin(2 * np.pi * 300 * t), np.sin(2 * np.pi * 3000 * t)).astype(np.float32)
    frames = (32_000 - 400) // 320 + 1
    units = np.where(np.arange(frames) * 320 + 400 <= 16_000, 0, 1)
    units[(np.arange(frames) * 320 < 16_000) & (np.arange(frames) * 320 + 400 > 16_000)] = 1  # straddling: 1
    r = _result(units)
    spectra = unit_spectra(wave, r)
    assert spectra.shape == (3, 80) and np.isnan(spectra[2]).all()
    low, high = int(np.argmax(spectra[0])), int(np.argmax(spectra[1]))
    assert low < 20 < 45 < high
    monkeypatch.setattr(stats, "CHUNK_FRAMES", 7)  # many chunks: the same numbers
    assert np.allclose(unit_spectra(wave, r), spectra, atol=1e-3, equal_nan=True)


def test_purity_on_constructed_words() -> None:
    r = _result([0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2])
    words = [("Ask", 0.0, 0.1), ("not,", 0.1, 0.2)]  # frames 0-4 and 5-9; 10-11 are a pause
    p = word_purity(r, words)
    assert p.purity == 1.0 and p.frames == 10 and p.words == 2
    assert p.top_word[0] == ("ask", 1.0) and p.top_word[1] == ("not", 1.0) and 2 not in p.top_word
    mixed = word_purity(_result([0, 0, 0, 1, 1, 0, 0, 0, 1, 1]), [("ask", 0.0, 0.1), ("NOT", 0.1, 0.2)])
    assert mixed.purity == pytest.approx(0.5)  # unit 0: 3 of its 6 frames in either word, unit 1: 2 of 4
    assert word_purity(r, []).purity == 0.0 and word_purity(r, [("...", 0.0, 0.1)]).frames == 0


def test_stats_job_with_the_built_in_transcriber(data: Path) -> None:
    from studio.engine.units.codebook import Codebook
    from studio.engine.units.jobs import stats_job
    from studio.engine.units.result import UnitsAnalysis
    from studio.worker.jobs import JobContext

    rng = np.random.default_rng(0)
    units = np.repeat(rng.integers(0, 20, 110), 5)[:549].astype(np.int32)
    r = UnitsResult(units, 50.0, 20, "m", 6, 11.0)
    analysis = UnitsAnalysis(str(data / "jfk.flac"), r, Codebook(np.zeros((20, 4), np.float32), "m", 6), True)
    from studio.worker.registry import ModelRegistry

    ctx = JobContext(1, "cpu", ModelRegistry(), lambda *_: None)
    out = stats_job(ctx, analysis, with_words=True)
    assert out.histogram.sum() == 549 and out.spectra.shape == (20, 80)
    # "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your
    # country": 14 distinct words
    assert out.purity is not None and out.purity.words == 14 and 0.2 < out.purity.purity <= 1.0
    assert out.purity.frames > 300  # most of the 11 s is inside words
