"""Starting the application: QApplication, qasync event loop, theme, main window."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from typing import TYPE_CHECKING

import platformdirs

from studio.worker.child import LOG_ENV, log_to

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication


def _log_to_file() -> None:
    log_file = platformdirs.user_log_path("VoiceStudio", appauthor=False) / "studio.log"
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # a read-only home: say why, not the "No such file" of opening the file after it
        print(f"Voice Studio: cannot make the log folder {log_file.parent} ({e.strerror}); logging to the terminal",
              file=sys.stderr)
        log_to(None)
        os.environ.pop(LOG_ENV, None)
        return
    if log_to(str(log_file)):
        os.environ[LOG_ENV] = str(log_file)  # the model process logs to the same file
    else:
        os.environ.pop(LOG_ENV, None)


def _close_on_signals(loop: asyncio.AbstractEventLoop, app: QApplication) -> None:
    """SIGTERM (session logout, `kill`), SIGHUP (terminal closed) and SIGINT (Ctrl+C) close the windows through Qt's
    normal close path, as File > Quit does: a running recording is stopped and saved, workers stop, exit status 0.
    The handler runs in the event loop (asyncio's self-pipe), never in the middle of other Python code. A second
    signal of the same kind gets the default action, for a close that hangs."""

    def close(sig: signal.Signals) -> None:
        logging.getLogger(__name__).info("%s: closing the windows", sig.name)
        loop.remove_signal_handler(sig)
        signal.signal(sig, signal.SIG_DFL)
        app.closeAllWindows()

    for name in ("SIGTERM", "SIGHUP", "SIGINT"):
        sig = getattr(signal, name, None)
        if sig is None:
            continue
        try:
            loop.add_signal_handler(sig, close, sig)
        except (NotImplementedError, RuntimeError):  # Windows event loops have no signal handlers
            return


def main(argv: list[str] | None = None) -> int:
    import qasync
    from PySide6.QtWidgets import QApplication

    from studio.ui.gc_guard import freeze_startup
    from studio.ui.main_window import MainWindow
    from studio.ui.refcount_guard import pad_none_refcount
    from studio.ui.settings import AppSettings
    from studio.ui.theme import apply_theme

    pad_none_refcount()

    _log_to_file()
    app = QApplication.instance() or QApplication(sys.argv[:1] + (argv or []))
    app.setApplicationName("Voice Studio")
    app.setDesktopFileName("voice-studio")
    settings = AppSettings()
    apply_theme(app, settings.theme)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    window = MainWindow(settings)
    freeze_startup()
    window.show()
    _close_on_signals(loop, app)
    closed = asyncio.Event()
    app.aboutToQuit.connect(closed.set)
    with loop:
        loop.run_until_complete(closed.wait())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
