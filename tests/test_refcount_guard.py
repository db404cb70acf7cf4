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
