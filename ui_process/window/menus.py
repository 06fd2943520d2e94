"""The window's actions, its menu bar (File, View, Window, Help) and the F1 shortcut sheet.

Why one table (:data:`ACTIONS`): the menu items, the toolbar buttons, the
shortcut sheet and the tests all read it, so a shortcut listed anywhere is
the shortcut that works. Each entry names the window method it calls; the
window builds a ``QAction`` per entry (shortcuts live on the actions, which
are added to the window, so they work with the menu closed).
"""

from __future__ import annotations

from typing import Any

from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

# (menu, key, text, shortcuts, window method, tooltip)
ACTIONS: tuple[tuple[str, str, str, tuple[str, ...], str, str], ...] = (
    ("File", "reconnect", "&Reconnect to data", ("Ctrl+R",), "reconnect",
     "Ask the feed to connect to the data source again (after it gave up)"),
    ("File", "quit", "&Quit", ("Ctrl+Q",), "quit_app", "Close this window and end its process"),
    ("View", "symbol", "Go to &symbol…", ("Ctrl+L",), "focus_symbol", "Type a ticker in the symbol box"),
    ("View", "fit", "&Fit chart", ("F", "Ctrl+0"), "fit_chart", "Show all bars and follow the live edge"),
    ("Window", "new", "&New window", ("Ctrl+N",), "new_window", "Open another window on the same feed"),
    ("Window", "close", "&Close window", ("Ctrl+W",), "close", "Close this window"),
    ("Help", "shortcuts", "&Keyboard shortcuts", ("F1",), "show_shortcuts", "List every shortcut"),
    ("Help", "about", "&About Live Monitor", (), "show_about", "Version and where the data comes from"),
)
MENUS = ("File", "View", "Window", "Help")


def build(window: Any) -> dict[str, QAction]:
    """Create every action on ``window`` and its menu bar; return them by key."""
    bar = window.menuBar()
    menus = {name: bar.addMenu("&" + name) for name in MENUS}
    actions: dict[str, QAction] = {}
    for menu, key, text, keys, method, tip in ACTIONS:
        a = QAction(text, window)
        if keys:
            a.setShortcuts([QKeySequence(k) for k in keys])
        a.setToolTip(f"{tip} ({' / '.join(keys)})" if keys else tip)
        a.setStatusTip(tip)
        a.triggered.connect(getattr(window, method))
        window.addAction(a)  # the shortcut works wherever focus is, menu open or not
        menus[menu].addAction(a)
        actions[key] = a
        if key == "fit":  # the dock toggles sit under View, after the chart's own action
            menus["View"].addSeparator()
            for dock in window.docks.values():
                menus["View"].addAction(dock.toggleViewAction())
            menus["View"].addSeparator()
    window.menus = menus
    return actions


def shortcut_rows() -> list[tuple[str, str]]:
    rows = [(" / ".join(keys), text.replace("&", "").rstrip("…")) for _, _, text, keys, _, _ in ACTIONS if keys]
    rows += [("Enter (symbol box)", "Switch to the typed symbol; focus returns to the chart"),
             ("Mouse wheel / drag", "Zoom / pan the time axis (F fits again)")]
    return rows


class ShortcutSheet(QDialog):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts — Live Monitor")
        lay = QVBoxLayout(self)
        html = "<table cellspacing='6'>" + "".join(
            f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in shortcut_rows()) + "</table>"
        self.label = QLabel(html)
        lay.addWidget(self.label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        lay.addWidget(buttons)
