"""Voice enrollment for VALL-E X cloning: the prompt check, voice files (ours and VALL-E X presets), the voices
library, and enrollment through the real bundled tiny.en transcriber and a random-initialised EnCodec 24 kHz."""

from __future__ import annotations

import hashlib
import io
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from studio.audio.io import load_audio
from studio.engine.clone.prompt_check import PAUSE_S, check_prompt, seconds_text
from studio.engine.clone.voices import (
    Voice,
    VoiceFileError,
    VoiceGoneError,
    VoiceLibrary,
    default_voices_folder,
    load_voice,
    save_voice,
)
from studio.errors import StudioError

SR = 24000
RATINGS = ["clean", "audible", "noisy"]


@pytest.fixture(scope="module")
def en24(data: Path) -> np.ndarray:
    return load_audio(data / "vallex-en-1.wav", SR)


def write(path: Path, x: np.ndarray, sr: int = SR) -> Path:
    sf.write(path, x, sr, subtype="FLOAT")
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---- the prompt check


def test_stereo_prompt_is_mixed_down_by_averaging(tmp_path, en24, data):
    left = en24
    right = np.zeros_like(en24)
    other = load_audio(data / "vallex-ja-1.wav", SR)[: len(en24)]
    right[: len(other)] = 0.8 * other
    c = check_prompt(write(tmp_path / "stereo.wav", np.stack([left, right], axis=1)))
    assert c.channels == 2 and c.sample_rate == SR and not c.channel_note
    start = round(c.trimmed[0] * SR)
    mix = (left + right) / 2
    mean = (mix - mix.mean())[start: start + len(c.samples)]  # without its DC offset
    np.testing.assert_allclose(c.samples, mean, atol=1e-6)
    assert np.abs(c.samples - left[start: start + len(c.samples)]).max() > 0.1  # not the first channel
    # samples given as (samples, channels) are mixed the same way
    np.testing.assert_allclose(check_prompt(np.stack([left, right], axis=1), SR).samples, c.samples, atol=1e-6)


@pytest.mark.parametrize("right", ["silent", "-40 dB", "inverted"])
def test_a_silent_or_inverted_channel_is_left_out_of_the_mix(tmp_path, en24, right):
    """Averaged, a silent channel halves the prompt's level and an inverted one cancels it to nothing."""
    other = {"silent": np.zeros_like(en24), "-40 dB": en24 * 0.01, "inverted": -en24}[right]
    c = check_prompt(write(tmp_path / "stereo.wav", np.stack([en24, other], axis=1)))
    mono = check_prompt(write(tmp_path / "mono.wav", en24))
    assert c.channels == 2 and c.speech_db == pytest.approx(mono.speech_db, abs=0.1)
    np.testing.assert_allclose(c.samples, mono.samples, atol=1e-6)
    said = "silent: used the other" if right != "inverted" else "cancel out when averaged"
    assert said in c.channel_note and any(said in w for w in c.warnings)
    # a 4-channel file with one dead channel averages the other three
    four = check_prompt(np.stack([en24, en24, np.zeros_like(en24), en24], axis=1), SR)
    assert four.channel_note == "1 of 4 channels are silent: used the average of the others"
    np.testing.assert_allclose(four.samples, mono.samples, atol=1e-6)


def test_a_dc_offset_is_not_taken_for_background_noise(tmp_path, en24):
    plain = check_prompt(write(tmp_path / "plain.wav", en24))
    shifted = check_prompt(write(tmp_path / "dc.wav", en24 + 0.3))
    assert shifted.noise_floor_db == pytest.approx(plain.noise_floor_db, abs=1)
    assert shifted.snr_db == pytest.approx(plain.snr_db, abs=1) and shifted.noise_rating == plain.noise_rating
    assert abs(float(shifted.samples.mean())) < 0.01  # the prompt itself goes to the codec without it


def test_a_cut_off_file_is_called_too_short_or_damaged(tmp_path, en24):
    whole = tmp_path / "whole.wav"
    sf.write(whole, en24, SR, subtype="PCM_16")
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole.read_bytes()[:44 + 1000])  # the header and 1000 bytes: a copy that stopped early
    with pytest.raises(StudioError) as e:
        check_prompt(cut)
    assert "'cut.wav'" in e.value.message and "too short, or damaged" in e.value.message
    header = tmp_path / "header.wav"
    header.write_bytes(whole.read_bytes()[:30])  # not even a whole header: libsndfile's words stay out
    with pytest.raises(StudioError) as e:
        check_prompt(header)
    assert e.value.message == "'header.wav' is not a readable audio file: it is damaged, or not audio."
    assert len(e.value.remedy) < 100


def test_lengths_outside_the_limits_never_read_as_the_limit(tmp_path, en24):
    assert seconds_text(15.04, 2, 15) == "15.1" and seconds_text(1.96, 2, 15) == "1.9"
    assert seconds_text(2.96, 3, 10) == "2.9" and seconds_text(10.01, 3, 10) == "10.1"
    assert seconds_text(5.96, 3, 10) == "6.0" and seconds_text(15.0, 2, 15) == "15.0"
    long = write(tmp_path / "long.wav", np.tile(en24, 3)[: int(15.5 * SR)])  # just over 15 s once trimmed
    with pytest.raises(StudioError) as e:
        check_prompt(long)
    assert seconds_in(e.value.message) > 15 and "at most 15 s" in e.value.message


def test_leading_and_trailing_silence_is_trimmed(tmp_path, en24, data):
    plain = check_prompt(data / "vallex-en-1.wav")
    second = np.zeros(SR, np.float32)
    padded = check_prompt(write(tmp_path / "padded.wav", np.concatenate([second, en24, second])))
    assert padded.original_duration == pytest.approx(len(en24) / SR + 2, abs=1e-3)
    assert padded.duration == pytest.approx(plain.duration, abs=0.2)
    assert padded.trimmed[0] == pytest.approx(plain.trimmed[0] + 1, abs=0.2)
    assert padded.trimmed[1] == pytest.approx(plain.trimmed[1] + 1, abs=0.2)
    assert plain.duration < plain.original_duration - 0.3  # the file's own 0.6 s lead-in went too
    assert len(padded.samples) == pytest.approx(padded.duration * SR, abs=1)
    assert padded.samples.dtype == np.float32 and padded.samples.ndim == 1


def test_a_long_pause_is_flagged(tmp_path, en24):
    # the file's two sentences (0.6-4.2 s and 4.9-6.3 s) joined with a short gap, then with 1.2 s more silence
    first, second = en24[: int(4.4 * SR)], en24[int(4.6 * SR):]
    joined = check_prompt(np.concatenate([first, second]), SR)
    assert joined.pauses == []
    gap = np.zeros(int(1.2 * SR), np.float32)
    paused = check_prompt(np.concatenate([first, gap, second]), SR)
    assert len(paused.pauses) == 1
    start, end = paused.pauses[0]
    assert end - start > 1.2 + 0.2 > PAUSE_S
    assert start == pytest.approx(4.16 - paused.trimmed[0], abs=0.15)
    assert any("pause" in w and f"{start:.1f}" in w for w in paused.warnings)


def test_noise_floor_rises_with_added_white_noise(tmp_path, data):
    speech = load_audio(data / "jfk.flac", SR)
    clean = check_prompt(write(tmp_path / "clean.wav", speech))
    noise = np.random.default_rng(0).normal(0, 10 ** (-25 / 20), len(speech)).astype(np.float32)  # -25 dBFS RMS
    noisy = check_prompt(write(tmp_path / "noisy.wav", speech + noise))
    assert clean.noise_floor_db < noisy.noise_floor_db - 10
    assert noisy.noise_floor_db == pytest.approx(-25, abs=2)  # the noise is what the gaps hold now
    assert RATINGS.index(clean.noise_rating) < RATINGS.index(noisy.noise_rating) == 2
    assert any("noise" in w for w in noisy.warnings)
    assert not clean.clipped and clean.peak_db == pytest.approx(20 * np.log10(np.abs(speech).max()), abs=0.5)


def test_clipping_is_found_in_any_channel(tmp_path, en24):
    loud = en24 / np.abs(en24).max() * 3  # flat tops once written as 16-bit
    quiet = en24 * 0.1
    c = check_prompt(write(tmp_path / "clip.wav", np.clip(np.stack([quiet, loud], axis=1), -1, 1)))
    assert c.clipped and c.peak_db > -0.1
    assert any("clipped" in w for w in c.warnings)


def seconds_in(message: str) -> float:
    return float(re.search(r"holds (\d+\.\d) s of speech", message).group(1))


def test_a_one_second_prompt_is_refused_with_its_length(tmp_path, en24):
    short = write(tmp_path / "short.wav", en24[int(0.6 * SR): int(1.6 * SR)])
    with pytest.raises(StudioError) as e:
        check_prompt(short)
    assert "'short.wav'" in e.value.message and "at least 2 s" in e.value.message
    assert 0.5 <= seconds_in(e.value.message) < 2
    assert "3–10 s" in e.value.remedy


def test_a_sixty_second_prompt_is_refused_with_its_length(tmp_path, en24):
    long = write(tmp_path / "long.wav", np.tile(en24, 9)[: 60 * SR])
    with pytest.raises(StudioError) as e:
        check_prompt(long)
    assert "at most 15 s" in e.value.message and seconds_in(e.value.message) > 55
    assert "22 s" in e.value.remedy  # the reason: VALL-E X's training clips


def test_hour_long_files_and_silence_are_refused(tmp_path):
    hours = tmp_path / "hours.wav"
    sf.write(hours, np.zeros(130 * 8000, np.int16), 8000)
    with pytest.raises(StudioError, match=r"130 s long"):
        check_prompt(hours)
    with pytest.raises(StudioError, match="No speech"):
        check_prompt(np.zeros(5 * SR, np.float32), SR)
    with pytest.raises(StudioError, match="does not exist"):
        check_prompt(tmp_path / "missing.wav")


# ---- voice files


def test_the_vallex_preset_loads(data):
    v = load_voice(data / "vallex-preset-librispeech_1.npz")
    assert v.audio_tokens.shape == (225, 8) and v.audio_tokens.dtype == np.int64
    assert v.text_tokens.shape == (58,) and v.text_tokens.dtype == np.int64
    assert v.language == "en" and v.name == "vallex-preset-librispeech_1" and v.duration == 3.0
    with np.load(data / "vallex-preset-librispeech_1.npz") as z:
        np.testing.assert_array_equal(v.audio_tokens, z["audio_tokens"][0])
        np.testing.assert_array_equal(v.text_tokens, z["text_tokens"][0])


def test_a_saved_voice_is_a_vallex_preset_and_round_trips(tmp_path, data):
    preset = load_voice(data / "vallex-preset-librispeech_1.npz")
    voice = Voice("Ünïcode — voice", "ja", preset.audio_tokens, preset.text_tokens, "こんにちは。", 3.0)
    path = save_voice(voice, tmp_path / "v.npz")
    with np.load(path, allow_pickle=False) as z:  # VALL-E X's reader: the three arrays in its layout
        assert z["audio_tokens"].dtype == np.int64 and z["audio_tokens"].shape == (1, 225, 8)
        assert z["text_tokens"].dtype == np.int64 and z["text_tokens"].shape == (1, 58)
        assert z["lang_code"].dtype == np.int32 and z["lang_code"].shape == () and int(z["lang_code"]) == 1
    back = load_voice(path)
    assert (back.name, back.language, back.prompt_text, back.duration) == (voice.name, "ja", "こんにちは。", 3.0)
    np.testing.assert_array_equal(back.audio_tokens, voice.audio_tokens)
    np.testing.assert_array_equal(back.text_tokens, voice.text_tokens)
    assert back.path == str(path)
    bad = Voice("x", "de", preset.audio_tokens, preset.text_tokens, "", 3.0)
    with pytest.raises(StudioError, match="language"):
        save_voice(bad, tmp_path / "bad.npz")
    assert not (tmp_path / "bad.npz").exists()


def _arrays(data: Path) -> dict[str, np.ndarray]:
    with np.load(data / "vallex-preset-librispeech_1.npz") as z:
        return {k: z[k] for k in z.files}


def _npz(path: Path, **arrays) -> None:
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _hostile_header(path: Path) -> None:
    """A valid zip whose audio_tokens .npy header declares 10^9 frames but holds a few bytes."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<i8", "fortran_order": False,
                                                  "shape": (1, 10**9, 8)})
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("audio_tokens.npy", header.getvalue() + b"\0" * 64)


DAMAGED = {
    "missing key": (lambda p, a: _npz(p, audio_tokens=a["audio_tokens"], lang_code=a["lang_code"]),
                    "has no text_tokens array"),
    "wrong dtype": (lambda p, a: _npz(p, **{**a, "lang_code": np.array(2.0)}),
                    "lang_code is a float64 array"),
    "float codes": (lambda p, a: _npz(p, **{**a, "audio_tokens": a["audio_tokens"].astype(np.float32)}),
                    "audio_tokens are float32 numbers"),
    "codes 5000": (lambda p, a: _npz(p, **{**a, "audio_tokens": np.where(a["audio_tokens"] > 500, 5000,
                                                                         a["audio_tokens"])}),
                   "codes from 0 to 5000"),
    "text id 9999": (lambda p, a: _npz(p, **{**a, "text_tokens": a["text_tokens"] + 9990}),
                     r"ids from \d+ to \d+, expected 0…2047"),
    "language 7": (lambda p, a: _npz(p, **{**a, "lang_code": np.array(7, np.int32)}), "lang_code is 7"),
    "4 codebooks": (lambda p, a: _npz(p, **{**a, "audio_tokens": a["audio_tokens"][:, :, :4]}),
                    r"shape \(1, 225, 4\)"),
    "pickled object array": (lambda p, a: _npz(p, **{**a, "audio_tokens": np.array([object()], dtype=object)}),
                             "pickled"),
    "pickled name": (lambda p, a: _npz(p, **a, name=np.array(["x", 1], dtype=object)), "pickled"),
    "truncated zip": (lambda p, a: p.write_bytes((Path(__file__).parent / "data" /
                                                  "vallex-preset-librispeech_1.npz").read_bytes()[:5000]),
                      r"not a complete \.npz \(zip\) archive"),
    "not a zip": (lambda p, a: p.write_bytes((Path(__file__).parent / "data" / "vallex-en-1.wav").read_bytes()),
                  r"not a complete \.npz \(zip\) archive"),
    "hostile header": (lambda p, a: _hostile_header(p), r"1000000000 frames"),
    "empty": (lambda p, a: p.write_bytes(b""), "is empty"),
}


@pytest.mark.parametrize("case", list(DAMAGED))
def test_damaged_voice_files_are_refused_clearly(tmp_path, data, case):
    make, said = DAMAGED[case]
    path = tmp_path / "damaged.npz"
    make(path, _arrays(data))
    before = digest(path)
    with pytest.raises(VoiceFileError) as e:
        load_voice(path)
    assert re.search(said, e.value.message), e.value.message
    assert e.value.message.startswith("'damaged.npz'") and e.value.remedy
    assert not re.search(r"Error|zip file|\(\w+: ", e.value.message)  # no library's own words
    assert digest(path) == before
    library = VoiceLibrary(tmp_path / "voices")
    with pytest.raises(VoiceFileError):
        library.import_preset(path)
    assert list(library.folder.iterdir()) == []


# ---- the library


def test_library_add_list_rename_delete_undo(tmp_path, data):
    preset = load_voice(data / "vallex-preset-librispeech_1.npz")
    library = VoiceLibrary(tmp_path / "voices")
    assert library.voices() == []
    a = library.add(Voice("Anna", "en", preset.audio_tokens, preset.text_tokens, "Hello.", 3.0))
    with pytest.raises(StudioError, match="'Anna' already exists") as e:  # two rows alike cannot be told apart
        library.add(Voice(" Anna ", "en", preset.audio_tokens, preset.text_tokens, "Hi.", 3.0))
    assert e.value.remedy == "Choose another name."
    b = library.add(Voice("anna", "en", preset.audio_tokens, preset.text_tokens, "Hi.", 3.0))
    c = library.add(Voice("zed/../x", "zh", preset.audio_tokens, preset.text_tokens, "你好。", 3.0))
    assert Path(a.path).name == "Anna.npz" and Path(b.path).name in ("anna.npz", "anna (2).npz")
    assert Path(c.path).parent == library.folder and Path(c.path).name == "zed_.._x.npz"
    listed = library.voices()
    assert [(v.name, v.language, v.duration, v.path) for v in listed] == [
        ("Anna", "en", 3.0, a.path), ("anna", "en", 3.0, b.path), ("zed/../x", "zh", 3.0, c.path)]

    renamed = library.rename(b.path, "Bob")
    assert Path(renamed.path).name == "Bob.npz" and not Path(b.path).exists()
    assert load_voice(renamed.path).name == "Bob" and load_voice(renamed.path).prompt_text == "Hi."
    with pytest.raises(StudioError, match="already exists"):
        library.rename(renamed.path, "Anna")
    with pytest.raises(StudioError, match="not a usable voice name"):
        library.rename(renamed.path, "  ")

    trashed = library.delete(renamed.path)
    assert not Path(renamed.path).exists() and trashed.is_file() and library.trash in trashed.parents
    assert [v.name for v in library.voices()] == ["Anna", "zed/../x"]
    restored = library.restore(trashed)
    assert restored.name == "Bob" and Path(restored.path) == Path(renamed.path)
    assert [v.name for v in library.voices()] == ["Anna", "Bob", "zed/../x"]

    Path(c.path).unlink()  # removed outside Voice Studio: said so, not "the folder does not exist"
    for act in (lambda: library.delete(c.path), lambda: library.rename(c.path, "Zed")):
        with pytest.raises(VoiceGoneError, match=r"'zed_.._x' is no longer in the voices folder \(removed outside"):
            act()
    with pytest.raises(StudioError, match="no longer in the trash"):
        library.restore(trashed)

    (library.folder / "broken.npz").write_bytes(b"not a zip")
    assert [v.name for v in library.voices()] == ["Anna", "Bob"]
    assert [p.name for p, _ in library.skipped] == ["broken.npz"]


def test_listing_the_library_again_reads_only_the_files_that_changed(tmp_path, data, monkeypatch):
    """The window lists the folder after each change on its UI thread: unchanged files are not parsed again, a file
    rewritten in place (same name) is, and what a caller does to a listed voice does not reach the next listing."""
    import studio.engine.clone.voices as voices

    preset = load_voice(data / "vallex-preset-librispeech_1.npz")
    library = VoiceLibrary(tmp_path / "voices")
    for name in ("Anna", "Bob", "Cleo"):
        library.add(Voice(name, "en", preset.audio_tokens, preset.text_tokens, "Hello.", 3.0))
    library = VoiceLibrary(library.folder)  # as the window at start: nothing read yet
    parsed: list[str] = []
    real = voices.load_voice
    monkeypatch.setattr(voices, "load_voice", lambda p: parsed.append(Path(p).name) or real(p))
    first = library.voices()
    assert sorted(parsed) == ["Anna.npz", "Bob.npz", "Cleo.npz"]
    first[0].name = "changed by a caller"
    parsed.clear()
    assert [v.name for v in library.voices()] == ["Anna", "Bob", "Cleo"] and parsed == []
    bob = library.folder / "Bob.npz"  # rewritten by another program: a new file under the old name
    replacement = tmp_path / "other" / "Bob.npz"
    VoiceLibrary(replacement.parent).add(Voice("Bob", "en", preset.audio_tokens[:100], preset.text_tokens,
                                               "Hi.", 3.0))
    os.replace(replacement, bob)
    assert [v.duration for v in library.voices() if v.name == "Bob"] == [100 / 75] and parsed == ["Bob.npz"]


def test_a_voice_is_as_long_as_its_frames_whatever_its_file_says(tmp_path, data):
    arrays = _arrays(data)
    for stored in (1e-9, 500.0, float("nan")):
        _npz(tmp_path / "v.npz", **arrays, duration=np.array(stored))
        assert load_voice(tmp_path / "v.npz").duration == 225 / 75
    preset = load_voice(data / "vallex-preset-librispeech_1.npz")
    path = save_voice(Voice("x", "en", preset.audio_tokens, preset.text_tokens, "", 1e-9), tmp_path / "w.npz")
    with np.load(path) as z:
        assert float(z["duration"]) == 3.0


def test_import_preset_copies_and_only_reads_the_source(tmp_path, data):
    source = tmp_path / "librispeech_1.npz"
    source.write_bytes((data / "vallex-preset-librispeech_1.npz").read_bytes())
    source.chmod(0o444)
    before = digest(source)
    library = VoiceLibrary(tmp_path / "voices")
    first = library.import_preset(source)
    second = library.import_preset(source)
    assert digest(source) == before
    assert first.name == "librispeech_1" and Path(second.path).name == "librispeech_1 (2).npz"
    assert digest(Path(first.path)) == before  # the bytes checked are the bytes copied
    # a preset has no name: each copy is named by its file in the library
    assert [v.name for v in library.voices()] == ["librispeech_1", "librispeech_1 (2)"]


def test_default_folder_is_beside_the_recordings(tmp_path):
    from PySide6.QtCore import QSettings

    from studio.ui.settings import AppSettings

    settings = AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat))
    assert default_voices_folder() == settings.recordings_folder.parent / "voices"


# ---- enrollment


@pytest.fixture(scope="module")
def codec24(data):
    from test_codec import random_pair

    return random_pair(24, data=data)[1]


def test_enroll_job_with_the_bundled_transcriber_and_a_random_codec(tmp_path, data, codec24):
    from studio.engine.asr.transcribe import Transcriber
    from studio.engine.clone.jobs import enroll_job
    from studio.engine.clone.phonemes import text_to_ids
    from studio.hub.whisper_weights import load_whisper
    from studio.worker.jobs import JobContext
    from studio.worker.registry import ModelRegistry

    models = ModelRegistry()
    models.get("whisper:tiny.en:cpu", lambda: Transcriber(load_whisper("tiny.en")))
    models.get("encodec:24khz", lambda: codec24)
    reports: list[tuple[float, str]] = []
    ctx = JobContext(1, "cpu", models, lambda _, f, m: reports.append((f, m)))
    source = data / "vallex-en-1.wav"
    before = digest(source)
    voice, check = enroll_job(ctx, str(source), "Reader", "en", None, str(tmp_path / "voices"))
    assert digest(source) == before

    words = re.findall(r"[a-z]+", voice.prompt_text.lower())
    assert {"lived", "family"} <= set(words), voice.prompt_text
    assert voice.prompt_text.endswith(".")
    frames = -(-len(check.samples) // 320)
    assert voice.audio_tokens.shape == (frames, 8) and voice.audio_tokens.dtype == np.int64
    assert len(np.unique(voice.audio_tokens[:, 0])) > 20  # codes that follow the audio
    np.testing.assert_array_equal(voice.text_tokens, np.asarray(text_to_ids(voice.prompt_text, "en").ids))
    assert voice.text_tokens.ndim == 1 and len(voice.text_tokens) > 10
    assert voice.duration == frames / 75 == pytest.approx(check.duration, abs=1 / 75) and 5 < voice.duration < 6.5
    assert [m for _, m in reports if "Transcribing" in m] and reports[-1] == (1.0, "Enrolled")

    assert Path(voice.path).parent == tmp_path / "voices" and Path(voice.path).name == "Reader.npz"
    back = load_voice(voice.path)
    assert (back.name, back.language, back.prompt_text, back.duration) == ("Reader", "en", voice.prompt_text,
                                                                            voice.duration)
    np.testing.assert_array_equal(back.audio_tokens, voice.audio_tokens)
    np.testing.assert_array_equal(back.text_tokens, voice.text_tokens)
    with np.load(voice.path, allow_pickle=False) as z:
        assert int(z["lang_code"]) == 2 and z["audio_tokens"].shape == (1, frames, 8)


def test_given_text_skips_transcription_and_bad_codes_are_refused(tmp_path, data, codec24):
    from studio.engine.clone.enroll import enroll
    from studio.engine.clone.phonemes import text_to_ids
    from studio.engine.codec.analysis import encode_audio

    def transcribe(samples: np.ndarray) -> str:
        raise AssertionError("the text was given")

    def encode(samples: np.ndarray) -> np.ndarray:
        return encode_audio(codec24, samples, 6.0)[0]

    source = data / "vallex-en-1.wav"
    voice, check = enroll(source, "Typed", "en", "  Here was that  lived ", transcribe, encode)
    assert voice.prompt_text == "Here was that lived." and voice.path is None
    np.testing.assert_array_equal(voice.text_tokens, np.asarray(text_to_ids("Here was that lived.", "en").ids))
    assert voice.audio_tokens.shape == (-(-len(check.samples) // 320), 8)

    with pytest.raises(StudioError, match=r"shape \(4, "):
        enroll(source, "x", "en", "Hello.", transcribe, lambda s: encode(s)[:4])
    with pytest.raises(StudioError, match="not a language"):
        enroll(source, "x", "fr", "Bonjour.", transcribe, encode)
    with pytest.raises(StudioError, match="No words"):
        enroll(source, "x", "en", None, lambda s: "  ", encode)
