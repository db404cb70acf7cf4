"""Whole-process timing: wall seconds from exec to exit and peak memory of a fresh process.

The command is started from a small launcher interpreter, not from the benchmark (which has torch loaded): Linux
carries a process's peak RSS across fork and exec, so a child of a 1 GB parent would report at least 1 GB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

LAUNCHER = r"""
import json, os, subprocess, sys, tempfile, time
err = tempfile.TemporaryFile()
t = time.perf_counter()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=err)
_, status, usage = os.wait4(p.pid, 0)
wall = time.perf_counter() - t
err.seek(0)
print(json.dumps({"wall": wall, "peak_mb": usage.ru_maxrss / 1024, "rc": os.waitstatus_to_exitcode(status),
                  "stderr": err.read().decode(errors="replace")[-3000:]}))
"""


def whole_process(cmd: list[str], env: dict | None = None, cwd: str | os.PathLike | None = None) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of `cmd` run once in a fresh process; its output is discarded."""
    out = subprocess.run([sys.executable, "-c", LAUNCHER, *cmd], capture_output=True, text=True, env=env,
                         cwd=cwd or Path.cwd())
    r = json.loads(out.stdout.strip().splitlines()[-1])
    if r["rc"] != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r['rc']}:\n{r['stderr']}")
    return r["wall"], r["peak_mb"]
