"""Session shading on the chart: pre- and post-market bars on a tinted band, a line at each open.

Why an item of its own, drawn from the bar times: the chart's x is a bar
number, so "09:30" is wherever the first regular bar sits; the spans are
found once per change of the bars (one session lookup per New York day, not
per bar: :func:`session_spans`) and painted as a few opaque rectangles behind
the candles (opaque: translucent full-height fills blend every pixel, see
``TickGrid``). When extended hours are off the manager sends no pre/post bars,
so nothing is shaded; :attr:`SessionShade.enabled` hides the band at once
while that refresh is on its way. Day bars (D) have no sessions to shade.
"""

from __future__ import annotations

import pyqtgraph as pg
from PyQt6.QtCore import QLineF, QRectF, Qt
from PyQt6.QtGui import QBrush, QColor, QPainter, QPen

from shared import market_hours
from shared.market.timeframes import ny_midnight

from .bar_series import BarSeries


def session_spans(ts: list[int], base: int, span_ms: int) -> tuple[list[tuple[int, int]], list[int]]:
    """(extended-hours runs as (first x, last x), x of each bar that opens a regular session).

    A bar is extended when it ends at or before the open or starts at or after the close
    (an on-the-hour 09:00 bar holds the open: regular).
    """
    runs: list[tuple[int, int]] = []
    opens: list[int] = []
    if span_ms >= 86_400_000:
        return runs, opens
    day_lo = day_hi = None
    sess = None
    run_start = None
    prev_regular_day = None
    for i, t in enumerate(ts):
        if day_lo is None or not day_lo <= t < day_hi:
            day_lo = ny_midnight(t)
            day_hi = day_lo + 86_400_000  # DST days: one extra lookup at most
            sess = market_hours.session_for(market_hours.ny_date(t))
        ext = sess is None or t + span_ms <= sess.open or t >= sess.close
        x = base + i
        if ext:
            if run_start is None:
                run_start = x
        else:
            if run_start is not None:
                runs.append((run_start, x - 1))
                run_start = None
            if sess is not None and prev_regular_day != sess.day:
                prev_regular_day = sess.day
                opens.append(x)
    if run_start is not None:
        runs.append((run_start, base + len(ts) - 1))
    return runs, opens


class SessionShade(pg.GraphicsObject):
    """The shaded extended-hours runs and the open separators of one pane, full height."""

    def __init__(self, series: BarSeries, shade: str, line: str):
        super().__init__()
        self.series = series
        self.brush = QBrush(QColor(shade))
        self.pen = QPen(QColor(line), 0)
        self.pen.setCosmetic(True)
        self.pen.setStyle(Qt.PenStyle.DashLine)
        self.setZValue(-900)  # above the grid, below everything else
        self.runs: list[tuple[int, int]] = []
        self.opens: list[int] = []
        self.enabled = True
        self._key: tuple | None = None

    def refresh(self, span_ms: int) -> None:
        """Recompute the spans when the bars changed in number or position (not per tick)."""
        s = self.series
        key = (s.base, len(s), s.t[0] if s.t else None, s.t[-1] if s.t else None, span_ms)
        if key == self._key:
            return
        self._key = key
        self.runs, self.opens = session_spans(s.t, s.base, span_ms)
        self.prepareGeometryChange()
        self.update()

    def set_enabled(self, on: bool) -> None:
        self.enabled = on
        self.setVisible(on)

    def viewRangeChanged(self) -> None:  # noqa: N802 (pyqtgraph hook)
        super().viewRangeChanged()
        self.prepareGeometryChange()

    def boundingRect(self) -> QRectF:
        return self.viewRect() or QRectF()

    def paint(self, p: QPainter, opt, widget=None) -> None:
        r = self.viewRect()
        if r is None or not (self.runs or self.opens):
            return
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(self.brush)
        p.drawRects([QRectF(a - 0.5, r.top(), b - a + 1.0, r.height()) for a, b in self.runs
                     if b + 0.5 >= r.left() and a - 0.5 <= r.right()])
        p.setPen(self.pen)
        p.drawLines([QLineF(x - 0.5, r.top(), x - 0.5, r.bottom()) for x in self.opens
                     if r.left() <= x <= r.right() + 1])
