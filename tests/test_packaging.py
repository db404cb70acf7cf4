import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_pyinstaller_builds_a_one_folder_app_that_starts():
    subprocess.run([str(ROOT / "packaging" / "build.sh")], check=True, timeout=3000)
    exe = ROOT / "dist" / "voice-studio" / "voice-studio"
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0 and "Voice Studio" in out.stdout
    data = ROOT / "tests" / "data" / "jfk.flac"
    png = ROOT / "dist" / "jfk.png"
    out = subprocess.run([str(exe), "mel", str(data), "--png", str(png)], capture_output=True, text=True,
                         timeout=300)  # torch must load inside the bundle
    assert out.returncode == 0, out.stderr
    assert png.read_bytes()[:4] == b"\x89PNG"
    out = subprocess.run([str(exe), "transcribe", str(data), "--output-dir", str(ROOT / "dist"), "--vad"],
                         capture_output=True, text=True, timeout=600)  # built-in model and VAD weights bundled
    assert out.returncode == 0, out.stderr
    assert "ask not what your country" in (ROOT / "dist" / "jfk.txt").read_text().lower()


def test_desktop_entry_names_the_installed_commands():
    entry = (ROOT / "resources" / "voice-studio.desktop").read_text()
    assert "Exec=voice-studio" in entry and "Icon=voice-studio" in entry
    assert 'voice-studio = "studio.ui.app:main"' in (ROOT / "pyproject.toml").read_text()
