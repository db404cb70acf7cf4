"""Continuing a caption from one of a token's alternatives (Captioner.continue_from): the kept tokens keep their
numbers, the rest is what the model writes after that prefix, and every attention row is the one a single
teacher-forced pass over the final caption gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from studio.engine.caption.decoding import DecodeOptions
from studio.errors import StudioError

skdata = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def captioner(blip_folder: Path) -> object:
    from studio.engine.caption.caption import Captioner
    from studio.hub.blip_weights import load_blip

    model, folder = load_blip(blip_folder)
    return Captioner(model, folder)


@pytest.fixture(scope="module")
def photo() -> object:
    from PIL import Image

    return Image.fromarray(skdata.astronaut())


def _forced(cap: object, photo: object, prompt: str, tokens: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """One pass over prompt + tokens: the logits and cross-attention of the queries that predicted `tokens`."""
    from studio.engine.caption.image import pixels

    model = cap.model  # type: ignore[attr-defined]
    ids = cap.tokenizer.prompt_ids(prompt)  # type: ignore[attr-defined]
    x = torch.from_numpy(pixels(photo, cap.pre))[None]  # type: ignore[attr-defined]
    layers: list[list[torch.Tensor]] = [[] for _ in model.text_decoder.bert.encoder.layer]
    with torch.inference_mode():
        logits = model.text_decoder(torch.tensor([ids + tokens]), model.encode(x), {}, layers)[0]
    rows = slice(len(ids) - 1, len(ids) - 1 + len(tokens))
    att = torch.stack([layer[0][0, :, rows] for layer in layers]).numpy()  # (layers, heads, tokens, image)
    return logits[rows].numpy(), att


@pytest.mark.parametrize("prompt,beams", [("", 1), ("a picture of", 1), ("", 3)])
def test_continuing_from_an_alternative_equals_a_teacher_forced_pass(captioner, photo, prompt, beams) -> None:
    opts = DecodeOptions(beam_size=beams, max_new_tokens=8)
    first = captioner.caption(photo, prompt, opts)
    index, choice = 1, 2
    alt = first.top5_ids[index][choice]
    assert alt != first.tokens[index]  # the third likeliest, not what was picked
    got = captioner.continue_from(first, index, choice, opts, image=photo)
    assert got.tokens[:index] == first.tokens[:index] and got.tokens[index] == alt
    assert got.token_probs[index] == first.top5[index][choice][1]
    assert got.top5[:index + 1] == first.top5[:index + 1]
    assert len(got.tokens) <= 8 and len(got.pieces) == len(got.tokens) == len(got.top5) == len(got.top5_ids)
    logits, att = _forced(captioner, photo, prompt, got.tokens)
    probs = torch.from_numpy(logits).softmax(-1).numpy()
    for i, token in enumerate(got.tokens):  # each probability is the model's for that token after its prefix
        assert got.token_probs[i] == pytest.approx(float(probs[i, token]), abs=1e-5)
    if beams == 1:  # greedy after the alternative: each later token is the model's first choice
        assert all(int(logits[i].argmax()) == got.tokens[i] for i in range(index + 1, len(got.tokens)))
    assert got.cross_attention.shape == att.shape
    np.testing.assert_allclose(got.cross_attention, att, atol=1e-5)
    assert got.text.startswith(prompt) and got.text == got.candidates[0].text


def test_choosing_the_end_token_ends_the_caption_and_bad_choices_are_messages(captioner, photo) -> None:
    first = captioner.caption(photo, "", DecodeOptions(max_new_tokens=6))
    sep = captioner.tokenizer.sep
    ended = first.__class__(**{**first.__dict__, "top5_ids": [[sep, *ids[1:]] for ids in first.top5_ids]})
    got = captioner.continue_from(ended, 2, 0, DecodeOptions(max_new_tokens=6), image=photo)
    assert got.tokens == [*first.tokens[:2], sep] and got.pieces[-1] == "[end]"
    assert got.cross_attention.shape[2] == 3
    short = captioner.continue_from(first, 5, 1, DecodeOptions(max_new_tokens=6), image=photo)
    assert len(short.tokens) == 6  # the length limit leaves no room after the last token
    with pytest.raises(StudioError, match="no alternative"):
        captioner.continue_from(first, 6, 0, image=photo)
    with pytest.raises(StudioError, match="picture of this caption is gone"):
        captioner.continue_from(first, 0, 1)  # a PIL picture has no file to reopen


def test_scores_mean_the_same_for_greedy_beams_and_continuations(captioner, photo) -> None:
    import math

    from studio.engine.caption.decoding import decode
    from studio.engine.caption.image import pixels

    opts = DecodeOptions(beam_size=3, num_return=3, max_new_tokens=7)
    beams = captioner.caption(photo, "", opts)
    x = torch.from_numpy(pixels(photo, captioner.pre))[None]
    ref = decode(captioner.model, x, captioner.tokenizer.prompt_ids(""), opts)
    assert [c.score for c in beams.candidates] == pytest.approx([r.score for r in ref], abs=1e-6)  # transformers'
    greedy = captioner.caption(photo, "", DecodeOptions(max_new_tokens=7))
    mean = sum(math.log(p) for p in greedy.token_probs) / len(greedy.tokens)
    assert greedy.candidates[0].score == pytest.approx(mean, abs=1e-5)
    cont = captioner.continue_from(greedy, 2, 1, DecodeOptions(max_new_tokens=7), image=photo)
    mean = sum(math.log(p) for p in cont.token_probs) / len(cont.tokens)  # over the whole caption, not the tail
    assert cont.candidates[0].score == pytest.approx(mean, abs=1e-5)


def test_a_caption_continues_only_on_the_model_that_wrote_it(captioner, photo, blip_folder) -> None:
    from studio.engine.caption.caption import Captioner
    from studio.models.blip import Blip, BlipConfig, BlipTextConfig

    first = captioner.caption(photo, "", DecodeOptions(max_new_tokens=5))
    cfg = captioner.model.cfg
    deeper = Blip(BlipConfig(cfg.vision, BlipTextConfig(**{**cfg.text.__dict__, "num_hidden_layers": 3}))).eval()
    other = Captioner(deeper, blip_folder)
    with pytest.raises(StudioError, match="another captioning model"):
        other.continue_from(first, 1, 1, DecodeOptions(max_new_tokens=5), image=photo)
