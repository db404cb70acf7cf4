"""Persistent settings (QSettings) with typed accessors and platformdirs defaults."""

from __future__ import annotations

from pathlib import Path

import platformdirs
from PySide6.QtCore import QSettings

APP = "VoiceStudio"


class AppSettings:
    def __init__(self, settings: QSettings | None = None) -> None:
        self.q = settings or QSettings(APP, APP)

    def _get(self, key: str, default: str) -> str:
        value = self.q.value(key, default)
        return str(value) if value is not None else default

    @property
    def theme(self) -> str:
        return self._get("ui/theme", "dark")

    @theme.setter
    def theme(self, value: str) -> None:
        self.q.setValue("ui/theme", value)

    @property
    def input_device(self) -> str | None:
        return self.q.value("audio/input_device") or None

    @input_device.setter
    def input_device(self, key: str | None) -> None:
        self.q.setValue("audio/input_device", key or "")

    @property
    def compute_device(self) -> str:
        return self._get("worker/device", "auto")

    @compute_device.setter
    def compute_device(self, value: str) -> None:
        self.q.setValue("worker/device", value)

    @property
    def cache_folder(self) -> str:
        """Empty means the Hugging Face default (HF_HOME respected)."""
        return self._get("hub/cache_folder", "")

    @cache_folder.setter
    def cache_folder(self, value: str) -> None:
        self.q.setValue("hub/cache_folder", value)

    @property
    def recordings_folder(self) -> Path:
        default = Path(platformdirs.user_data_dir(APP, appauthor=False)) / "recordings"
        return Path(self._get("audio/recordings_folder", str(default)))

    @recordings_folder.setter
    def recordings_folder(self, value: str) -> None:
        self.q.setValue("audio/recordings_folder", value)

    @property
    def voices_folder(self) -> Path:
        """Where enrolled voices (VALL-E X .npz) are kept; `studio clone` users find them there too."""
        from studio.engine.clone.voices import default_voices_folder

        value = self._get("voice/voices_folder", "")
        return Path(value) if value else default_voices_folder()  # an emptied field means the default

    @voices_folder.setter
    def voices_folder(self, value: str) -> None:
        self.q.setValue("voice/voices_folder", value)

    @property
    def colormap(self) -> str:
        return self._get("ui/colormap", "magma")

    @colormap.setter
    def colormap(self, value: str) -> None:
        self.q.setValue("ui/colormap", value)
