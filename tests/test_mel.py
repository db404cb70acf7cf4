from pathlib import Path

import numpy as np
import pytest
import torch
import whisper

from studio.audio.io import load_audio
from studio.audio.live import LiveMel
from studio.audio.mel import N_FFT, log_mel_spectrogram, mel_filters, mel_frequencies
from studio.engine.spectrogram import compute_spectrogram

WHISPER_FILTERS = Path(whisper.__file__).parent / "assets" / "mel_filters.npz"


@pytest.mark.parametrize("n_mels", [80, 128])
def test_slaney_filters_equal_whispers_shipped_filters(n_mels: int):
    ref = np.load(WHISPER_FILTERS)[f"mel_{n_mels}"]
    np.testing.assert_allclose(mel_filters(n_mels=n_mels), ref, atol=1e-7)


@pytest.mark.parametrize("name,n_mels", [("jfk.flac", 80), ("jfk.flac", 128), ("vallex-en-1.wav", 128),
                                         ("vallex-zh-1.wav", 80), ("vallex-ja-1.wav", 128)])
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


@pytest.mark.parametrize("n_mels", [80, 128])
def test_a_1khz_tone_gives_the_hand_computed_mel_column(n_mels: int):
    """1 kHz lies exactly on FFT bin 25 (16000 / 400 = 40 Hz a bin), so a periodic-Hann STFT of 0.5 sin(1 kHz)
    holds |X| = 0.5 * sum(window) / 2 = 50 in bin 25, 25 in bins 24 and 26 and nothing elsewhere. Through
    Whisper's shipped filters, log10, the max - 8 floor and (x + 4) / 4 that is every column away from the
    edges; the floor covers the bands the tone does not reach."""
    t = np.arange(16000) / 16000
    audio = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    mel = log_mel_spectrogram(audio, n_mels=n_mels).numpy()
    power = np.zeros(N_FFT // 2 + 1)
    power[25], power[[24, 26]] = 50.0**2, 25.0**2
    bands = np.log10(np.maximum(np.load(WHISPER_FILTERS)[f"mel_{n_mels}"].astype(np.float64) @ power, 1e-10))
    expected = (np.maximum(bands, bands.max() - 8.0) + 4.0) / 4.0
    assert mel.shape == (n_mels, 100)
    np.testing.assert_allclose(mel[:, 10:-10], np.repeat(expected[:, None], 80, axis=1), atol=1e-5)
    assert mel.max() == pytest.approx(expected.max(), abs=1e-5)  # the reflect-padded edges are no louder
    assert mel.min() == pytest.approx(expected.max() - 2.0, abs=1e-5)  # (max - 8 + 4) / 4
    assert abs(mel_frequencies(n_mels)[int(expected.argmax())] - 1000) < 60
    ref = whisper.log_mel_spectrogram(torch.from_numpy(audio), n_mels=n_mels).numpy()
    np.testing.assert_allclose(mel, ref, atol=1e-5)


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


def test_linear_view_gives_the_hand_computed_tone_column(tmp_path: Path):
    """3 kHz at 48 kHz lies exactly on bin 128 of the 2048-point FFT (23.4375 Hz a bin): a periodic-Hann frame of
    0.3 sin holds |X| = 0.3 * 1024 / 2 in bin 128, half that in bins 127 and 129, nothing elsewhere. In dB
    (20 log10 |X|) that is the whole column; everything else sits on the 80 dB floor."""
    import soundfile as sf

    sr = 48000
    t = np.arange(sr * 2) / sr
    sf.write(tmp_path / "tone.wav", 0.3 * np.sin(2 * np.pi * 3000 * t), sr, subtype="FLOAT")
    spec = compute_spectrogram(str(tmp_path / "tone.wav"), "linear")
    peak = 20 * np.log10(0.3 * 2048 / 4)  # 43.73 dB
    expected = np.full(1025, peak - 80.0)
    expected[128], expected[[127, 129]] = peak, 20 * np.log10(0.3 * 2048 / 8)
    assert spec.image.shape == (1025, 2 * sr // 512) and spec.freqs[128] == 3000.0
    np.testing.assert_allclose(spec.image[:, 5:-5], np.repeat(expected[:, None], spec.image.shape[1] - 10, 1),
                               atol=1e-3)
    assert (spec.vmin, spec.vmax) == (pytest.approx(peak - 80.0, abs=1e-3), pytest.approx(peak, abs=1e-3))


def test_live_mel_equals_torchaudio_melspectrogram_at_the_device_rate(data: Path):
    """jfk at its own 44.1 kHz, pushed in 1470-sample chunks, against torchaudio's MelSpectrogram with the same
    framing (2048-point periodic Hann, 10 ms hop, Slaney filters to 8 kHz) and log10: within Whisper's
    8-decade range the two differ only by float32 FFT rounding (seen: 6e-5)."""
    import soundfile as sf
    import torchaudio

    stereo, sr = sf.read(data / "jfk.flac", dtype="float32")
    x = stereo.mean(axis=1, dtype=np.float32)
    live = LiveMel(sr)
    assert (sr, live.n_fft, live.hop) == (44100, 2048, 441)
    cols = np.concatenate([live.push(x[i : i + 1470]) for i in range(0, len(x), 1470)], axis=1)
    transform = torchaudio.transforms.MelSpectrogram(
        sample_rate=sr, n_fft=2048, hop_length=441, f_min=0.0, f_max=8000.0, n_mels=80, window_fn=torch.hann_window,
        power=2.0, center=False, norm="slaney", mel_scale="slaney")
    primed = np.concatenate([np.zeros(2048 - 441, np.float32), x])  # LiveMel starts with that much silence
    ref = torch.clamp(transform(torch.from_numpy(primed)), min=1e-10).log10().numpy()
    assert cols.shape == ref.shape == (80, 1100)  # 10 ms hop: 11 s
    shown = ref > ref.max() - 8.0
    assert shown.mean() > 0.8  # the comparison covers most of the picture, not just the floor
    np.testing.assert_allclose(cols[shown], ref[shown], atol=2e-4)


def test_live_mel_filters_equal_torchaudio_slaney_filters():
    import torchaudio.functional as AF

    for sr in (16000, 22050, 44100, 48000):
        live = LiveMel(sr)
        ref = AF.melscale_fbanks(live.n_fft // 2 + 1, 0.0, 8000.0, 80, sr, norm="slaney", mel_scale="slaney")
        np.testing.assert_allclose(live.filters, ref.numpy().T, atol=1e-6)
