"""The virtual microphone of the tests and benchmarks (no sound card here, see ../shared/AUDIO.md): a PulseAudio
daemon of our own with a null sink, `vsink`, whose monitor is the default input; `paplay --device=vsink FILE`
speaks into it. Pure subprocess, no pytest: benchmarks/ui_stall.py starts it too."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time

PULSE_CMD = ["pulseaudio", "-D", "--exit-idle-time=-1", "-n",
             "--load=module-native-protocol-unix auth-anonymous=1",  # clients with their own HOME get in too
             "--load=module-null-sink sink_name=vsink", "--load=module-always-sink"]


def start() -> tuple[str | None, str]:
    """Start the daemon in a fresh runtime folder and point this process (and its children, through
    XDG_RUNTIME_DIR) at it. Returns (that folder, "") or (None, why not)."""
    absent = [t for t in ("pulseaudio", "pactl") if not shutil.which(t)]
    if absent:
        return None, f"{' and '.join(absent)} not installed"
    runtime = tempfile.mkdtemp(prefix="studio-pulse-")
    os.environ["XDG_RUNTIME_DIR"] = runtime
    os.environ.pop("PULSE_SERVER", None)
    started = subprocess.run(PULSE_CMD, capture_output=True, text=True, timeout=20)
    for _ in range(50):
        if subprocess.run(["pactl", "info"], capture_output=True).returncode == 0:
            break
        time.sleep(0.1)
    else:
        said = (started.stderr.strip().splitlines() or [f"exit status {started.returncode}"])[-1]
        shutil.rmtree(runtime, ignore_errors=True)
        return None, f"pulseaudio did not start ({said})"
    subprocess.run(["pactl", "set-default-sink", "vsink"], capture_output=True)
    subprocess.run(["pactl", "set-default-source", "vsink.monitor"], capture_output=True)
    return runtime, ""


def stop(runtime: str) -> None:
    subprocess.run(["pulseaudio", "-k"], capture_output=True)
    shutil.rmtree(runtime, ignore_errors=True)
