from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from studio.audio.io import AudioError, iter_blocks, load_audio, probe, resample


def _sine(freq: float, sr: int, seconds: float = 1.0, channels: int = 1) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    x = 0.5 * np.sin(2 * np.pi * freq * t).astype(np.float32)
    return np.tile(x[:, None], (1, channels)) if channels > 1 else x


def _peak_hz(x: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sr)[spec.argmax()])


def test_resamples_44k_stereo_24bit_flac_to_16k_mono(data: Path):
    info = probe(data / "jfk.flac")
    assert (info.sample_rate, info.channels, info.subtype) == (44100, 2, "PCM_24")
    audio = load_audio(data / "jfk.flac", 16000)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) == 176000
    raw, _ = sf.read(data / "jfk.flac", dtype="float32")
    expected = resample(raw.mean(axis=1), 44100, 16000)
    np.testing.assert_allclose(audio, expected, atol=1e-6)


@pytest.mark.parametrize("sr,channels,subtype", [(8000, 1, "PCM_16"), (96000, 2, "PCM_24"), (48000, 6, "FLOAT"),
                                                 (22050, 1, "PCM_24"), (44100, 1, "DOUBLE")])
def test_odd_rates_channels_and_sample_formats_load_at_16k(tmp_path: Path, sr: int, channels: int, subtype: str):
    path = tmp_path / f"tone_{sr}_{channels}.wav"
    sf.write(path, _sine(440.0, sr, 1.0, channels), sr, subtype=subtype)
    audio = load_audio(path, 16000)
    assert len(audio) == 16000
    assert abs(_peak_hz(audio, 16000) - 440.0) < 2.0
    assert 0.3 < np.abs(audio[1000:-1000]).max() < 0.55


@pytest.mark.parametrize("fmt,ext", [("OGG", "ogg"), ("MP3", "mp3"), ("FLAC", "flac")])
def test_compressed_formats_load(tmp_path: Path, fmt: str, ext: str):
    path = tmp_path / f"tone.{ext}"
    sf.write(path, _sine(1000.0, 48000, 2.0), 48000, format=fmt)
    audio = load_audio(path, 16000)
    assert abs(len(audio) - 32000) < 1200  # mp3 adds encoder padding
    assert abs(_peak_hz(audio, 16000) - 1000.0) < 3.0


def test_blockwise_reading_equals_whole_file_resampling(data: Path):
    whole = load_audio(data / "jfk.flac", 16000)
    blocks = list(iter_blocks(data / "jfk.flac", 16000, block_seconds=0.7))
    assert len(blocks) > 10
    np.testing.assert_allclose(np.concatenate(blocks), whole, atol=1e-5)


def test_range_reading_matches_the_same_span_of_the_whole_file(data: Path):
    whole = load_audio(data / "vallex-ja-1.wav", 16000)
    part = load_audio(data / "vallex-ja-1.wav", 16000, start=1.0, end=2.0)
    assert len(part) == 16000
    np.testing.assert_allclose(part, whole[16000:32000], atol=1e-5)


def test_missing_file_says_so(tmp_path: Path):
    with pytest.raises(AudioError, match="does not exist"):
        probe(tmp_path / "nope.wav")


def test_empty_file_says_empty(tmp_path: Path):
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioError, match=r"empty \(0 bytes\)"):
        load_audio(tmp_path / "empty.wav")


def test_zero_length_audio_says_no_samples(tmp_path: Path):
    path = tmp_path / "zero.wav"
    sf.write(path, np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match="no audio samples"):
        load_audio(path)


def test_corrupt_file_names_the_problem_and_a_remedy(tmp_path: Path):
    path = tmp_path / "corrupt.wav"
    good = tmp_path / "good.wav"
    sf.write(good, _sine(440, 16000), 16000)
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + np.random.default_rng(0).bytes(4000))
    with pytest.raises(AudioError) as err:
        load_audio(path)
    assert "not a readable audio file" in err.value.message and "convert" in err.value.remedy


def test_text_file_is_not_audio(tmp_path: Path):
    path = tmp_path / "notes.mp3"
    path.write_text("this is not audio\n" * 50)
    with pytest.raises(AudioError, match="not a readable audio file"):
        probe(path)


def test_truncated_flac_reports_damage_or_reads_what_is_there(tmp_path: Path, data: Path):
    raw = (data / "jfk.flac").read_bytes()
    path = tmp_path / "cut.flac"
    path.write_bytes(raw[: len(raw) // 2])
    try:
        audio = load_audio(path, 16000)
    except AudioError as e:
        assert "damaged" in e.message or "not a readable" in e.message
    else:
        assert 0 < len(audio) <= 176000
