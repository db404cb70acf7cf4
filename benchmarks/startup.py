"""Start-up time to the first painted window (goal < 1.5 s). Runs the app's real start in a fresh process."""

import statistics
import subprocess
import sys

CODE = r"""
import time; t0 = time.perf_counter()
import os; os.environ.setdefault('QT_QPA_PLATFORM', 'offscreen')
from PySide6.QtCore import QObject, QEvent
from PySide6.QtWidgets import QApplication
app = QApplication([])
from studio.ui.main_window import MainWindow
from studio.ui.settings import AppSettings
from studio.ui.theme import apply_theme
class Painted(QObject):
    def eventFilter(self, obj, ev):
        if ev.type() == QEvent.Paint and obj is w:
            print(f"{time.perf_counter() - t0:.3f}"); os._exit(0)
        return False
s = AppSettings(); apply_theme(app, s.theme)
w = MainWindow(s); f = Painted(); w.installEventFilter(f); w.show(); app.exec()
"""

times = []
for _ in range(5):
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=60)
    times.append(float(out.stdout.strip().splitlines()[-1]))
print(f"{'run':<8}" + "".join(f"{i:>8}" for i in range(1, len(times) + 1)))
print(f"{'seconds':<8}" + "".join(f"{t:8.3f}" for t in times))
print(f"median start-up to first paint: {statistics.median(times):.3f} s (goal < 1.5 s)")
