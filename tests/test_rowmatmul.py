"""studio.models.rowmatmul: a decoder step's few-row products through the weight's two halves give F.linear's
numbers (within float rounding) for every shape a step meets, and step aside where they do not apply."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from studio.models.rowmatmul import MAX_ROWS, linear, row_product


@pytest.mark.parametrize("rows", [1, 2, 3, 5, MAX_ROWS])
@pytest.mark.parametrize("out_f,in_f,bias", [(384, 384, True), (384, 384, False), (1536, 384, True),
                                              (384, 1536, True), (51865, 64, False), (7, 5, True)])
def test_few_rows_equal_the_plain_product(rows: int, out_f: int, in_f: int, bias: bool) -> None:
    g = torch.Generator().manual_seed(rows * 7 + out_f)
    w = torch.randn(out_f, in_f, generator=g) * 0.05
    b = torch.randn(out_f, generator=g) if bias else None
    x = torch.randn(rows, 1, in_f, generator=g)  # (beams, 1 token, width), as a decoder step has it
    got = row_product(x, w, b)
    assert got is not None and got.shape == (rows, 1, out_f)
    # a strided result sends the next attention to SDPA's slow math path (20 % of a beam-search step)
    assert got.is_contiguous()
    torch.testing.assert_close(got, F.linear(x, w, b), rtol=1e-5, atol=1e-5)


def test_it_steps_aside_where_it_does_not_apply() -> None:
    w, x = torch.randn(64, 32), torch.randn(1, 32)
    assert row_product(torch.randn(MAX_ROWS + 1, 32), w, None) is None  # a prompt: a real matrix product
    assert row_product(x, w.T.contiguous().T, None) is None  # a transposed (non-contiguous) weight
    assert row_product(x.double(), w, None) is None  # another dtype
    layer = nn.Linear(32, 64)
    with torch.no_grad():
        torch.testing.assert_close(linear(layer, x), layer(x), rtol=1e-5, atol=1e-5)
    int8 = torch.ao.quantization.quantize_dynamic(nn.Sequential(nn.Linear(32, 64)), {nn.Linear}, dtype=torch.qint8)
    assert torch.equal(linear(int8[0], x), int8[0](x))  # a quantized layer runs as it is


def test_the_split_is_taken_only_where_it_measured_faster(monkeypatch) -> None:
    import studio.models.rowmatmul as rm

    layer = nn.Linear(32, 64)
    x = torch.randn(1, 32)
    calls: list[int] = []
    real = rm.row_product
    monkeypatch.setattr(rm, "row_product", lambda *a: calls.append(1) or real(*a))
    with torch.no_grad():
        monkeypatch.setenv("VOICE_STUDIO_ROW_SPLIT", "0")
        assert torch.equal(linear(layer, x), layer(x)) and not calls  # the plain product, untouched
        monkeypatch.setenv("VOICE_STUDIO_ROW_SPLIT", "1")
        torch.testing.assert_close(linear(layer, x), layer(x), rtol=1e-5, atol=1e-5)
        assert calls == [1]
        monkeypatch.delenv("VOICE_STUDIO_ROW_SPLIT")
        monkeypatch.setattr(rm, "_pays", {})
        decided = rm.split_pays()  # measured once for this thread count, then remembered
        assert rm._pays == {torch.get_num_threads(): decided} and rm.split_pays() is decided
