"""Decoding beyond temperature 0 and word timestamps, against openai-whisper on the same tiny.en weights: the logit
rules, best-of ranking, beam search cut off at sample_len, patience, length penalty, prompts and prefixes, word
timestamps with openai's post-processing, and long-form seek after the last word."""

import numpy as np
import pytest
import soundfile as sf
import torch

from studio.audio.io import load_audio
from studio.audio.mel import log_mel_spectrogram
from studio.engine.asr.decoding import DecodingOptions, LogitRules
from studio.engine.asr.options import TranscribeOptions
from studio.engine.asr.transcribe import Transcriber
from studio.hub.whisper_weights import load_whisper

whisper = pytest.importorskip("whisper")


@pytest.fixture(scope="module")
def transcriber():
    return Transcriber(load_whisper("tiny.en"))


@pytest.fixture(scope="module")
def ref(transcriber):
    """openai-whisper's model holding our weights and alignment heads."""
    from whisper.model import ModelDimensions
    from whisper.model import Whisper as OpenAIWhisper

    model = OpenAIWhisper(ModelDimensions(**transcriber.model.dims.to_dict()))
    model.load_state_dict(transcriber.model.state_dict())
    dims = transcriber.model.dims
    mask = torch.zeros(dims.n_text_layer, dims.n_text_head, dtype=torch.bool)
    for layer, head in transcriber.model.alignment_heads:
        mask[layer, head] = True
    model.register_buffer("alignment_heads", mask.to_sparse(), persistent=False)
    return model.eval()


@pytest.fixture(scope="module")
def windows(data):
    """30 s log-mel windows of two real speakers, as whisper.decode takes them."""
    out = {}
    for name in ("jfk.flac", "vallex-en-1.wav"):
        audio = load_audio(data / name)
        mel = log_mel_spectrogram(audio, padding=480000)[:, :3000]
        mel[:, len(audio) // 160:] = 0
        out[name] = mel
    return out


@pytest.fixture(scope="module")
def long_file(tmp_path_factory, data):
    """Two speakers with pauses, 47 s: two windows, word timestamps carried over a pause."""
    jfk, other = load_audio(data / "jfk.flac"), load_audio(data / "vallex-en-1.wav")
    pause = np.zeros(4 * 16000, np.float32)
    path = tmp_path_factory.mktemp("long") / "mix.wav"
    sf.write(path, np.concatenate([jfk, pause, other, pause, jfk, pause, other]), 16000, subtype="PCM_16")
    return path


RULE_CASES = [
    dict(),
    dict(without_timestamps=True),
    dict(suppress_tokens="", suppress_blank=False),
    dict(without_timestamps=True, suppress_tokens="11,13"),
    dict(max_initial_timestamp=0.5),
    dict(max_initial_timestamp=None),
    dict(without_timestamps=True, suppress_tokens="", suppress_blank=False),
]


@pytest.mark.parametrize("case", RULE_CASES, ids=[str(c) for c in RULE_CASES])
def test_logit_rules_mask_exactly_what_openai_whisper_masks(transcriber, ref, case):
    from whisper.decoding import DecodingTask

    ours_opts = DecodingOptions(language="en", **case)
    task = DecodingTask(ref, whisper.DecodingOptions(language="en", fp16=False, **case))
    initial = transcriber.decoder.initial_tokens(ours_opts, "en")
    assert tuple(initial) == task.initial_tokens
    rules = LogitRules(transcriber.tok, ours_opts, len(initial), transcriber.model.dims.n_vocab)
    tb, eot = transcriber.tok.timestamp_begin, transcriber.tok.eot
    g = torch.Generator().manual_seed(0)
    continuations = [[], [tb + 10], [tb + 10, 400], [tb + 10, 400, tb + 60], [tb + 10, 400, tb + 60, tb + 60],
                     [tb, 11], [400, 500, 600], [tb + 20, 300, tb + 25, tb + 25, 13]]
    for cont in continuations:
        tokens = torch.tensor([initial + cont] * 3)
        logits = torch.randn(3, transcriber.model.dims.n_vocab, generator=g) * 3
        logits[1, tb:] += 8  # one row where timestamps together outweigh any text token
        theirs, ours = logits.clone(), logits.clone()
        for f in task.logit_filters:
            f.apply(theirs, tokens)
        rules.apply(ours, tokens)
        assert torch.equal(torch.isinf(ours), torch.isinf(theirs)), (case, cont)
        assert torch.equal(ours[~torch.isinf(ours)], theirs[~torch.isinf(theirs)])
    assert eot not in rules.suppress.tolist()
    # rows that differ, as beams do: each row gets its own rules (ours are computed for all rows at once)
    for rows in ([[tb + 10, 400, tb + 60, tb + 60], [tb + 20, 300, tb + 25, 13], [400, 500, 600, 700],
                  [tb + 3, 11, 12, tb + 7], [tb + 3, tb + 3, 11, 12]],
                 [[tb + 10], [400], [tb + 40]]):
        tokens = torch.tensor([initial + r for r in rows])
        logits = torch.randn(len(rows), transcriber.model.dims.n_vocab, generator=g) * 3
        theirs, ours = logits.clone(), logits.clone()
        for f in task.logit_filters:
            f.apply(theirs, tokens)
        rules.apply(ours, tokens)
        assert torch.equal(torch.isinf(ours), torch.isinf(theirs)), (case, rows)


DECODE_CASES = [
    dict(beam_size=None, sample_len=8),  # greedy cut off by length: avg_logprob counts the missing end token
    dict(beam_size=5, sample_len=8),  # beam search cut off by length: the last step's tokens count
    dict(beam_size=5, sample_len=20, patience=0.4),  # patience < 1: live rows fill the list after the last step
    dict(beam_size=5, patience=2.0),
    dict(beam_size=5, length_penalty=0.6),
    dict(beam_size=3, without_timestamps=True),
    dict(beam_size=None, without_timestamps=True, prefix=" And so, my"),
    dict(beam_size=5, prompt=" Fellow citizens of the United States. The president spoke."),
    dict(temperature=0.8, best_of=5, seed=0),
    dict(temperature=0.8, best_of=5, seed=1, sample_len=30),
    dict(temperature=1.0, best_of=5, seed=2, length_penalty=1.0),
    dict(temperature=0.6, best_of=3, seed=3, without_timestamps=True),
    dict(temperature=1.0, best_of=5, seed=5, length_penalty=0.0),  # plain sums rank: the short samples win
    dict(temperature=1.0, best_of=5, seed=6, sample_len=12),  # unfinished samples ranked beside finished ones
]


@pytest.mark.parametrize("name", ["jfk.flac", "vallex-en-1.wav"])
@pytest.mark.parametrize("case", DECODE_CASES, ids=[str(c) for c in DECODE_CASES])
def test_one_window_decodes_as_openai_whisper(transcriber, ref, windows, name, case):
    case = dict(case)
    seed = case.pop("seed", None)
    tok = transcriber.tok
    for key in ("prompt", "prefix"):
        if key in case:
            case[key] = tuple(tok.encode(case[key]))
    mel = windows[name]
    if seed is not None:
        torch.manual_seed(seed)
    theirs = whisper.decode(ref, mel, whisper.DecodingOptions(
        language="en", fp16=False, **{k: list(v) if k in ("prompt", "prefix") else v for k, v in case.items()}))
    if seed is not None:
        torch.manual_seed(seed)
    ours = transcriber.decoder.decode(transcriber.encode(mel.numpy()), DecodingOptions(language="en", **case))
    assert ours.tokens == theirs.tokens
    assert ours.text == theirs.text
    assert ours.avg_logprob == pytest.approx(theirs.avg_logprob, abs=1e-4)
    assert ours.no_speech_prob == pytest.approx(theirs.no_speech_prob, abs=1e-4)


def _words(segments):
    return [w for s in segments for w in s.words]


def _their_words(segments):
    return [w for s in segments for w in s["words"]]


@pytest.mark.parametrize("beam", [None, 5])
def test_word_timestamps_within_20_ms_of_openai_whisper_on_jfk(transcriber, ref, data, beam):
    audio = load_audio(data / "jfk.flac")
    theirs = whisper.transcribe(ref, audio, temperature=0.0, fp16=False, language="en", word_timestamps=True,
                                beam_size=beam)["segments"]
    ours = transcriber.transcribe(audio, TranscribeOptions(beam_size=beam or 1, temperatures=(0.0,),
                                                           word_timestamps=True)).segments
    mine, their = _words(ours), _their_words(theirs)
    assert [w.text for w in mine] == [w["word"] for w in their]  # punctuation merged the same way
    assert max(abs(a.start - b["start"]) for a, b in zip(mine, their, strict=True)) <= 0.02
    assert max(abs(a.end - b["end"]) for a, b in zip(mine, their, strict=True)) <= 0.02
    assert [w.probability for w in mine] == pytest.approx([w["probability"] for w in their], abs=1e-3)


@pytest.mark.parametrize("beam", [None, 5])
def test_long_form_with_word_timestamps_equals_openai_whisper_segment_for_segment(transcriber, ref, long_file,
                                                                                   beam):
    """Seek after the last word, trimmed long words after pauses and segment edges from words, as openai does."""
    theirs = whisper.transcribe(ref, load_audio(long_file), temperature=0.0, fp16=False, language="en",
                                word_timestamps=True, beam_size=beam)["segments"]
    ours = transcriber.transcribe(long_file, TranscribeOptions(beam_size=beam or 1, temperatures=(0.0,),
                                                               word_timestamps=True)).segments
    theirs = [t for t in theirs if t["text"].strip()]
    assert [s.tokens for s in ours] == [[x for x in t["tokens"] if x < 50256] for t in theirs]
    edges = [t for s in ours for t in (s.start, s.end)]
    assert edges == pytest.approx([t for s in theirs for t in (s["start"], s["end"])], abs=0.02)
    mine, their = _words(ours), _their_words(theirs)
    assert [w.text for w in mine] == [w["word"] for w in their]
    assert max(abs(a.start - b["start"]) for a, b in zip(mine, their, strict=True)) <= 0.02
    assert max(abs(a.end - b["end"]) for a, b in zip(mine, their, strict=True)) <= 0.02


def test_temperature_fallback_with_best_of_equals_openai_whisper(transcriber, ref, data):
    """An impossible log-prob threshold forces every temperature: the best-of samples decide the text."""
    audio = load_audio(data / "vallex-en-1.wav")
    torch.manual_seed(5)
    theirs = whisper.transcribe(ref, audio, fp16=False, language="en", beam_size=5, best_of=5,
                                logprob_threshold=0.0, temperature=(0.0, 0.5, 1.0))["segments"]
    torch.manual_seed(5)
    ours = transcriber.transcribe(audio, TranscribeOptions(beam_size=5, best_of=5, logprob_threshold=0.0,
                                                           temperatures=(0.0, 0.5, 1.0))).segments
    theirs = [t for t in theirs if t["text"].strip()]
    assert [(s.tokens, s.temperature) for s in ours] == [
        ([x for x in t["tokens"] if x < 50256], t["temperature"]) for t in theirs]
    assert [s.avg_logprob for s in ours] == pytest.approx([t["avg_logprob"] for t in theirs], abs=1e-4)
