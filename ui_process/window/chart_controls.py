"""The chart's choices: timeframe, extended hours, VWAP and hour anchors, opening range, level groups.

Why a module of its own: the main window wires panels; this owns what the user
chooses for the chart, where it is remembered (the window's QSettings under
``chart/``, levels under ``levels/<SYMBOL>``: :mod:`.persist`) and who is told
- the manager computes (``set_timeframe`` / ``set_chart_options``: bars,
indicators, signals, levels), the chart only draws. A stand-in manager
without those methods (tests, old embedders) still gets a working chart.
The menu entries are rows of :data:`.menus.ACTIONS` / :data:`.menus.TOGGLES`
calling the methods here.
"""

from __future__ import annotations

import logging
from typing import Any

from PyQt6.QtGui import QActionGroup
from PyQt6.QtWidgets import QComboBox

from shared.market.timeframes import TIMEFRAMES

from .persist import load_levels, save_levels

log = logging.getLogger(__name__)

LEVEL_GROUPS = ("prior", "pre", "or")


def _bool(v: Any, default: bool) -> bool:
    if v is None or v == "":
        return default
    return v if isinstance(v, bool) else str(v).lower() in ("1", "true", "yes")


class ChartControls:
    def __init__(self, window: Any, restore: bool = True, timeframe: str | None = None):
        self.window, self.chart, self.manager, self.settings = window, window.chart, window.manager, window.settings
        s = self.settings
        get = (lambda k, d=None: s.value(k, d)) if restore else (lambda k, d=None: d)
        tf = timeframe or str(get("chart/timeframe", "1m") or "1m")
        self.tf = tf if tf in TIMEFRAMES else "1m"
        self.options = {"extended_hours": _bool(get("chart/extended_hours"), True),
                        "vwap_anchor": "pre" if _bool(get("chart/vwap_from_pre"), False) else "open",
                        "hour_anchor": "clock" if _bool(get("chart/hours_on_clock"), False) else "open",
                        "opening_range": int(get("chart/opening_range", 15) or 15)}
        if self.options["opening_range"] not in (5, 15, 30):
            self.options["opening_range"] = 15
        self.groups = {g: _bool(get(f"chart/levels_{g}"), True) for g in LEVEL_GROUPS}
        self.combo = QComboBox()
        self.combo.addItems(TIMEFRAMES)
        self.combo.setToolTip("Timeframe (keys 1-8)")
        self.combo.setCurrentText(self.tf)
        self.combo.textActivated.connect(self.set_timeframe)
        self.tf_actions: dict[str, Any] = {}
        self.chart.levels.on_change = self._save_levels
        if hasattr(self.manager, "levels_updated"):
            self.manager.levels_updated.connect(self.on_levels)

    def bind(self, actions: dict[str, Any]) -> None:
        """Check the menu entries that show a choice (after ``menus.build``)."""
        group = QActionGroup(self.window)
        for tf in TIMEFRAMES:
            a = actions[f"tf_{tf}"]
            a.setCheckable(True)
            a.setChecked(tf == self.tf)
            group.addAction(a)
            self.tf_actions[tf] = a
        checks = {"extended": self.options["extended_hours"], "vwap_pre": self.options["vwap_anchor"] == "pre",
                  "hours_clock": self.options["hour_anchor"] == "clock",
                  **{f"levels_{g}": on for g, on in self.groups.items()},
                  **{f"or_{n}": self.options["opening_range"] == n for n in (5, 15, 30)}}
        or_group = QActionGroup(self.window)
        for key, on in checks.items():
            actions[key].setChecked(on)
            if key.startswith("or_"):
                or_group.addAction(actions[key])

    def apply(self) -> None:
        """Tell the manager and the chart the remembered choices (before the first snapshot)."""
        self._manager("set_chart_options", **self.options)
        self._manager("set_timeframe", self.tf)
        self.chart.set_timeframe(self.tf)
        self.chart.set_extended_hours(self.options["extended_hours"])
        for g, on in self.groups.items():
            self.chart.levels.set_group(g, on)

    def _manager(self, name: str, *a: Any, **kw: Any) -> None:
        fn = getattr(self.manager, name, None)
        if callable(fn):
            fn(*a, **kw)

    # ---------------------------------------------------------------- choices
    def set_timeframe(self, tf: str) -> None:
        if tf not in TIMEFRAMES:
            return
        self.tf = tf
        self.settings.setValue("chart/timeframe", tf)
        self.combo.setCurrentText(tf)
        if tf in self.tf_actions:
            self.tf_actions[tf].setChecked(True)
        self.chart.set_timeframe(tf)
        self._manager("set_timeframe", tf)  # the full refresh of tf follows from the manager

    def _option(self, key: str, value: Any, setting: str, stored: Any) -> None:
        self.options[key] = value
        self.settings.setValue(setting, stored)
        self._manager("set_chart_options", **{key: value})

    def set_extended_hours(self, on: bool) -> None:
        self.chart.set_extended_hours(bool(on))
        self._option("extended_hours", bool(on), "chart/extended_hours", bool(on))

    def set_vwap_from_pre(self, on: bool) -> None:
        self._option("vwap_anchor", "pre" if on else "open", "chart/vwap_from_pre", bool(on))

    def set_hours_on_clock(self, on: bool) -> None:
        self._option("hour_anchor", "clock" if on else "open", "chart/hours_on_clock", bool(on))

    def set_opening_range(self, minutes: str) -> None:
        self._option("opening_range", int(minutes), "chart/opening_range", int(minutes))

    def set_level_group(self, group: str, on: bool) -> None:
        self.groups[group] = bool(on)
        self.settings.setValue(f"chart/levels_{group}", bool(on))
        self.chart.levels.set_group(group, bool(on))

    # ---------------------------------------------------------------- levels
    def arm_level(self) -> None:
        self.chart.levels.armed = True
        self.window.show_notice("Click on the price chart to place a level (drag it, double-click to label, "
                                "right-click to delete)")

    def symbol_changed(self, symbol: str) -> None:
        self.chart.levels.set_user(load_levels(self.settings, symbol))

    def _save_levels(self, rows: list[dict]) -> None:
        if self.chart.symbol:
            save_levels(self.settings, self.chart.symbol, rows)

    def on_levels(self, d: dict) -> None:
        if d.get("symbol") in (None, self.chart.symbol):
            self.chart.levels.set_auto(d)
