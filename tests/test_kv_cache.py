"""studio.models.kv_cache.LayerKV: appending, one prompt shared by several rows, and beam reordering give the same
keys and values as concatenating and selecting whole tensors; and a Whisper decoder fed through it gives the logits
of the uncached model."""

from __future__ import annotations

import pytest
import torch

from studio.models.kv_cache import LayerKV
from studio.models.whisper import Whisper, WhisperDims


def _kv(rows: int, t: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(rows, 2, t, 4, generator=g), torch.randn(rows, 2, t, 4, generator=g)


def test_appends_past_the_first_capacity_keep_every_position() -> None:
    cache, ks, vs = LayerKV(), [], []
    for step in range(70):  # past the first buffer of 64 positions: it doubles
        k, v = _kv(3, 5 if step == 0 else 1, step)
        got_k, got_v = cache.append(k, v)
        ks.append(k)
        vs.append(v)
        assert torch.equal(got_k, torch.cat(ks, dim=2)) and torch.equal(got_v, torch.cat(vs, dim=2))
    assert cache.n == 74


@pytest.mark.parametrize("index", [[0, 1, 2, 3], [0, 0, 0, 0], [3, 2, 1, 0], [1, 0, 1, 3], [2, 2, 0, 1]])
def test_reorder_equals_selecting_the_rows(index: list[int]) -> None:
    cache = LayerKV()
    k, v = _kv(4, 6, 1)
    cache.append(k, v)
    cache.reorder(index)
    k2, v2 = _kv(4, 1, 2)  # later positions land after the reordered ones
    got_k, got_v = cache.append(k2, v2)
    want = torch.tensor(index)
    assert torch.equal(got_k, torch.cat([k.index_select(0, want), k2], dim=2))
    assert torch.equal(got_v, torch.cat([v.index_select(0, want), v2], dim=2))


def test_a_one_row_prompt_serves_every_row_and_rows_then_differ() -> None:
    cache = LayerKV()
    k, v = _kv(1, 7, 3)
    cache.append(k, v)
    cache.repeat_rows(5)
    k2, v2 = _kv(5, 1, 4)
    got_k, _ = cache.append(k2, v2)
    assert got_k.shape == (5, 2, 8, 4)
    assert torch.equal(got_k[:, :, :7], k.expand(5, -1, -1, -1)) and torch.equal(got_k[:, :, 7:], k2)
    with pytest.raises(ValueError, match="one-row"):
        cache.repeat_rows(3)


def test_beam_steps_through_the_cache_give_the_uncached_logits() -> None:
    torch.manual_seed(0)
    dims = WhisperDims(n_mels=8, n_audio_ctx=12, n_audio_state=16, n_audio_head=2, n_audio_layer=2, n_vocab=40,
                       n_text_ctx=16, n_text_state=16, n_text_head=2, n_text_layer=2)
    model = Whisper(dims).eval()
    with torch.no_grad():  # the text positions are torch.empty until a checkpoint fills them
        model.decoder.positional_embedding.normal_(0, 0.1)
    feats = torch.randn(1, 12, 16)
    prompt = torch.tensor([[1, 2, 3]])
    with torch.inference_mode():
        cache = model.new_cache()
        model.decoder(prompt, feats, cache=cache)
        model.repeat_cache(cache, 3)
        seqs = prompt.expand(3, -1)
        steps = [([0, 0, 0], [4, 5, 6]), ([2, 0, 1], [7, 8, 9]), ([1, 1, 2], [10, 11, 12])]
        for step, (index, nxt) in enumerate(steps):
            model.reorder_cache(cache, index)
            seqs = torch.cat([seqs[index], torch.tensor(nxt)[:, None]], dim=1)
            got = model.decoder(seqs[:, -1:], feats, cache=cache, offset=seqs.shape[1] - 1)[:, -1]
            want = model.decoder(seqs, feats)[:, -1]
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5, msg=f"step {step}")
