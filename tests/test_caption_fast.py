"""The fast captioning precision (studio.models.blip.make_fast): on a CPU an int8 decoder and, where the CPU runs it
faster, a bfloat16 vision tower, that still caption (greedy, beams, attention kept) close to float32; on a GPU
nothing changes; an unknown precision is a message. (Speed is measured in benchmarks/caption.py, not here.)"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from studio.engine.caption.decoding import DecodeOptions
from studio.errors import StudioError
from studio.models.blip import make_fast

skdata = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def loaded(blip_folder: Path) -> tuple[object, Path]:
    from studio.hub.blip_weights import load_blip

    return load_blip(blip_folder)


@pytest.mark.parametrize("bf16", [True, False], ids=["bfloat16-pays", "bfloat16-emulated"])
def test_fast_is_int8_decoder_and_a_bfloat16_vision_tower_where_it_pays(loaded, bf16: bool, monkeypatch) -> None:  # noqa: ANN001
    """Where this CPU only emulates bfloat16 (several times slower than float32) the tower stays float32."""
    from studio.engine.caption.caption import Captioner
    from studio.engine.caption.image import pixels

    monkeypatch.setattr("studio.models.blip.bfloat16_pays", lambda: bf16)
    model, folder = loaded
    exact = Captioner(copy.deepcopy(model), folder)
    fast = Captioner(copy.deepcopy(model), folder, "cpu", "fast")
    tower = fast.model.vision_model.embeddings.patch_embedding.weight.dtype
    assert tower == (torch.bfloat16 if bf16 else torch.float32)
    linears = [type(m).__module__ for m in fast.model.text_decoder.modules() if "Linear" in type(m).__name__]
    assert linears and all("quantized" in m for m in linears)
    fc = fast.model.text_decoder.bert.encoder.layer[0].intermediate.dense
    assert fc.weight().qscheme() == torch.per_channel_affine  # one scale per row (studio.models.int8)
    photo = Image.fromarray(skdata.astronaut())
    x = torch.from_numpy(pixels(photo, exact.pre))[None]
    with torch.inference_mode():
        e32, ef = exact.model.encode(x), fast.model.encode(x)
        assert ef.dtype == torch.float32 and float((e32 - ef).norm() / e32.norm()) < 0.02
        ids = torch.tensor([exact.tokenizer.prompt_ids("a picture of")])
        p32 = exact.model.text_decoder(ids, e32)[0].softmax(-1)
        pf = fast.model.text_decoder(ids, ef)[0].softmax(-1)
    assert float((p32 - pf).abs().sum(-1).max()) / 2 < 0.05  # total variation of every next-token guess
    for beams in (1, 3):
        r = fast.caption(photo, "", DecodeOptions(beam_size=beams, max_new_tokens=6, min_new_tokens=6))
        assert len(r.tokens) == 6 and r.cross_attention.shape[2] == 6
        np.testing.assert_allclose(r.cross_attention.sum(-1), 1.0, atol=1e-3)


def test_fast_leaves_a_gpu_model_alone_and_unknown_precisions_are_messages(loaded) -> None:
    from studio.engine.caption.caption import Captioner

    model, folder = loaded
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert make_fast(model, "cuda") is model  # not moved, only asked: nothing converted
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    with pytest.raises(StudioError, match="Unknown captioning precision 'half'"):
        Captioner(model, folder, "cpu", "half")
