"""Entry and exit signal markers on the price pane.

Why they keep times, not x: a timeframe switch re-numbers the bars, so each
marker stores its signal's bar time and price and is placed when drawn (the
bar holding that time on the timeframe shown). At most 500 of each are kept.
"""

from __future__ import annotations

import math
from typing import Any

import pyqtgraph as pg

from . import theme
from .bar_series import BarSeries, to_ms

KEEP = 500


class SignalMarks:
    def __init__(self, series: BarSeries, plot: Any, th: Any):
        self.series = series
        self.entry_marks = pg.ScatterPlotItem(size=13, pen=pg.mkPen(th.text, width=1))
        self.exit_marks = pg.ScatterPlotItem(size=12, pen=pg.mkPen(th.text, width=1), symbol="d")
        plot.addItem(self.entry_marks)
        plot.addItem(self.exit_marks)
        self.entries: list[tuple[int | None, bool]] = []  # (signal time ms, is long)
        self.exits: list[tuple[int | None, float, str]] = []  # (time, price, urgency)

    def clear(self) -> None:
        self.entries.clear()
        self.exits.clear()

    def add_entry(self, sig: dict[str, Any]) -> None:
        self.entries = (self.entries + [(to_ms(sig.get("timestamp")), sig.get("signal_type") == "LONG")])[-KEEP:]

    def add_exit(self, sig: dict[str, Any]) -> None:
        try:
            y = float(sig.get("price"))
        except (TypeError, ValueError):
            y = math.nan  # drawn at the bar's close
        self.exits = (self.exits + [(to_ms(sig.get("timestamp")), y, str(sig.get("urgency", "Normal")))])[-KEEP:]

    def _x(self, ts: int | None) -> int | None:
        s = self.series
        if not len(s):
            return None
        x = s.x_for_time(ts) if ts is not None else None
        return x if x is not None else s.last_x

    def render(self) -> None:
        th = theme.current()
        s = self.series
        spots = []
        for ts, is_long in self.entries:
            x = self._x(ts)
            row = s.row(x) if x is not None else None
            if row is None:
                continue
            span = max(float(row[1] - row[2]), 1e-6)
            y = (row[2] - span * 0.3) if is_long else (row[1] + span * 0.3)
            spots.append({"pos": (x, float(y)), "symbol": "t1" if is_long else "t",
                          "brush": pg.mkBrush(th.up if is_long else th.down)})
        self.entry_marks.setData(spots)
        spots = []
        for ts, y, u in self.exits:
            x = self._x(ts)
            row = s.row(x) if x is not None else None
            if row is None:
                continue
            y = y if math.isfinite(y) else float(row[3])
            spots.append({"pos": (x, y), "brush": pg.mkBrush(theme.URGENCY_COLOURS.get(u, th.neutral))})
        self.exit_marks.setData(spots)
