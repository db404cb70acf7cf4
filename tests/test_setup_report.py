"""`make test` never looks green while hiding what it could not test: tests skipped for a missing system piece are
counted in the last lines of the run, with the command that fixes it; under CI they fail instead."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ABSENT = "voice-studio-no-such-package"


def _run(tmp_path: Path, target: str = "tests/test_desktop.py", **env: str) -> subprocess.CompletedProcess:
    """tests/test_desktop.py on a PATH without the X tools or pulseaudio (apt-get and dpkg-query kept), after an
    apt-ensure that could not install ABSENT."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("apt-get", "dpkg-query"):
        if (found := shutil.which(tool)) and not (bin_dir / tool).exists():
            (bin_dir / tool).symlink_to(found)
    marker = tmp_path / "apt-missing"
    marker.write_text(f"{ABSENT}\n")
    full = {k: v for k, v in os.environ.items() if k != "CI"}
    full.update(PATH=str(bin_dir), STUDIO_APT_MISSING=str(marker), **env)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", target],
                          cwd=ROOT, env=full, capture_output=True, text=True, timeout=120)


def test_what_was_not_tested_is_in_the_last_lines_with_the_fix(tmp_path):
    run = _run(tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = [line for line in run.stdout.splitlines() if line.strip()]
    notice = lines[lines.index(next(s for s in lines if "NOT EVERYTHING WAS TESTED" in s)):]
    desktop_tests = (ROOT / "tests" / "test_desktop.py").read_text().count("\ndef test_")
    assert f"{desktop_tests} skipped" in lines[-len(notice) - 1]  # pytest's own summary first, the notice last
    assert notice[1].startswith(f"{desktop_tests - 1} tests SKIPPED: no X server tools for the desktop tests "
                                "(Xvfb")
    assert notice[2].startswith("1 test SKIPPED: no PulseAudio virtual microphone (pulseaudio")  # the audio one
    assert ABSENT in notice[3]
    fix = notice[-1]
    assert fix.startswith("Fix: ") and fix.endswith(" && make test")
    for package in (ABSENT, "xvfb", "x11-utils", "xdotool", "pulseaudio", "pulseaudio-utils"):
        assert f" {package} " in fix
    if shutil.which("apt-get"):
        assert f"apt-get install -y {ABSENT} xvfb" in fix


def test_under_ci_a_missing_piece_fails_the_run(tmp_path):
    run = _run(tmp_path, CI="true")
    assert run.returncode != 0
    assert "CI needs the virtual microphone" in run.stdout + run.stderr
    run = _run(tmp_path, "tests/test_desktop.py::test_the_quit_shortcut_quits_cleanly", CI="true")
    assert run.returncode == 1 and "1 error" in run.stdout
    assert "CI needs Xvfb, xwininfo, xdotool" in run.stdout
