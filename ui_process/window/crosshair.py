"""Crosshair over the chart's three panes, with its value on both axes.

A vertical line on every pane (snapped to the bar under the mouse), a
horizontal line on the pane the mouse is in, and two labels: the time of that
bar at the bottom (on the RSI pane, the one with the time axis) and the value
under the mouse at the right edge of the hovered pane (price, volume or RSI).
Lines and labels are pyqtgraph ``InfiniteLine`` items with their own label
(:mod:`.quiet_line`: no work while hidden), so a move costs a few ``setPos``
calls and no relayout.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Sequence

import pyqtgraph as pg
from PyQt6.QtCore import Qt

from shared.market_hours import NY

from .bar_series import BarSeries
from .quiet_line import QuietLabel, QuietLine

_FORMATS = ("{value:,.2f}", "{value:,.0f}", "{value:.1f}")  # price, volume, RSI


class Crosshair:
    def __init__(self, series: BarSeries, plots: Sequence[Any], th: Any):
        self.series = series
        self.plots = tuple(plots)  # (price, volume, rsi)
        pen = pg.mkPen(th.crosshair, width=1, style=Qt.PenStyle.DashLine)
        opts = {"color": "#ffffff", "fill": th.panel_alt, "movable": False}
        self.vlines = [QuietLine(angle=90, movable=False, pen=pen) for _ in self.plots]
        # the time label rides on the bottom pane's vertical line, at its foot
        self.vlines[-1].label = QuietLabel(self.vlines[-1], text="", position=0.06, anchors=[(0.5, 1), (0.5, 1)],
                                                **opts)
        self.hlines = [QuietLine(angle=0, movable=False, pen=pen, label=fmt,
                                       labelOpts={"position": 0.97, **opts}) for fmt in _FORMATS]
        for plot, v, h in zip(self.plots, self.vlines, self.hlines):
            for line in (v, h):
                line.setVisible(False)
                line.setZValue(40)
                plot.addItem(line, ignoreBounds=True)
        self.hline = self.hlines[0]  # the price pane's (kept for callers of the old single line)
        self.x: int | None = None

    def hide(self) -> None:
        self.x = None
        for line in (*self.vlines, *self.hlines):
            line.setVisible(False)

    def time_text(self, x: int) -> str:
        t = self.series.time_at(x)
        return "" if t is None else dt.datetime.fromtimestamp(t / 1000, NY).strftime("%m-%d %H:%M")

    def move(self, scene_pos: Any) -> int | None:
        """Follow the mouse at ``scene_pos``; return the bar x under it (None when outside)."""
        hovered = next((i for i, p in enumerate(self.plots) if p.sceneBoundingRect().contains(scene_pos)), None)
        if hovered is None or not len(self.series):
            self.hide()
            return None
        pt = self.plots[hovered].getViewBox().mapSceneToView(scene_pos)
        x = min(max(int(round(pt.x())), self.series.base), self.series.last_x)
        self.x = x
        for line in self.vlines:
            line.setVisible(True)
            line.setPos(x)
        self.vlines[-1].label.setFormat(self.time_text(x))
        for i, h in enumerate(self.hlines):
            if i == hovered:
                h.setVisible(True)  # first: a hidden line's label ignores value changes
                h.setPos(pt.y())
            else:
                h.setVisible(False)
        return x
