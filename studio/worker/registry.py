"""Models loaded on demand and kept while memory allows; the least recently used goes first when it is short.

Unloading asks for a garbage collection, so the model's memory is back before the next one loads. In the desktop
app the collection must run on the UI thread (a collection on this thread could destroy Qt objects here and crash
Qt): the UI's gc guard installs itself with `set_ui_collector`, and the worker waits until it has collected.
Without a guard (the CLI, scripts) nothing Qt exists and the collection runs here.
"""

from __future__ import annotations

import gc
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import psutil

COLLECT_WAIT_S = 2.0  # at most this long for the UI thread; it may be busy waiting for us (shutdown)

_ui_collector: tuple[threading.Thread, Callable[[], threading.Event]] | None = None


def set_ui_collector(request: Callable[[], threading.Event] | None,
                     thread: threading.Thread | None = None) -> None:
    """Install (or, with None, remove) the UI thread's collector: `request()` asks for a full collection on
    `thread` and returns an event that is set once it has run."""
    global _ui_collector
    _ui_collector = None if request is None else (thread or threading.current_thread(), request)


def remove_ui_collector(request: Callable[[], threading.Event]) -> None:
    """Remove `request` if it is still the installed collector (a newer guard may have replaced it)."""
    installed = _ui_collector
    if installed is not None and installed[1] is request:
        set_ui_collector(None)


def collect_garbage() -> None:
    """A full collection: on the UI thread when a UI collector is installed, else here."""
    installed = _ui_collector
    if installed is None or installed[0] is threading.current_thread():
        gc.collect()
        return
    installed[1]().wait(COLLECT_WAIT_S)


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
        collect_garbage()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass

    def clear(self) -> None:
        for key in list(self._models):
            self.unload(key)
