"""Garbage collection happens on the UI thread only: the worker's model registry asks the UI's gc guard to collect
and waits for it (issue 10, section 1). Without a guard (the CLI) the registry collects where it is."""

from __future__ import annotations

import gc
import threading

import pytest
from PySide6.QtCore import QObject

from studio.ui.gc_guard import GarbageCollector
from studio.worker import registry
from studio.worker.registry import ModelRegistry


@pytest.fixture
def collects(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the threads that ran a full collection."""
    threads: list[str] = []
    real = gc.collect

    def spy(generation: int = 2) -> int:
        if generation == 2:
            threads.append(threading.current_thread().name)
        return real(generation)

    monkeypatch.setattr(gc, "collect", spy)
    return threads


def test_unloading_a_model_on_the_worker_collects_on_the_guards_thread(qtbot, collects):  # noqa: ANN001
    owner = QObject()
    guard = GarbageCollector(owner)
    try:
        reg = ModelRegistry(reserve=0)
        reg.get("m", lambda: object())
        done = threading.Event()
        worker = threading.Thread(target=lambda: (reg.unload("m"), done.set()), name="studio-worker")
        worker.start()
        qtbot.waitUntil(done.is_set, timeout=5000)  # the event loop runs the guard's timer meanwhile
        worker.join()
        assert "m" not in reg
        assert collects and set(collects) == {threading.main_thread().name}
    finally:
        owner.deleteLater()
        del guard
        qtbot.wait(10)
        gc.enable()


def test_the_guard_removes_itself_when_it_goes(qtbot):  # noqa: ANN001
    owner = QObject()
    GarbageCollector(owner)
    assert registry._ui_collector is not None
    owner.deleteLater()
    qtbot.waitUntil(lambda: registry._ui_collector is None, timeout=2000)
    gc.enable()


def test_without_a_guard_the_registry_collects_where_it_runs(collects):  # noqa: ANN001
    registry.set_ui_collector(None)
    reg = ModelRegistry(reserve=0)
    reg.get("m", lambda: object())
    worker = threading.Thread(target=lambda: reg.unload("m"), name="cli-worker")
    worker.start()
    worker.join(5)
    assert collects == ["cli-worker"]
