"""The window's actions, its menu bar (File, View, Window, Help) and the F1 shortcut sheet.

Why one table (:data:`ACTIONS`): the menu items, the toolbar buttons, the
shortcut sheet and the tests all read it, so a shortcut listed anywhere is
the shortcut that works. Each entry names the window method it calls
(``controls.set_timeframe:5m`` = ``window.controls.set_timeframe("5m")``); the
window builds a ``QAction`` per entry (shortcuts live on the actions, which
are added to the window, so they work with the menu closed). :data:`TOGGLES`
are the checkable View entries (the method gets the new state).
"""

from __future__ import annotations

from typing import Any, Callable

from shared.market.timeframes import TIMEFRAMES

from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

# (menu, key, text, shortcuts, window method, tooltip)
ACTIONS: tuple[tuple[str, str, str, tuple[str, ...], str, str], ...] = (
    ("File", "reconnect", "&Reconnect to data", ("Ctrl+R",), "reconnect",
     "Ask the feed to connect to the data source again (after it gave up)"),
    ("File", "quit", "&Quit", ("Ctrl+Q",), "quit_app", "Close this window and end its process"),
    ("View", "symbol", "Go to &symbol…", ("Ctrl+L",), "focus_symbol", "Type a ticker in the symbol box"),
    ("View", "fit", "&Fit chart", ("F", "Ctrl+0"), "fit_chart", "Show all bars and follow the live edge"),
    *(("View", f"tf_{tf}", f"Timeframe &{tf}", (str(i),), f"controls.set_timeframe:{tf}",
       f"Bars, indicators and signals on {tf}") for i, tf in enumerate(TIMEFRAMES, 1)),
    ("View", "add_level", "Add &horizontal level", ("L", "Alt+L"), "controls.arm_level",
     "Then click on the price chart; drag to move, double-click to label, right-click to delete"),
    ("Window", "new", "&New window", ("Ctrl+N",), "new_window", "Open another window on the same feed"),
    ("Window", "close", "&Close window", ("Ctrl+W",), "close", "Close this window"),
    ("Help", "shortcuts", "&Keyboard shortcuts", ("F1",), "show_shortcuts", "List every shortcut"),
    ("Help", "about", "&About Live Monitor", (), "show_about", "Version and where the data comes from"),
)
MENUS = ("File", "View", "Window", "Help")
# (menu, key, text, window method(bool), tooltip): checkable, checked from the window's settings
TOGGLES: tuple[tuple[str, str, str, str, str], ...] = (
    ("View", "extended", "&Extended hours", "controls.set_extended_hours",
     "Show pre- and post-market bars (shaded); off: the regular session only"),
    ("View", "levels_prior", "Prior day high/low/close", "controls.set_level_group:prior",
     "Lines at the prior session's high, low and close"),
    ("View", "levels_pre", "Pre-market high/low", "controls.set_level_group:pre", "Lines at today's pre-market range"),
    ("View", "levels_or", "Opening range", "controls.set_level_group:or", "Lines at the opening range's high and low"),
    ("View", "or_5", "Opening range: 5 minutes", "controls.set_opening_range:5", "The first 5 minutes"),
    ("View", "or_15", "Opening range: 15 minutes", "controls.set_opening_range:15", "The first 15 minutes"),
    ("View", "or_30", "Opening range: 30 minutes", "controls.set_opening_range:30", "The first 30 minutes"),
    ("View", "vwap_pre", "VWAP from 04:00 (pre-market)", "controls.set_vwap_from_pre",
     "Anchor the VWAP at 04:00 ET instead of the 09:30 open"),
    ("View", "hours_clock", "1h/4h bars on the clock hour", "controls.set_hours_on_clock",
     "1h/4h buckets from 00:00 ET (Polygon's hour bars) instead of from the 09:30 open"),
)


def _slot(window: Any, method: str, toggle: bool) -> Callable[..., Any]:
    """The callable named by ``method`` (``a.b:arg``); a toggle's slot gets its new state."""
    name, _, arg = method.partition(":")
    target = window
    for part in name.split("."):
        target = getattr(target, part)
    if arg:
        if toggle and not name.endswith("set_opening_range"):
            return lambda checked=False: target(arg, checked)
        return lambda *_: target(arg)
    return target if toggle else (lambda *_: target())


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
        a.triggered.connect(_slot(window, method, False))
        window.addAction(a)  # the shortcut works wherever focus is, menu open or not
        menus[menu].addAction(a)
        actions[key] = a
        if key == "fit":  # the dock toggles sit under View, after the chart's own action
            menus["View"].addSeparator()
            for dock in window.docks.values():
                menus["View"].addAction(dock.toggleViewAction())
            menus["View"].addSeparator()
        if key == "tf_D" or key == "add_level":
            menus["View"].addSeparator()
    for menu, key, text, method, tip in TOGGLES:
        a = QAction(text, window, checkable=True)
        a.setToolTip(tip)
        a.setStatusTip(tip)
        a.triggered.connect(_slot(window, method, True))
        window.addAction(a)
        menus[menu].addAction(a)
        actions[key] = a
    window.menus = menus
    return actions


def shortcut_rows() -> list[tuple[str, str]]:
    rows = [(" / ".join(keys), text.replace("&", "").rstrip("…")) for _, _, text, keys, _, _ in ACTIONS if keys]
    rows += [("Enter (symbol box)", "Switch to the typed symbol; focus returns to the chart"),
             ("Mouse wheel / drag", "Zoom / pan the time axis (F fits again)"),
             ("Drag / double-click / right-click a level", "Move / label / delete it")]
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
