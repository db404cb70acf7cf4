from pathlib import Path

import numpy as np
import pytest
import torch
import whisper

from studio.audio.io import load_audio
from studio.audio.live import LiveMel
from studio.audio.mel import log_mel_spectrogram, mel_filters, mel_frequencies
from studio.engine.spectrogram import compute_spectrogram

WHISPER_FILTERS = Path(whisper.__file__).parent / "assets" / "mel_filters.npz"


@pytest.mark.parametrize("n_mels", [80, 128])
def test_slaney_filters_equal_whispers_shipped_filters(n_mels: int):
    ref = np.load(WHISPER_FILTERS)[f"mel_{n_mels}"]
    np.testing.assert_allclose(mel_filters(n_mels=n_mels), ref, atol=1e-7)


@pytest.mark.parametrize("name,n_mels", [("jfk.flac", 80), ("vallex-en-1.wav", 128), ("vallex-zh-1.wav", 80)])
def test_log_mel_matches_openai_whisper(data: Path, name: str, n_mels: int):
    audio = load_audio(data / name, 16000)
    ref = whisper.log_mel_spectrogram(torch.from_numpy(audio), n_mels=n_mels).numpy()
    ours = log_mel_spectrogram(audio, n_mels=n_mels).numpy()
    assert ours.shape == ref.shape == (n_mels, len(audio) // 160)
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_log_mel_padding_matches_whisper_30s_window(data: Path):
    audio = load_audio(data / "jfk.flac", 16000)
    ref = whisper.log_mel_spectrogram(torch.from_numpy(audio), padding=480000).numpy()
    np.testing.assert_allclose(log_mel_spectrogram(audio, padding=480000).numpy(), ref, atol=1e-5)


def test_a_1khz_tone_lights_the_band_around_1khz():
    t = np.arange(16000) / 16000
    mel = log_mel_spectrogram(0.5 * np.sin(2 * np.pi * 1000 * t).astype(np.float32)).numpy()
    band = int(mel[:, 10:-10].mean(axis=1).argmax())
    assert abs(mel_frequencies(80)[band] - 1000) < 60
    # hand-checked scale: a pure tone's peak is the top of the range, silence-free floor is max - 8 -> 0.0
    assert mel.max() == pytest.approx((mel.max() * 4 - 4 + 4) / 4)
    assert mel.min() >= mel.max() - 2.0 - 1e-6


def test_streamed_spectrogram_equals_whisper_log_mel(data: Path):
    audio = load_audio(data / "jfk.flac", 16000)
    ref = whisper.log_mel_spectrogram(torch.from_numpy(audio)).numpy()
    spec = compute_spectrogram(str(data / "jfk.flac"), "mel80", max_columns=10**6, block_seconds=1.3)
    assert spec.frames_per_column == 1 and (spec.t0, spec.t1) == (0.0, 11.0)
    np.testing.assert_allclose(spec.image, ref, atol=1e-5)


def test_zoomed_range_lines_up_with_the_whole_file(data: Path):
    ref = whisper.log_mel_spectrogram(torch.from_numpy(load_audio(data / "jfk.flac", 16000))).numpy() * 4 - 4
    z = compute_spectrogram(str(data / "jfk.flac"), "mel80", start=2.0, end=5.0, max_columns=10**6)
    assert (z.t0, z.t1, z.image.shape[1]) == (2.0, 5.0, 300)
    raw, ref_part = z.image * 4 - 4, ref[:, 200:500]
    above = (raw > raw.min() + 1e-3) & (ref_part > ref.min() + 1e-3)  # where neither max - 8 floor applies
    np.testing.assert_allclose(raw[above], ref_part[above], atol=1e-4)


def test_overview_is_pooled_to_the_requested_columns(data: Path):
    spec = compute_spectrogram(str(data / "encodec-test_24k.wav"), "mel80", max_columns=500)
    assert spec.image.shape == (80, 500) and spec.frames_per_column == 4
    full = compute_spectrogram(str(data / "encodec-test_24k.wav"), "mel80", max_columns=10**6)
    np.testing.assert_allclose(spec.image[:, 10], full.image[:, 40:44].max(axis=1), atol=1e-5)


def test_linear_view_puts_a_tone_at_its_frequency(tmp_path: Path):
    import soundfile as sf

    sr = 48000
    t = np.arange(sr * 2) / sr
    sf.write(tmp_path / "tone.wav", 0.3 * np.sin(2 * np.pi * 3000 * t), sr)
    spec = compute_spectrogram(str(tmp_path / "tone.wav"), "linear")
    row = int(spec.image[:, 5:-5].mean(axis=1).argmax())
    assert abs(spec.freqs[row] - 3000) < sr / 2048 + 1
    assert spec.vmax - spec.vmin == pytest.approx(80.0)


def test_live_mel_tracks_a_tone_at_the_device_rate():
    sr = 44100
    live = LiveMel(sr)
    t = np.arange(sr) / sr
    x = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    cols = np.concatenate([live.push(x[i : i + 1470]) for i in range(0, sr, 1470)], axis=1)
    assert abs(cols.shape[1] - 100) <= 3  # 10 ms hop
    assert abs(mel_frequencies(80)[int(cols[:, 5:].mean(axis=1).argmax())] - 1000) < 60
