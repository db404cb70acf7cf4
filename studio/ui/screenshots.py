"""Grab every panel of the app to PNG (offscreen), for docs and for looking at the UI as a user would.

    QT_QPA_PLATFORM=offscreen python -m studio.ui.screenshots OUTDIR [AUDIO_FILE [CODE_FILE]]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def grab_all(out_dir: Path, audio: Path | None = None, theme: str = "dark", codes: Path | None = None) -> list[Path]:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from studio.ui.main_window import MainWindow
    from studio.ui.settings import AppSettings
    from studio.ui.theme import apply_theme

    app = QApplication.instance() or QApplication([])
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = AppSettings(QSettings(str(out_dir / "settings.ini"), QSettings.IniFormat))
    settings.recordings_folder = str(out_dir / "recordings")
    settings.voices_folder = str(out_dir / "voices")
    settings.theme = theme
    apply_theme(app, theme)
    win = MainWindow(settings)
    win.resize(1280, 800)
    win.show()
    if audio is not None:
        win.record.import_files([audio])
        win.spectrogram.open_file(str(audio))
        win.transcribe.open_file(str(audio))
        win.transcribe.words.setChecked(True)
        win.transcribe.start()
        _settle(app, win, 60.0)
        win.transcribe.table.selectRow(0)
        win.transcribe.show_attention()
        _settle(app, win, 30.0)
        win.spectrogram.attention.tokens.setCurrentRow(8)
    if codes is not None:  # a code file shows the token grid without needing the codec's weights
        win.codec.open_file(str(codes))
        if codes.suffix == ".npz":  # a VALL-E X preset is also a voice: the Voice panel with a plan to speak
            win.voice.voices.import_presets([str(codes)])
            win.voice.speak.text.setPlainText(
                "Dr. Smith paid $3.50 on the 2nd of May. Then the voice goes on, sentence after sentence, until "
                "the whole text is spoken, each part short enough for the model to say in one go.")
    _settle(app, win)
    shots = []
    for i, name in enumerate(win.PANELS):
        win.nav.setCurrentRow(i)
        _settle(app, win, 0.5)
        path = out_dir / f"{name.lower()}-{theme}.png"
        win.grab().save(str(path))
        shots.append(path)
    win.close()
    return shots


def _settle(app: object, win: object, seconds: float = 3.0) -> None:
    """Process events until the worker is idle (or `seconds` pass)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()  # type: ignore[attr-defined]
        if not win.worker.worker.pending() and time.monotonic() > end - seconds + 0.3:  # type: ignore
            break
        time.sleep(0.02)
    app.processEvents()  # type: ignore[attr-defined]


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "screenshots")
    audio = Path(sys.argv[2]) if len(sys.argv) > 2 else None
    codes = Path(sys.argv[3]) if len(sys.argv) > 3 else None
    for theme in ("dark", "light"):
        for p in grab_all(out, audio, theme, codes):
            print(p)
