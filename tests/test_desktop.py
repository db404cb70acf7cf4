"""The real `studio` on a real X server (Xvfb), through Qt's xcb platform plugin, as `make run` starts it: the other
UI tests run offscreen and would never notice the plugin failing to load for a missing system library."""

from __future__ import annotations

import os
import re
import secrets
import select
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import need_x_tools

STUDIO = Path(sys.executable).parent / "studio"  # the console script, as installed by make
TITLE = "Voice Studio"
WINDOW_TIMEOUT = 60.0
EXIT_TIMEOUT = 30.0


def _auth_file(path: Path) -> None:
    """An X authority file with one MIT-MAGIC-COOKIE-1 for any display (family FamilyWild, no address or number):
    Xvfb takes every cookie in its -auth file, and the client's libXau matches the wildcard whatever display Xvfb
    picks. Format: big-endian u16 family, then four u16-counted strings."""
    fields = (b"", b"", b"MIT-MAGIC-COOKIE-1", secrets.token_bytes(16))
    path.write_bytes(struct.pack(">H", 0xFFFF) + b"".join(struct.pack(">H", len(f)) + f for f in fields))


@dataclass
class Desktop:
    """One `studio` on its own Xvfb, with HOME and the XDG folders in a tmp dir (QSettings and platformdirs follow
    them, so the user's settings and recordings are never touched). Xvfb picks a free display itself (-displayfd)
    and is waited for at the end: under `xvfb-run -a`, which guesses a display from lock files and does not wait for
    its server to go, CI once failed with "could not connect to display :99"."""

    home: Path
    xvfb: subprocess.Popen | None = None
    proc: subprocess.Popen | None = None
    pid: int = 0
    x_env: dict[str, str] = field(default_factory=dict)
    window: str = ""

    @property
    def recordings(self) -> Path:
        return self.home / "data" / "VoiceStudio" / "recordings"

    @property
    def log(self) -> Path:
        return self.home / "state" / "VoiceStudio" / "log" / "studio.log"

    def stderr(self) -> str:
        return (self.home / "stderr.txt").read_text(errors="replace")

    def _start_x(self, env: dict[str, str]) -> None:
        auth = self.home / "Xauthority"
        _auth_file(auth)
        read, write = os.pipe()
        try:
            with open(self.home / "xvfb.txt", "wb") as err:
                # -noreset: the last client leaving (an xwininfo before studio connects) must not reset the server
                self.xvfb = subprocess.Popen(
                    ["Xvfb", "-displayfd", str(write), "-noreset", "-screen", "0", "1600x1000x24",
                     "-nolisten", "tcp", "-auth", str(auth)],
                    stdin=subprocess.DEVNULL, stdout=err, stderr=err, pass_fds=(write,))
            os.close(write)
            write = -1
            # Xvfb writes the display number once it accepts connections, then "\n" in a second write: closing
            # our end before that newline kills it (EPIPE). EOF means it died first.
            said, deadline = b"", time.monotonic() + WINDOW_TIMEOUT
            while not said.endswith(b"\n") and select.select([read], [], [], max(0.0, deadline - time.monotonic()))[0]:
                if not (chunk := os.read(read, 32)):
                    break
                said += chunk
            number = said.decode().strip() if said.endswith(b"\n") else ""
        finally:
            os.close(read)
            if write >= 0:
                os.close(write)
        if not number.isdigit():
            said = (self.home / "xvfb.txt").read_text(errors="replace")
            pytest.fail(f"Xvfb did not start: {said or 'no display number within the timeout'}")
        self.x_env = {**env, "DISPLAY": f":{number}", "XAUTHORITY": str(auth)}

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items()
               if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY", "XAUTHORITY", "VOICE_STUDIO_WORKER")}
        env.update(HOME=str(self.home), XDG_CONFIG_HOME=str(self.home / "config"),
                   XDG_DATA_HOME=str(self.home / "data"), XDG_CACHE_HOME=str(self.home / "cache"),
                   XDG_STATE_HOME=str(self.home / "state"))
        self._start_x(env)
        with open(self.home / "stderr.txt", "wb") as err:
            self.proc = subprocess.Popen([str(STUDIO)], env=self.x_env, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err)
        self.pid = self.proc.pid
        deadline = time.monotonic() + WINDOW_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"studio exited ({self.proc.returncode}) before its window appeared:\n{self.stderr()}")
            shown = subprocess.run(["xwininfo", "-name", TITLE], env=self.x_env, capture_output=True, text=True)
            if "Map State: IsViewable" in shown.stdout:
                self.window = re.search(r"Window id: (0x[0-9a-f]+)", shown.stdout).group(1)
                return
            time.sleep(0.25)
        pytest.fail(f"no viewable '{TITLE}' window in {WINDOW_TIMEOUT:.0f} s:\n{self.stderr()}")

    def keys(self, *keys: str) -> None:
        subprocess.run(["xdotool", "windowfocus", "--sync", self.window, "key", "--clearmodifiers", *keys],
                       env=self.x_env, check=True, timeout=20)

    def wait_exit(self) -> int:
        try:
            return self.proc.wait(EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"studio did not quit within {EXIT_TIMEOUT:.0f} s:\n{self.stderr()}")

    def assert_clean_exit(self) -> None:
        code, err = self.wait_exit(), self.stderr()
        assert "Could not load the Qt platform plugin" not in err, err
        assert "Traceback" not in err, err
        assert code == 0, err

    def stop(self) -> None:
        # studio first, then its X server (SIGTERM, so it removes its lock and socket), each waited for: the next
        # test starts with no server of ours shutting down beside it
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.xvfb is not None and self.xvfb.poll() is None:
            self.xvfb.terminate()
        for proc in (self.proc, self.xvfb):
            if proc is not None:
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@pytest.fixture
def desktop(tmp_path: Path) -> Iterator[Desktop]:
    need_x_tools()
    if not STUDIO.exists():
        pytest.fail(f"{STUDIO} is missing: the package is not installed in this environment (make test does it)")
    d = Desktop(tmp_path)
    yield d
    d.stop()


def test_window_opens_through_xcb_and_sigterm_closes_it_cleanly(desktop):
    import psutil

    desktop.start()
    deadline = time.monotonic() + 30
    while not (children := psutil.Process(desktop.pid).children()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert any("studio.worker.child" in " ".join(c.cmdline()) for c in children)  # the model process
    os.kill(desktop.pid, signal.SIGTERM)  # what a session logout sends
    desktop.assert_clean_exit()
    assert "SIGTERM: closing the windows" in desktop.log.read_text()
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, "the model process outlived the window"


def test_the_quit_shortcut_quits_cleanly(desktop):
    desktop.start()
    desktop.keys("ctrl+q")
    desktop.assert_clean_exit()


@pytest.mark.audio
def test_sigterm_while_recording_stops_and_saves_the_recording(desktop):
    import soundfile as sf

    desktop.start()
    desktop.keys("r")  # Record
    deadline = time.monotonic() + 30
    wav: Path | None = None
    while time.monotonic() < deadline:
        found = sorted(desktop.recordings.glob("*.wav"))
        if found and sf.info(str(found[0])).duration >= 1.0:  # the recorder rewrites the header as it goes
            wav = found[0]
            break
        time.sleep(0.2)
    assert wav is not None, f"no recording grew to 1 s after pressing R:\n{desktop.stderr()}"
    os.kill(desktop.pid, signal.SIGTERM)
    desktop.assert_clean_exit()
    recorded = sf.info(str(wav))
    assert recorded.duration >= 1.0
    # closed, not cut off: the header counts every sample in the file (an empty WAV of this kind is the header)
    empty = desktop.home / "empty.wav"
    sf.SoundFile(str(empty), "w", recorded.samplerate, recorded.channels, recorded.subtype).close()
    assert wav.stat().st_size == empty.stat().st_size + recorded.frames * recorded.channels * 2


def test_sigterm_with_a_modal_dialog_open_still_quits_cleanly(desktop):
    desktop.start()
    desktop.keys("ctrl+comma")  # File > Settings…: a modal dialog with its own event loop
    deadline = time.monotonic() + 20
    while "IsViewable" not in subprocess.run(["xwininfo", "-name", "Settings"], env=desktop.x_env,
                                             capture_output=True, text=True).stdout:
        assert time.monotonic() < deadline, "the Settings dialog did not open"
        time.sleep(0.2)
    os.kill(desktop.pid, signal.SIGTERM)
    desktop.assert_clean_exit()
