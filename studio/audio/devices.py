"""Capture devices: PortAudio inputs plus PulseAudio/PipeWire sources, monitors of outputs included.

PortAudio only sees ALSA devices; on a PulseAudio or PipeWire desktop every source (microphones and the
monitor of each output, i.e. "what the computer plays") is reached through the ALSA `pulse` device with
PULSE_SOURCE naming the source when the stream opens.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass


@dataclass(frozen=True)
class InputDevice:
    key: str            # stable identifier stored in settings
    label: str          # what the user sees
    kind: str           # "microphone" or "monitor"
    portaudio: int | str | None  # device passed to sounddevice
    pulse_source: str | None = None
    default_samplerate: int = 48000


def _portaudio_inputs() -> list[InputDevice]:
    try:
        import sounddevice as sd

        devices = sd.query_devices()
    except (OSError, ImportError):  # PortAudio library missing
        return []
    out = []
    for i, d in enumerate(devices):
        if d["max_input_channels"] > 0 and d["name"] not in ("pulse", "pipewire"):
            out.append(InputDevice(f"pa:{d['name']}", d["name"], "microphone", i,
                                   default_samplerate=int(d["default_samplerate"])))
    return out


def pulse_sources() -> list[dict]:
    """Sources reported by `pactl` (PulseAudio or pipewire-pulse); [] where there is no such server."""
    if shutil.which("pactl") is None:
        return []
    try:
        res = subprocess.run(["pactl", "-f", "json", "list", "sources"], capture_output=True, text=True,
                             timeout=3)
        return json.loads(res.stdout) if res.returncode == 0 and res.stdout.strip() else []
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError):
        return []


def _pulse_portaudio_device() -> int | None:
    try:
        import sounddevice as sd

        for i, d in enumerate(sd.query_devices()):
            if d["name"] in ("pulse", "pipewire") and d["max_input_channels"] > 0:
                return i
    except (OSError, ImportError):
        pass
    return None


_known: list[InputDevice] | None = None  # the last listing


def list_input_devices() -> list[InputDevice]:
    """Every device a user can record from; monitors of outputs are listed after microphones."""
    global _known
    pulse_dev = _pulse_portaudio_device()
    devices: list[InputDevice] = []
    if pulse_dev is not None:
        for s in pulse_sources():
            is_monitor = s.get("properties", {}).get("device.class") == "monitor" or s["name"].endswith(".monitor")
            label = s.get("description") or s["name"]
            if is_monitor and not label.lower().startswith("monitor"):
                label = f"Monitor of {label}"
            rate = _rate_of(s.get("sample_specification", ""))
            devices.append(InputDevice(f"pulse:{s['name']}", label, "monitor" if is_monitor else "microphone",
                                       pulse_dev, s["name"], rate))
    devices += _portaudio_inputs()
    devices.sort(key=lambda d: d.kind == "monitor")
    _known = list(devices)
    return devices


def _rate_of(spec: str) -> int:
    for part in spec.split():
        if part.endswith("Hz") and part[:-2].isdigit():
            return int(part[:-2])
    return 48000


def find_device(key: str | None) -> InputDevice | None:
    """The device with this settings key; None (the system default input) when key is None or gone. Looked up in
    the last listing first (the Record panel lists at start-up and on its refresh button): at a click, such as
    live transcription's start, a fresh listing runs `pactl` on the UI thread, 15-35 ms while a job keeps the CPUs
    busy. A device plugged in since is found by listing again."""
    if key is None:
        return None
    found = next((d for d in _known or [] if d.key == key), None)
    return found or next((d for d in list_input_devices() if d.key == key), None)


def describe_missing_portaudio() -> str:
    return ("The PortAudio library is missing, so no microphone can be opened. Install it with "
            "'sudo apt install libportaudio2' (Debian/Ubuntu), 'sudo dnf install portaudio' (Fedora) "
            "or 'brew install portaudio' (macOS).")
