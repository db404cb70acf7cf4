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
