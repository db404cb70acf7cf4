"""studio.ui.draw_steps.DrawSteps: one step per turn of the event loop, `then` after the last, and a new start or
clear drops the steps still to come."""

from __future__ import annotations

from PySide6.QtCore import QObject

from studio.ui.draw_steps import DrawSteps


def test_steps_run_one_per_turn_then_the_callback(qtbot) -> None:
    owner = QObject()
    ran: list[str] = []
    steps = DrawSteps(owner, then=lambda: ran.append("then"))
    steps.start([lambda: ran.append("a"), lambda: ran.append("b")])
    assert steps.pending and ran == []  # nothing runs inside start
    qtbot.waitUntil(lambda: not steps.pending, timeout=2000)
    assert ran == ["a", "b", "then"]


def test_a_new_start_or_clear_drops_what_was_left(qtbot) -> None:
    owner = QObject()
    ran: list[str] = []
    steps = DrawSteps(owner, then=lambda: ran.append("then"))
    steps.start([lambda: ran.append("old"), lambda: ran.append("old2")])
    steps.start([lambda: ran.append("new")])
    qtbot.waitUntil(lambda: "then" in ran, timeout=2000)
    assert ran == ["new", "then"]
    steps.start([lambda: ran.append("dropped")])
    steps.clear()
    qtbot.wait(50)
    assert not steps.pending and ran == ["new", "then"]
