"""The window's watchlist dock and alert log dock, wired to the window and its manager.

Why apart from ``main_window``: the window module stays the one-symbol
dashboard; this adds the two docks (the watchlist, tabbed with Time & Sales;
the alerts, tabbed with Errors) and their wiring in one call, :func:`attach`, made before
the menus are built so View lists them. A row click/Enter charts its symbol
(``window.switch_symbol``); "Alert above/below" (row menu) and "New alert…"
open :class:`.alert_panel.AlertDialog` and send ``add_alert`` to the manager.
The chart's levels become alerts here too (:func:`level_alert`, the level
menu's action): a user line's "Alert when price crosses above/below" adds one
at once for the window's symbol, above when the line is over the last price;
an automatic level's *Alert…* (or any level before a price arrived) opens
the dialog pre-filled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QDialog

from .alert_panel import AlertDialog, AlertPanel, Notifier
from .watchlist import WatchlistPanel
from .watchlist_lists import WatchLists, lists_path


@dataclass
class WatchDocks:
    watchlist: WatchlistPanel
    alerts: AlertPanel
    notifier: Notifier


def attach(window: Any, state_file: str = "") -> WatchDocks:
    m = window.manager
    sound = bool(getattr(getattr(m, "settings", None), "alert_sound", False))
    notifier = Notifier(sound=sound, icon=window.windowIcon())
    wl = WatchlistPanel(m, WatchLists(lists_path(state_file)))
    panel = AlertPanel(m, notifier, flash=wl.model.flash)
    window.docks["watchlist"] = window._dock("Watchlist", wl, Qt.DockWidgetArea.RightDockWidgetArea)
    window.docks["alerts"] = window._dock("Alerts", panel, Qt.DockWidgetArea.BottomDockWidgetArea)
    window.tabifyDockWidget(window.docks["errors"], window.docks["alerts"])
    window.docks["alerts"].raise_()
    # A tab beside Time & Sales: a dock of its own column would widen the window's minimum past
    # small screens; drag it out to give it a column (the layout is remembered). Time & Sales stays
    # in front at first, readable at the default size; the alert log is in front of Errors.
    window.tabifyDockWidget(window.docks["tape"], window.docks["watchlist"])
    window.docks["tape"].raise_()
    wl.symbol_activated.connect(window.switch_symbol)

    def new_alert(symbol: str = "", kind: str = "above", value: float | None = None) -> None:
        d = AlertDialog(symbol or window.symbol, kind, value, window)
        if d.exec() == QDialog.DialogCode.Accepted and hasattr(m, "add_alert"):
            spec = d.spec()
            m.add_alert(spec.pop("symbol"), spec.pop("kind"), spec.pop("value", None), **spec)

    def level_alert(price: float, kind: str | None, ask: bool = False) -> None:
        value = round(float(price), 4)
        if ask or kind is None or not window.symbol:
            new_alert(window.symbol, kind or "above", value)
        elif hasattr(m, "add_alert"):
            m.add_alert(window.symbol, kind, value)

    levels = window.chart.levels
    levels.price_now = window.chart_last_price
    levels.on_alert = level_alert
    wl.alert_requested.connect(new_alert)
    panel.create_requested.connect(lambda: new_alert(window.symbol, "above", window.chart_last_price()))
    return WatchDocks(wl, panel, notifier)
