"""Dark and light palettes for the whole application, plots included."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

_COLORS = {
    "dark": {"window": "#1e1f22", "base": "#151618", "text": "#e6e6e6", "button": "#2b2d31",
             "highlight": "#3d7eff", "mid": "#3a3c42", "plot": "#151618", "accent": "#ff5252",
             "dim": "#7c7f87", "dim_button": "#232428"},
    "light": {"window": "#f4f4f5", "base": "#ffffff", "text": "#1d1d1f", "button": "#e6e6e9",
              "highlight": "#2f6fed", "mid": "#c9c9cf", "plot": "#ffffff", "accent": "#d32f2f",
              "dim": "#9a9aa1", "dim_button": "#efeff1"},
}
THEMES = tuple(_COLORS)


def colors(theme: str) -> dict[str, str]:
    return _COLORS.get(theme, _COLORS["dark"])


def apply_theme(app: QApplication, theme: str) -> None:
    c = colors(theme)
    app.setStyle("Fusion")
    pal = QPalette()
    for role, key in [(QPalette.Window, "window"), (QPalette.Base, "base"), (QPalette.AlternateBase, "button"),
                      (QPalette.Button, "button"), (QPalette.Highlight, "highlight"), (QPalette.Mid, "mid")]:
        pal.setColor(role, QColor(c[key]))
    for role in (QPalette.WindowText, QPalette.Text, QPalette.ButtonText, QPalette.ToolTipText):
        pal.setColor(role, QColor(c["text"]))
    pal.setColor(QPalette.HighlightedText, QColor("#ffffff"))
    pal.setColor(QPalette.PlaceholderText, QColor(c["dim"]))
    # disabled controls must look disabled: dimmed text on a flatter button (Fusion reuses the active colours)
    for role in (QPalette.WindowText, QPalette.Text, QPalette.ButtonText):
        pal.setColor(QPalette.Disabled, role, QColor(c["dim"]))
    pal.setColor(QPalette.Disabled, QPalette.Button, QColor(c["dim_button"]))
    app.setPalette(pal)
    pg.setConfigOptions(background=c["plot"], foreground=c["text"], antialias=True)
    app.setProperty("studio_theme", theme)
