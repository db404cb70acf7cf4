"""studio.models.int8.int8_linears: every nn.Linear becomes int8 with one weight scale per output row."""

from __future__ import annotations

import torch
from torch import nn

from studio.models.int8 import int8_linears


def test_a_small_row_beside_a_large_one_keeps_its_values() -> None:
    """With one scale per matrix, a row 1000x smaller than its neighbour rounds to zero (all its outputs lost);
    with its own scale it keeps them within int8's rounding."""
    torch.manual_seed(0)
    layer = nn.Linear(64, 2, bias=False)
    with torch.no_grad():
        layer.weight[0] = torch.randn(64)
        layer.weight[1] = torch.randn(64) * 1e-3
    x = torch.randn(16, 64)
    model = nn.Sequential(layer)
    exact = model(x).detach()
    q = int8_linears(model)
    assert q[0].weight().qscheme() == torch.per_channel_affine
    assert isinstance(model[0], nn.Linear)  # not in place unless asked
    got = q(x)
    for row in (0, 1):
        err = (got[:, row] - exact[:, row]).norm() / exact[:, row].norm()
        assert float(err) < 0.05, (row, float(err))


def test_in_place_converts_nested_linears_and_leaves_other_layers() -> None:
    model = nn.Sequential(nn.Linear(8, 8), nn.GELU(), nn.Sequential(nn.Linear(8, 4)), nn.LayerNorm(4))
    out = int8_linears(model, inplace=True)
    assert out is model
    assert "quantized" in type(model[0]).__module__ and "quantized" in type(model[2][0]).__module__
    assert isinstance(model[1], nn.GELU) and isinstance(model[3], nn.LayerNorm)


def test_a_bare_linear_comes_back_as_a_new_int8_linear() -> None:
    layer = nn.Linear(8, 4)
    q = int8_linears(layer)
    assert q is not layer and "quantized" in type(q).__module__
    assert q.weight().qscheme() == torch.per_channel_affine
    assert isinstance(layer, nn.Linear) and layer.weight.dtype == torch.float32  # the original is untouched
