"""Start-up time to the first painted window (goal < 1.5 s), cold: every run is a fresh process running the app's
real start (QApplication, theme, MainWindow, show) offscreen. Two clocks: from exec (measured by this script, from
just before the process is started to the moment it reports its first paint: interpreter start and every import
included) and from the first line of the script (imports of Qt and the app, window, paint); then how long the
work the window leaves until after its first paint holds the UI thread (the Voice panel's take view and codec
lookup, MainWindow.event). The first run may
also pay for files not yet in the OS cache; it is shown on its own. Studio's bytecode is compiled first, as
`make run` does (where PYTHONDONTWRITEBYTECODE is set Python never writes it for the editable install, and each
start would compile every module again)."""

import os
import statistics
import subprocess
import sys
import time

from machine import describe

CODE = r"""
import time; t0 = time.perf_counter()
import os; os.environ.setdefault('QT_QPA_PLATFORM', 'offscreen')
from PySide6.QtCore import QObject, QEvent, QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
from studio.ui.main_window import MainWindow
from studio.ui.settings import AppSettings
from studio.ui.theme import apply_theme
class Painted(QObject):
    def eventFilter(self, obj, ev):
        if ev.type() == QEvent.Paint and obj is w and not hasattr(self, "painted"):
            self.painted = time.perf_counter() - t0
            print(f"{self.painted:.3f}", flush=True)
            QTimer.singleShot(0, lambda: QTimer.singleShot(0, self.ready))  # after what the window left for later
        return False
    def ready(self):
        print(f"{time.perf_counter() - t0 - self.painted:.3f}", flush=True); os._exit(0)
s = AppSettings(); apply_theme(app, s.theme)
w = MainWindow(s); f = Painted(); w.installEventFilter(f); w.show(); app.exec()
"""

RUNS = 6
subprocess.run([sys.executable, "-m", "compileall", "-q", "studio"], check=True,
               cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
load = os.getloadavg()[0]
exec_times, script_times, after_paint = [], [], []
for _ in range(RUNS):
    t = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-c", CODE], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                         env={**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")})
    line = p.stdout.readline()
    exec_times.append(time.perf_counter() - t)
    after_paint.append(float(p.stdout.readline().strip()))
    p.wait(timeout=60)
    script_times.append(float(line.strip()))
print(f"Start-up benchmark, {time.strftime('%Y-%m-%d %H:%M')}; {describe()}; a fresh process per run; "
      f"load average {load:.1f} at the start")
print(f"{'run':<28}" + "".join(f"{i:>8}" for i in range(1, RUNS + 1)))
print(f"{'from exec, s':<28}" + "".join(f"{t:8.3f}" for t in exec_times))
print(f"{'from the first line, s':<28}" + "".join(f"{t:8.3f}" for t in script_times))
print(f"{'then deferred work, s':<28}" + "".join(f"{t:8.3f}" for t in after_paint))
rest = exec_times[1:]
print(f"start-up to first paint, from exec: first run {exec_times[0]:.3f} s; runs 2-{RUNS} median "
      f"{statistics.median(rest):.3f} s, min {min(rest):.3f} s, max {max(rest):.3f} s (goal < 1.5 s)")
