"""BLIP decoding (studio.engine.caption.decoding) against transformers' generate() on one shared random model:
greedy, beams, prompts, no-repeat n-grams, minimum and maximum lengths, penalties; the scores, per-token
log-probabilities and top-5 lists; the cross-attention rows of the returned path; cancel and progress."""

from __future__ import annotations

import pytest
import torch

from studio.engine.caption.decoding import DecodeOptions, Result, decode
from studio.errors import StudioError
from studio.models.blip import Blip, BlipConfig, BlipTextConfig, BlipVisionConfig

transformers = pytest.importorskip("transformers")

VISION = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, image_size=64,
              patch_size=16)
TEXT = dict(hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4, vocab_size=120,
            encoder_hidden_size=64, bos_token_id=100, sep_token_id=102, pad_token_id=0)
BOS, SEP = 100, 102
SEEDS = range(4)


@pytest.fixture(scope="module")
def pair() -> tuple[object, Blip]:
    """transformers' default init gives a near-constant vision output and near-uniform next-token guesses, so
    every image captions alike and beams equal greedy. Re-drawn vision weights and scaled text weights give
    peaked, image-dependent distributions: captions that end early, run to the limit, repeat themselves."""
    from transformers import BlipConfig as HFConfig
    from transformers import BlipForConditionalGeneration

    torch.manual_seed(0)
    hf = BlipForConditionalGeneration(HFConfig(vision_config=VISION, text_config=TEXT)).eval()
    with torch.no_grad():
        for name, v in hf.state_dict().items():
            if name.startswith("vision_model"):
                if "norm" in name:
                    v.fill_(1.0 if name.endswith("weight") else 0.0)
                else:
                    v.copy_(torch.randn_like(v) * (0.1 if v.dim() > 1 else 0.02))
            elif name.startswith("text_decoder") and name.endswith("weight") and v.dim() == 2:
                v.mul_(3.0)
                if "crossattention" in name:
                    v.mul_(3.0)
        hf.text_decoder.cls.predictions.bias[SEP] += 2.0  # the end token within reach
    ours = Blip(BlipConfig(BlipVisionConfig(**VISION), BlipTextConfig(**TEXT))).eval()
    ours.load_state_dict(hf.state_dict(), strict=True)
    return hf, ours


def _pixels(seed: int) -> torch.Tensor:
    return torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(seed))


def _hf(hf: object, seed: int, prompt: list[int], **kw: object) -> object:
    kw.setdefault("max_new_tokens", 20)
    # transformers takes the tokenizer's [CLS] prompt [SEP]: it makes [CLS] the begin token and drops [SEP]
    return hf.generate(pixel_values=_pixels(seed), input_ids=torch.tensor([prompt + [SEP]]),  # type: ignore[attr-defined]
                       return_dict_in_generate=True, output_scores=True, output_logits=True, **kw)


def _ours(model: Blip, seed: int, prompt: list[int], capture: bool = False, **kw: object) -> list[Result]:
    return decode(model, _pixels(seed), prompt, DecodeOptions(**kw), capture=capture)  # type: ignore[arg-type]


def _assert_greedy_equal(hf: object, ours: Blip, seed: int, prompt: list[int], hf_kw: dict, kw: dict) -> Result:
    ref = _hf(hf, seed, prompt, **hf_kw)
    (got,) = _ours(ours, seed, prompt, **kw)
    assert prompt + got.tokens == ref.sequences[0].tolist()
    # the score each token was picked by (processed logits), as a log-probability; the top 5 of the raw model
    chosen = [float(s[0].log_softmax(-1)[t]) for s, t in zip(ref.scores, got.tokens, strict=True)]
    assert got.token_logprobs == pytest.approx(chosen, abs=1e-4)
    assert got.score == pytest.approx(sum(chosen), abs=1e-4)
    for step, logits in zip(got.top5, ref.logits, strict=True):
        p, i = logits[0].softmax(-1).topk(5)
        assert [t for t, _ in step] == i.tolist()
        assert [q for _, q in step] == pytest.approx(p.tolist(), abs=1e-5)
    return got


def _assert_beams_equal(hf: object, ours: Blip, seed: int, prompt: list[int], beams: int,
                        hf_kw: dict | None = None, **kw: object) -> list[Result]:
    """`kw`: options of both (transformers' names); `hf_kw`, when given, replaces them for transformers."""
    ref = _hf(hf, seed, prompt, num_beams=beams, num_return_sequences=beams, **(kw if hf_kw is None else hf_kw))
    got = _ours(ours, seed, prompt, beam_size=beams, num_return=beams, **kw)
    assert len(got) == beams
    transition = hf.compute_transition_scores(ref.sequences, ref.scores, ref.beam_indices)  # type: ignore[attr-defined]
    lp = float(kw.get("length_penalty", 1.0))
    for i, r in enumerate(got):
        seq = ref.sequences[i].tolist()
        n = int((ref.beam_indices[i] >= 0).sum())  # shorter beams are padded
        assert prompt + r.tokens == seq[:len(prompt) + n]
        assert r.score == pytest.approx(float(ref.sequences_scores[i]), abs=1e-4)
        assert r.token_logprobs == pytest.approx(transition[i, :n].tolist(), abs=1e-4)
        assert sum(r.token_logprobs) / len(r.tokens) ** lp == pytest.approx(r.score, abs=1e-4)
        assert len(r.top5) == len(r.tokens) and all(len(s) == 5 for s in r.top5)
    assert [r.score for r in got] == sorted((r.score for r in got), reverse=True)
    return got


@pytest.mark.parametrize("seed", SEEDS)
def test_greedy_equals_generate(pair: tuple[object, Blip], seed: int) -> None:
    hf, ours = pair
    _assert_greedy_equal(hf, ours, seed, [BOS], {}, {})


@pytest.mark.parametrize("seed", SEEDS)
def test_beam_3_equals_generate_and_differs_from_greedy(pair: tuple[object, Blip], seed: int) -> None:
    hf, ours = pair
    beams = _assert_beams_equal(hf, ours, seed, [BOS], 3)
    greedy = _ours(ours, seed, [BOS])[0]
    # on this model beams and greedy differ for every image (checked with transformers, not assumed)
    assert beams[0].tokens != greedy.tokens


@pytest.mark.parametrize("seed", SEEDS)
def test_beam_with_a_prompt_equals_generate(pair: tuple[object, Blip], seed: int) -> None:
    hf, ours = pair
    _assert_beams_equal(hf, ours, seed, [BOS, 53, 70], 3)
    _assert_greedy_equal(hf, ours, seed, [BOS, 53, 70], {}, {})


@pytest.mark.parametrize("seed", SEEDS)
def test_no_repeat_ngram_equals_generate(pair: tuple[object, Blip], seed: int) -> None:
    hf, ours = pair
    greedy = _assert_greedy_equal(hf, ours, seed, [BOS], {"no_repeat_ngram_size": 3}, {"no_repeat_ngram_size": 3})
    beams = _assert_beams_equal(hf, ours, seed, [BOS], 3, no_repeat_ngram_size=3)
    for tokens in [greedy.tokens] + [b.tokens for b in beams]:
        seq = [BOS] + tokens
        grams = [tuple(seq[i:i + 3]) for i in range(len(seq) - 2)]
        assert len(grams) == len(set(grams))


def test_no_repeat_ngram_changes_a_repetitive_caption(pair: tuple[object, Blip]) -> None:
    _, ours = pair
    def bigrams(tokens: list[int]) -> list[tuple[int, ...]]:
        seq = [BOS] + tokens
        return [tuple(seq[i:i + 2]) for i in range(len(seq) - 1)]

    plain = _ours(ours, 2, [BOS])[0].tokens  # this image loops on 70 92 62
    assert len(set(bigrams(plain))) < len(bigrams(plain))
    banned = _ours(ours, 2, [BOS], no_repeat_ngram_size=2)[0].tokens
    assert banned != plain and len(set(bigrams(banned))) == len(bigrams(banned))


@pytest.mark.parametrize("seed", SEEDS)
def test_min_length_equals_generate(pair: tuple[object, Blip], seed: int) -> None:
    hf, ours = pair
    prompt = [BOS, 53]
    # transformers' min_length counts the prompt; min_new_tokens does not: both are one option here
    for hf_kw in ({"min_length": len(prompt) + 6}, {"min_new_tokens": 6}):
        got = _assert_greedy_equal(hf, ours, seed, prompt, hf_kw, {"min_new_tokens": 6})
        assert len(got.tokens) > 6
        beams = _assert_beams_equal(hf, ours, seed, prompt, 3, hf_kw, min_new_tokens=6)
        assert all(len(b.tokens) > 6 for b in beams)


def test_min_length_lengthens_a_caption_that_ends_at_once(pair: tuple[object, Blip]) -> None:
    _, ours = pair
    assert _ours(ours, 0, [BOS])[0].tokens == [SEP]
    assert len(_ours(ours, 0, [BOS], min_new_tokens=4)[0].tokens) >= 5


@pytest.mark.parametrize("max_new", [1, 4, 9])
@pytest.mark.parametrize("seed", [1, 3])
def test_max_new_tokens_equals_generate(pair: tuple[object, Blip], seed: int, max_new: int) -> None:
    hf, ours = pair
    got = _assert_greedy_equal(hf, ours, seed, [BOS], {"max_new_tokens": max_new}, {"max_new_tokens": max_new})
    assert len(got.tokens) <= max_new
    beams = _assert_beams_equal(hf, ours, seed, [BOS], 3, max_new_tokens=max_new)
    assert all(len(b.tokens) <= max_new for b in beams)


@pytest.mark.parametrize("seed", SEEDS)
def test_penalties_and_more_beams_equal_generate(pair: tuple[object, Blip], seed: int) -> None:
    hf, ours = pair
    _assert_greedy_equal(hf, ours, seed, [BOS], {"repetition_penalty": 1.5}, {"repetition_penalty": 1.5})
    _assert_beams_equal(hf, ours, seed, [BOS], 3, repetition_penalty=1.5)
    _assert_beams_equal(hf, ours, seed, [BOS], 4, length_penalty=2.0)
    _assert_beams_equal(hf, ours, seed, [BOS], 2, length_penalty=-0.5, max_new_tokens=8)


def test_num_return_gives_the_best_beams_first(pair: tuple[object, Blip]) -> None:
    _, ours = pair
    all3 = _ours(ours, 3, [BOS], beam_size=3, num_return=3)
    two = _ours(ours, 3, [BOS], beam_size=3, num_return=2)
    assert [r.tokens for r in two] == [r.tokens for r in all3[:2]]
    assert len(_ours(ours, 3, [BOS], beam_size=3)) == 1


def _hf_cross(hf: object, seed: int, prompt: list[int], tokens: list[int]) -> torch.Tensor:
    """transformers' cross-attention over the whole final sequence: (layers, heads, generated, image tokens),
    row i being the query at the position that predicted generated token i."""
    seq = torch.tensor([prompt + tokens])
    with torch.no_grad():
        image = hf.vision_model(pixel_values=_pixels(seed))[0]  # type: ignore[attr-defined]
        out = hf.text_decoder(input_ids=seq, encoder_hidden_states=image, output_attentions=True)  # type: ignore[attr-defined]
    rows = slice(len(prompt) - 1, len(prompt) - 1 + len(tokens))
    return torch.stack([a[0, :, rows] for a in out.cross_attentions])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("prompt", [[BOS], [BOS, 53, 70]])
def test_cross_attention_follows_the_returned_path(pair: tuple[object, Blip], seed: int, prompt: list[int]) -> None:
    hf, ours = pair
    plain = _ours(ours, seed, prompt, beam_size=3, num_return=3)
    results = _ours(ours, seed, prompt, capture=True, beam_size=3, num_return=3)
    results += _ours(ours, seed, prompt, capture=True)
    assert [r.tokens for r in results[:3]] == [r.tokens for r in plain]  # capturing changes nothing
    for r in results:
        assert r.cross_attention is not None and r.cross_attention.dtype.name == "float32"
        assert r.cross_attention.shape == (2, 4, len(r.tokens), 1 + (64 // 16) ** 2)
        ref = _hf_cross(hf, seed, prompt, r.tokens)
        torch.testing.assert_close(torch.from_numpy(r.cross_attention), ref, atol=1e-5, rtol=1e-5)
    assert plain[0].cross_attention is None


def test_check_cancels_between_steps_and_on_token_reports(pair: tuple[object, Blip]) -> None:
    _, ours = pair

    class Cancelled(Exception):
        pass

    for beams in (1, 3):
        seen: list[tuple[int, list[int]]] = []
        calls = 0

        def check() -> None:
            nonlocal calls
            calls += 1
            if calls == 4:
                raise Cancelled

        with pytest.raises(Cancelled):
            decode(ours, _pixels(2), [BOS], DecodeOptions(beam_size=beams), check=check,
                   on_token=lambda step, toks, seen=seen: seen.append((step, list(toks))))
        assert [s for s, _ in seen] == [1, 2, 3]
        assert [len(t) for _, t in seen] == [1, 2, 3]
    steps: list[int] = []
    (done,) = decode(ours, _pixels(1), [BOS], DecodeOptions(), on_token=lambda s, _t: steps.append(s))
    assert steps == list(range(1, len(done.tokens) + 1))


@pytest.mark.parametrize(("kw", "phrase"), [
    ({"beam_size": 0}, "beam size 0"),
    ({"max_new_tokens": 0}, "maximum length 0"),
    ({"min_new_tokens": -1}, "minimum length -1"),
    ({"no_repeat_ngram_size": -2}, "n-gram size -2"),
    ({"repetition_penalty": 0.0}, "repetition penalty 0.0"),
    ({"length_penalty": float("nan")}, "length penalty nan"),
    ({"beam_size": 2, "num_return": 3}, "3 captions from 2 beam"),
    ({"max_new_tokens": 600}, "exceed the model's 512 positions"),
])
def test_bad_options_are_messages(pair: tuple[object, Blip], kw: dict, phrase: str) -> None:
    _, ours = pair
    with pytest.raises(StudioError, match=phrase):
        _ours(ours, 0, [BOS], **kw)


def test_bad_prompt_or_pixels_are_messages(pair: tuple[object, Blip]) -> None:
    _, ours = pair
    with pytest.raises(StudioError, match="outside the vocabulary"):
        _ours(ours, 0, [BOS, 500])
    with pytest.raises(StudioError, match="empty"):
        _ours(ours, 0, [])
    with pytest.raises(StudioError, match="one RGB image"):
        decode(ours, torch.zeros(2, 3, 64, 64), [BOS], DecodeOptions())
