"""Test set-up: offscreen Qt, isolated settings and folders, and a real virtual microphone (PulseAudio null
sink whose monitor is the default source), started before anything opens PortAudio."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
_PULSE: dict[str, str] = {}


def _start_virtual_mic() -> bool:
    if not (shutil.which("pulseaudio") and shutil.which("pactl")):
        return False
    runtime = tempfile.mkdtemp(prefix="studio-pulse-")
    os.environ["XDG_RUNTIME_DIR"] = runtime
    os.environ.pop("PULSE_SERVER", None)
    subprocess.run(["pulseaudio", "-D", "--exit-idle-time=-1", "-n", "--load=module-native-protocol-unix",
                    "--load=module-null-sink sink_name=vsink", "--load=module-always-sink"],
                   capture_output=True, timeout=20)
    for _ in range(50):
        if subprocess.run(["pactl", "info"], capture_output=True).returncode == 0:
            break
        time.sleep(0.1)
    else:
        return False
    subprocess.run(["pactl", "set-default-sink", "vsink"], capture_output=True)
    subprocess.run(["pactl", "set-default-source", "vsink.monitor"], capture_output=True)
    _PULSE["runtime"] = runtime
    return True


def pytest_configure(config: pytest.Config) -> None:
    config.virtual_mic = _start_virtual_mic()  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    if _PULSE:
        subprocess.run(["pulseaudio", "-k"], capture_output=True)
        shutil.rmtree(_PULSE["runtime"], ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    slow = os.environ.get("STUDIO_SLOW_TESTS") == "1"
    for item in items:
        if "slow" in item.keywords and not slow:
            item.add_marker(pytest.mark.skip(reason="slow; set STUDIO_SLOW_TESTS=1"))
        if "audio" in item.keywords and not getattr(config, "virtual_mic", False):
            if os.environ.get("CI"):
                raise pytest.UsageError("CI needs the virtual microphone (pulseaudio) but it did not start")
            item.add_marker(pytest.mark.skip(reason="no PulseAudio virtual microphone"))


@pytest.fixture(scope="session")
def data() -> Path:
    if not (DATA / "jfk.flac").exists():
        pytest.fail(f"test data missing at {DATA}: the repository's tests/data folder is incomplete")
    return DATA


@pytest.fixture(scope="session")
def jfk16(tmp_path_factory: pytest.TempPathFactory, data: Path) -> Path:
    """jfk.flac as 16-bit WAV: paplay mis-times 24-bit FLAC on this PulseAudio, 16-bit plays in real time."""
    import soundfile as sf

    x, sr = sf.read(data / "jfk.flac", dtype="float32")
    out = tmp_path_factory.mktemp("jfk") / "jfk16.wav"
    sf.write(out, x, sr, subtype="PCM_16")
    return out


@pytest.fixture
def settings(tmp_path: Path):  # noqa: ANN201
    from PySide6.QtCore import QSettings

    from studio.ui.settings import AppSettings

    s = AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat))
    s.recordings_folder = str(tmp_path / "recordings")
    return s


@pytest.fixture
def window(qtbot, settings):  # noqa: ANN201
    import gc

    from studio.ui.main_window import MainWindow

    w = MainWindow(settings)
    qtbot.addWidget(w)
    w.show()
    yield w
    w.close()
    gc.collect()  # here, on the UI thread: never let a worker thread collect Qt objects


def drop_files(widget, paths) -> None:  # noqa: ANN001
    """Drop files on a widget as the window system would."""
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    widget.dropEvent(QDropEvent(QPointF(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier))
