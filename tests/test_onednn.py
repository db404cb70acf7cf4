"""studio.models.onednn: many-row float32 products through oneDNN where it measured faster than MKL; equal to
F.linear within float rounding, and out of the way where it does not apply. (Speed: benchmarks, not here.)"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import studio.models.onednn as dnn
from studio.models.rowmatmul import linear

needs_onednn = pytest.mark.skipif(dnn.measure() is None, reason="this torch build has no oneDNN linear")


@pytest.fixture
def forced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dnn, "_pays", {})
    monkeypatch.setenv("VOICE_STUDIO_ONEDNN", "1")


@needs_onednn
@pytest.mark.parametrize("shape", [(9, 384), (2, 100, 64), (1, 1500, 384)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_equals_f_linear(forced: None, shape: tuple[int, ...], with_bias: bool) -> None:
    torch.manual_seed(0)
    x = torch.randn(shape)
    w, b = torch.randn(96, shape[-1]), torch.randn(96) if with_bias else None
    with torch.inference_mode():
        got = dnn.onednn_product(x, w, b)
    assert got is not None and got.shape == (*shape[:-1], 96)
    torch.testing.assert_close(got, F.linear(x, w, b), rtol=1e-5, atol=1e-4)


@needs_onednn
def test_steps_aside_where_it_does_not_apply(forced: None, monkeypatch: pytest.MonkeyPatch) -> None:
    w = torch.randn(64, 32)
    with torch.inference_mode():
        assert dnn.onednn_product(torch.randn(dnn.MIN_ROWS - 1, 32), w, None) is None  # a decoder step
        assert dnn.onednn_product(torch.randn(64, 32).double(), w.double(), None) is None
        assert dnn.onednn_product(torch.randn(64, 32).bfloat16(), w.bfloat16(), None) is None
        assert dnn.onednn_product(torch.randn(64, 32), w.T.contiguous().T, None) is None  # strided weight
    x = torch.randn(64, 32, requires_grad=True)
    assert dnn.onednn_product(x, w, None) is None  # training: the op has no gradient
    monkeypatch.setenv("VOICE_STUDIO_ONEDNN", "0")
    with torch.inference_mode():
        assert dnn.onednn_product(torch.randn(64, 32), w, None) is None


def test_the_choice_follows_the_measurement(monkeypatch: pytest.MonkeyPatch) -> None:
    assert dnn.onednn_wins(1.0, 0.5) and not dnn.onednn_wins(1.0, 0.9)  # a 20 % margin, so noise never picks it
    monkeypatch.delenv("VOICE_STUDIO_ONEDNN", raising=False)
    for times, expected in (((1.0, 0.4), True), ((1.0, 0.95), False), (None, False)):
        monkeypatch.setattr(dnn, "_pays", {})
        monkeypatch.setattr(dnn, "measure", lambda t=times: t)
        assert dnn.onednn_pays() is expected


@needs_onednn
def test_linear_takes_onednn_for_many_rows_only(forced: None, monkeypatch: pytest.MonkeyPatch) -> None:
    import studio.models.rowmatmul as rm

    calls: list[int] = []
    real = dnn.onednn_product
    monkeypatch.setattr(rm, "onednn_product", lambda x, *a: calls.append(x.shape[0]) or real(x, *a))
    layer = nn.Linear(32, 48)
    with torch.inference_mode():
        for rows in (1, 200):
            x = torch.randn(rows, 32)
            torch.testing.assert_close(linear(layer, x), layer(x), rtol=1e-5, atol=1e-5)
    assert 200 in calls
