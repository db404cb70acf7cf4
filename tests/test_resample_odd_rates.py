"""Rates whose reduced ratio has long periods (44101 Hz, 192001 Hz) resample with the same filter as the
polyphase path, in bounded memory (the polyphase table would be gigabytes), and blocks agree with the whole."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from studio.audio import io


def test_direct_path_equals_the_polyphase_filter_where_both_apply() -> None:
    x = np.random.default_rng(0).standard_normal(44100 * 2).astype(np.float32)
    for a, b in [(44100, 16000), (48000, 16000), (16000, 24000), (8000, 16000)]:
        assert not io._needs_direct(a, b)
        np.testing.assert_allclose(io._resample_direct(x, a, b), io.resample(x, a, b), atol=1e-5)


def test_coprime_rate_resamples_a_tone_in_bounded_memory(tmp_path: Path) -> None:
    assert io._needs_direct(44101, 16000)
    t = np.arange(44101 * 3) / 44101
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    y = io.resample(tone, 44101, 16000)
    assert len(y) == -(-len(tone) * 16000 // 44101)
    want = 0.5 * np.sin(2 * np.pi * 440 * np.arange(len(y)) / 16000)
    np.testing.assert_allclose(y[2000:-2000], want[2000:-2000], atol=2e-3)  # the tone at its new rate
    path = tmp_path / "odd.wav"
    sf.write(path, tone, 44101, subtype="FLOAT")
    blocks = np.concatenate(list(io.iter_blocks(path, 16000, block_seconds=1.3)))
    np.testing.assert_allclose(blocks, y, atol=1e-6)


def test_nan_and_inf_samples_read_as_silence_and_full_scale(tmp_path: Path) -> None:
    x = np.full(1600, 0.25, np.float32)
    x[10], x[20], x[30] = np.nan, np.inf, -np.inf
    sf.write(tmp_path / "nan.wav", x, 16000, subtype="FLOAT")
    y = io.load_audio(tmp_path / "nan.wav", 16000)
    assert np.isfinite(y).all() and (y[10], y[20], y[30]) == (0.0, 1.0, -1.0)
