"""Tensors derived from a parameter (a transposed or re-laid-out copy), kept until the parameter changes."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn


def derived(owner: nn.Module, name: str, source: Tensor, make: Callable[[Tensor], Tensor]) -> Tensor:
    """`make(source)` cached on `owner` under `name`; rebuilt when `source` is replaced, moved or changed in place
    (inference-mode tensors cannot change in place and have no version counter)."""
    version = 0 if source.is_inference() else source._version
    key = (source.data_ptr(), version, source.device, source.dtype)
    cached = owner.__dict__.get(f"_derived_{name}")
    if cached is None or cached[0] != key:
        cached = (key, make(source.detach()))
        owner.__dict__[f"_derived_{name}"] = cached
    return cached[1]
