"""Starting the application: QApplication, qasync event loop, theme, main window."""

from __future__ import annotations

import asyncio
import logging
import sys

import platformdirs


def _log_to_file() -> None:
    folder = platformdirs.user_log_path("VoiceStudio", appauthor=False)
    folder.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(filename=folder / "studio.log", level=logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")


def main(argv: list[str] | None = None) -> int:
    import qasync
    from PySide6.QtWidgets import QApplication

    from studio.ui.main_window import MainWindow
    from studio.ui.settings import AppSettings
    from studio.ui.theme import apply_theme

    _log_to_file()
    app = QApplication.instance() or QApplication(sys.argv[:1] + (argv or []))
    app.setApplicationName("Voice Studio")
    app.setDesktopFileName("voice-studio")
    settings = AppSettings()
    apply_theme(app, settings.theme)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    window = MainWindow(settings)
    window.show()
    closed = asyncio.Event()
    app.aboutToQuit.connect(closed.set)
    with loop:
        loop.run_until_complete(closed.wait())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
