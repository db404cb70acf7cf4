"""Models loaded on demand and kept while memory allows; the least recently used goes first when it is short."""

from __future__ import annotations

import gc
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import psutil


def module_bytes(model: Any) -> int:
    """Bytes of parameters and buffers of a torch module (0 for anything else)."""
    total = 0
    for getter in ("parameters", "buffers"):
        for t in getattr(model, getter, lambda: [])():
            total += t.numel() * t.element_size()
    return total


class ModelRegistry:
    """key -> loaded model. `budget` caps the bytes held; free system memory is also kept above `reserve`."""

    def __init__(self, budget: int | None = None, reserve: int = 1 << 30) -> None:
        self.budget = budget
        self.reserve = reserve
        self._models: OrderedDict[str, tuple[Any, int]] = OrderedDict()

    def __contains__(self, key: str) -> bool:
        return key in self._models

    def keys(self) -> list[str]:
        """Loaded keys, least recently used first."""
        return list(self._models)

    @property
    def bytes_held(self) -> int:
        return sum(size for _, size in self._models.values())

    def get(self, key: str, load: Callable[[], Any], expected_bytes: int = 0) -> Any:
        if key in self._models:
            self._models.move_to_end(key)
            return self._models[key][0]
        self.make_room(expected_bytes)
        model = load()
        size = module_bytes(model) or expected_bytes
        self._models[key] = (model, size)
        self.make_room(0)
        return model

    def make_room(self, incoming: int) -> None:
        """Unload least recently used models until `incoming` more bytes fit the budget and free memory."""
        def short() -> bool:
            over_budget = self.budget is not None and self.bytes_held + incoming > self.budget
            low_ram = psutil.virtual_memory().available - incoming < self.reserve
            return over_budget or low_ram

        while self._models and short():
            # keep the model just added when it alone exceeds the budget
            if incoming == 0 and len(self._models) == 1:
                break
            self.unload(next(iter(self._models)))

    def unload(self, key: str) -> None:
        model, _ = self._models.pop(key)
        del model
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass

    def clear(self) -> None:
        for key in list(self._models):
            self.unload(key)
