"""The chart's axes: bar numbers -> New York wall time, ticks on round minutes; value axes.

Chart x is the bar number (gapless, absolute), so the axis asks the
:class:`~.bar_series.BarSeries` for each tick's time; ticks land on round
minutes (1, 2, 5 ... 1440) about one per 90 px, the date shown where the day
changes. Its own module so the chart module stays about drawing.

Every axis is a :class:`FastAxis`: pyqtgraph's ``AxisItem`` throws its
drawing away on *every* range signal of its view (a pan moves x only, yet the
y axes re-lay their text) and finds ticks with numpy calls of ~2.5 ms; at 4
axes that was half of a pan frame (``bench.chart_panzoom``). A FastAxis keeps
its picture while its own range is unchanged and finds value ticks with
:func:`~.candles.nice_ticks` (the grid's rule, denser: a grid line at every
second label or so, as before).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtWidgets import QGraphicsItem

from shared.market_hours import NY

from .bar_series import BarSeries
from .candles import nice_ticks

MINUTE_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 240, 390, 1440)


class FastAxis(pg.AxisItem):
    """An axis that redraws only when its own range moved, with ticks found in microseconds."""

    def __init__(self, orientation: str = "right", **kw: Any):
        super().__init__(orientation=orientation, **kw)
        self.enableAutoSIPrefix(False)  # no unit label: the prefix pass only re-laid the axis per range change

    def setRange(self, mn: float, mx: float) -> None:  # noqa: N802 (pyqtgraph API)
        if self.picture is not None and self.range == [mn, mx]:
            return  # the other direction of the view moved: the drawing is still right
        super().setRange(mn, mx)

    def tickValues(self, minVal, maxVal, size):  # noqa: N802 (pyqtgraph API)
        ticks = nice_ticks(minVal, maxVal, max(2, int(size / 60)))  # denser than the grid, as pyqtgraph's
        step = ticks[1] - ticks[0] if len(ticks) > 1 else max(abs(maxVal - minVal), 1e-9)
        return [(step, ticks)]


class TimeAxis(FastAxis):
    """Bar numbers -> New York wall time, ticks on round minutes (HH:MM, the date at day changes)."""

    def __init__(self, series: BarSeries, **kw: Any):
        super().__init__(orientation="bottom", **kw)
        self.series = series
        self._memo: tuple[tuple, list[float]] | None = None

    def bar_ticks(self, x0: float, x1: float, size: float) -> list[float]:
        """x of the visible bars starting on a round minute, about one per 90 px.

        The axis and the three panes' grids ask for the same view in one frame: the last answer is kept.
        """
        s = self.series
        key = (x0, x1, size, s.base, len(s), s.t[-1] if s.t else None, s.span_ms)
        if self._memo is not None and self._memo[0] == key:
            return self._memo[1]
        ticks = self._bar_ticks(x0, x1, size)
        self._memo = (key, ticks)
        return ticks

    def _bar_ticks(self, x0: float, x1: float, size: float) -> list[float]:
        s = self.series
        i0 = max(0, int(math.ceil(x0)) - s.base)
        i1 = min(len(s), int(math.floor(x1)) - s.base + 1)
        if i1 <= i0:
            return []
        t = np.asarray(s.t[i0:i1], dtype=np.int64) // 60_000  # epoch minutes (NY offsets are whole hours)
        want = max(1, int(size / 90))
        if s.span_ms >= 60 * 60_000:  # 1h, 4h and D bars: every k-th bar (09:30-anchored starts are not round)
            k = max(1, int(math.ceil((x1 - x0) / want)))  # by the view's width: few bars in a wide view
            return [float(s.base + i) for i in range(i0, i1, k)][:200]
        span_min = max(1, int(t[-1] - t[0]))
        step = next((m for m in MINUTE_STEPS if span_min / m <= want), MINUTE_STEPS[-1])
        ny_min = t + (dt.datetime.fromtimestamp(int(t[0]) * 60, NY).utcoffset().total_seconds() // 60)
        xs = np.nonzero(ny_min % step == 0)[0]
        return [float(s.base + i0 + i) for i in xs[:200]]

    def tickValues(self, minVal, maxVal, size):  # noqa: N802 (pyqtgraph API)
        return [(1.0, self.bar_ticks(minVal, maxVal, size))]

    def tickStrings(self, values, scale, spacing):  # noqa: N802 (Qt naming)
        out = []
        prev_day = None
        for v in values:
            t = self.series.time_at(int(round(v)))
            if t is None:
                out.append("")
                continue
            d = dt.datetime.fromtimestamp(t / 1000, NY)
            if self.series.span_ms >= 86_400_000:
                out.append(d.strftime("%m-%d"))
                continue
            out.append(d.strftime("%m-%d %H:%M") if prev_day is not None and d.date() != prev_day
                       else d.strftime("%H:%M"))
            prev_day = d.date()
        return out


class CompactAxis(FastAxis):
    """Volume ticks as 50k / 1.2M: six-digit share counts crowd a 64 px axis."""

    def tickStrings(self, values, scale, spacing):  # noqa: N802 (pyqtgraph API)
        out = []
        for v in values:
            a = abs(v)
            out.append(f"{v / 1e6:.1f}M".replace(".0M", "M") if a >= 1e6 else
                       f"{v / 1e3:.0f}k" if a >= 1e3 else f"{v:.0f}")
        return out


def settle_axes(plots: Any) -> None:
    """Hidden axes off their views; shown ones drawn from a pixmap cache.

    A hidden axis (pyqtgraph's default left/top, the panes' own bottom ones)
    still re-laid its label on every range change of its view; a shown one
    replayed its text picture on every repaint that touched it, where a cached
    pixmap is one blit until its drawing changes.
    """
    for plot in plots:
        for name in ("left", "top", "bottom", "right"):
            axis = plot.getAxis(name)
            if not axis.isVisible():
                axis.unlinkFromView()
            else:
                axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
