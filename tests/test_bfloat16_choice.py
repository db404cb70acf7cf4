"""studio.models.bfloat16: bfloat16 is chosen only when its product clearly beats float32's here."""

from __future__ import annotations

import pytest

from studio.models import bfloat16


@pytest.mark.parametrize(("f32", "bf16", "pays"), [(40.0, 266.0, False), (40.0, 36.0, False), (40.0, 10.0, True)],
                         ids=["emulated", "a-tie", "native"])
def test_bfloat16_pays_only_when_clearly_faster(f32: float, bf16: float, pays: bool,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    dtypes: list[str] = []

    def timed(f, runs: int) -> float:  # noqa: ANN001
        out = f()
        dtypes.append(str(out.dtype))
        return f32 if out.dtype.is_floating_point and out.dtype.itemsize == 4 else bf16

    monkeypatch.setattr(bfloat16, "best_time", timed)
    bfloat16.bfloat16_pays.cache_clear()
    try:
        assert bfloat16.bfloat16_pays() is pays
        assert dtypes == ["torch.float32", "torch.bfloat16"]  # the same product, once each way
    finally:
        bfloat16.bfloat16_pays.cache_clear()
