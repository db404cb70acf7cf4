"""PySide6 6.12 on Python 3.11 releases a reference to None per processEvents() call; the guard gives None's count
room so a long session (or this test run: qtbot.wait calls it constantly) does not end in 'none_dealloc'."""

from __future__ import annotations

import subprocess
import sys

CODE = """
from studio.ui.refcount_guard import pad_none_refcount
pad_none_refcount(1_000_000)
from PySide6.QtWidgets import QApplication
app = QApplication([])
for _ in range(120_000):
    app.processEvents()
print("done")
"""


def test_many_process_events_calls_end_cleanly() -> None:
    run = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=300,
                         env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert run.returncode == 0 and "done" in run.stdout, run.stderr[-500:]


def test_true_and_false_are_padded_too() -> None:
    """With the main window shown, PySide6 6.12 also releases references to True and False it never took
    (CI ended in 'bool_dealloc')."""
    code = ("import sys\nfrom studio.ui.refcount_guard import pad_none_refcount\n"
            "counts = [sys.getrefcount(x) for x in (None, True, False)]\npad_none_refcount(1000)\n"
            "print([sys.getrefcount(x) - c for x, c in zip((None, True, False), counts)])")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    deltas = [int(d) for d in run.stdout.strip().strip("[]").split(",")]
    expected = 0 if sys.version_info >= (3, 12) else 1000
    assert all(abs(d - expected) <= 5 for d in deltas), (deltas, run.stderr[-500:])  # the lines' own references
