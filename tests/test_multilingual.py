"""Multilingual models: language detection, language and task tokens, translate. No multilingual weights are on
this machine, so a random-initialised tiny (99 languages) is used with a tokenizer in the multilingual id layout."""

import json

import pytest
import torch

from studio.audio.io import load_audio
from studio.audio.mel import log_mel_spectrogram
from studio.engine.asr.decoding import DecodingOptions
from studio.engine.asr.options import TranscribeOptions
from studio.engine.asr.tokenizer import LANGUAGES
from studio.engine.asr.transcribe import Transcriber
from studio.hub.whisper_weights import WHISPER_SIZES, WhisperCheckpoint, bundled_folder
from studio.models.whisper import Whisper


@pytest.fixture(scope="module")
def multilingual(tmp_path_factory):
    """GPT-2 byte-level BPE (the English vocabulary) with the special tokens at their multilingual ids."""
    spec = json.loads((bundled_folder() / "tokenizer.json").read_text())
    vocab = spec["model"]["vocab"]
    vocab["<|pad|>"] = vocab.pop("<|endoftext|>")  # 50256 becomes an ordinary token; specials move up by one
    for t in spec["added_tokens"]:
        t["id"] += 1
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    path.write_text(json.dumps(spec))
    torch.manual_seed(0)
    model = Whisper(WHISPER_SIZES["tiny"])
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.05)
    return Transcriber(WhisperCheckpoint(model.eval(), path, "tiny", "openai"))


def test_special_tokens_sit_at_the_multilingual_ids(multilingual):
    tok = multilingual.tok
    assert tok.multilingual and (tok.eot, tok.sot, tok.no_timestamps) == (50257, 50258, 50363)
    assert tok.language_token("en") == 50259 and tok.language_token("su") == 50357
    assert tok.sot_sequence("de", "translate") == [50258, 50261, 50358]
    assert tok.sot_sequence("ja", "transcribe") == [50258, 50266, 50359]
    assert len(tok.all_language_tokens) == 99 == len(LANGUAGES) - 1  # yue needs large-v3's 100th token


def test_language_detection_gives_a_distribution_over_99_languages(multilingual, data):
    mel = log_mel_spectrogram(load_audio(data / "jfk.flac"), padding=480000)[:, :3000]
    probs = multilingual.decoder.detect_language(multilingual.encode(mel.numpy()))
    assert len(probs) == 99 and abs(sum(probs.values()) - 1) < 1e-4
    result = multilingual.transcribe(data / "jfk.flac", TranscribeOptions(beam_size=1, temperatures=(0.0,)))
    assert result.language == max(probs, key=probs.get) and result.language_probs is not None


def test_translate_decoding_equals_openai_whisper_on_the_same_weights(multilingual, data):
    whisper = pytest.importorskip("whisper")
    from whisper.model import ModelDimensions
    from whisper.model import Whisper as OpenAIWhisper

    ref = OpenAIWhisper(ModelDimensions(**multilingual.model.dims.to_dict()))
    ref.load_state_dict(multilingual.model.state_dict())
    mel = log_mel_spectrogram(load_audio(data / "jfk.flac"), padding=480000)[:, :3000]
    # symbol suppression lists depend on the vocabulary, so both decode without them here
    theirs = whisper.decode(ref, mel, whisper.DecodingOptions(language="de", task="translate", fp16=False,
                                                              suppress_tokens="", sample_len=40))
    ours = multilingual.decoder.decode(multilingual.encode(mel.numpy()),
                                       DecodingOptions(language="de", task="translate", suppress_tokens="",
                                                       sample_len=40))
    assert ours.tokens == [t for t in theirs.tokens if t != 50257]
    assert ours.sequence[:3] == [50258, 50261, 50358]
    assert abs(ours.no_speech_prob - theirs.no_speech_prob) < 1e-4


def test_word_timestamps_of_a_translation_align_in_the_translate_task(multilingual, data, monkeypatch):
    """The alignment pass is teacher-forced with the transcript's own start tokens (language and task), as
    openai-whisper's find_alignment uses its tokenizer's sot_sequence. (Word texts cannot be compared with
    openai-whisper here: its multilingual vocabulary is not the one this test tokenizer carries.)"""
    from studio.engine.asr import timing

    fed = []
    real = timing.teacher_forced_attention

    def spy(model, features, tokens):
        fed.append(list(tokens))
        return real(model, features, tokens)

    monkeypatch.setattr(timing, "teacher_forced_attention", spy)
    tok = multilingual.tok
    result = multilingual.transcribe(load_audio(data / "jfk.flac")[: 4 * 16000], TranscribeOptions(
        language="de", task="translate", beam_size=1, temperatures=(0.0,), word_timestamps=True,
        no_speech_threshold=None, suppress_tokens=""))
    assert fed and all(t[:4] == [tok.sot, tok.language_token("de"), tok.translate, tok.no_timestamps] for t in fed)
    assert result.language == "de" and result.task == "translate"
    assert any(s.words for s in result.segments)


def test_a_language_the_model_lacks_is_a_clear_message(multilingual, data):
    from studio.errors import StudioError

    with pytest.raises(StudioError, match=r"does not know Cantonese \(yue\)") as err:
        multilingual.transcribe(data / "jfk.flac", TranscribeOptions(language="yue"))
    assert "large-v3" in err.value.remedy
    with pytest.raises(StudioError, match="does not know Cantonese"):
        multilingual.resolve_language("cantonese")


def test_a_cancelled_transcript_keeps_the_detected_language_and_the_task(multilingual, data, tmp_path):
    import numpy as np
    import soundfile as sf

    from studio.errors import JobCancelled

    audio = load_audio(data / "jfk.flac")
    path = tmp_path / "three-windows.wav"
    sf.write(path, np.concatenate([audio] * 7), 16000, subtype="PCM_16")  # 77 s
    seen = []

    def progress(fraction, message):
        if not message.startswith("Reading"):  # the loudness pre-pass comes first; cancel after a window
            seen.append(fraction)

    def check():
        if seen:
            raise JobCancelled()

    with pytest.raises(JobCancelled) as cancelled:
        multilingual.transcribe(path, TranscribeOptions(task="translate", beam_size=1, temperatures=(0.0,),
                                                        no_speech_threshold=None), progress=progress, check=check)
    partial = cancelled.value.partial
    mel = log_mel_spectrogram(audio, padding=480000)[:, :3000]
    probs = multilingual.decoder.detect_language(multilingual.encode(mel.numpy()))
    assert partial.language == max(probs, key=probs.get) != "en"  # random weights: some other language
    assert partial.task == "translate" and partial.duration == pytest.approx(77.0, abs=0.01)
    assert 0 < seen[0] < 1


def test_live_mode_detects_the_language_and_keeps_the_task(multilingual, data):
    from studio.engine.asr.live import LiveSession

    audio = load_audio(data / "jfk.flac")
    session = LiveSession(16000, language=None, task="translate")
    for i in range(0, len(audio), 16000):
        session.push(audio[i: i + 16000])
        update = session.step(multilingual)
    assert update.language is not None and update.language in multilingual.tok.language_codes
    assert update.task == "translate"
    fixed = LiveSession(16000, language="ja", task="transcribe")
    fixed.push(audio[:48000])
    assert fixed.step(multilingual).language == "ja"
    with pytest.raises(Exception, match="does not know Cantonese"):
        yue = LiveSession(16000, language="yue")
        yue.push(audio[:48000])
        yue.step(multilingual)
