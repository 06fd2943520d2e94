"""Indicator lines (VWAP, EMA 9/21, RSI) as one item per pane that draws only what is on screen.

Why not a pyqtgraph ``PlotDataItem`` per line: with clip-to-view each one
re-slices its data, rebuilds its path and rescans its bounds with ``nanmin``
on every view change, and a history curve plus a tail curve per indicator
made eight of them - a third of a pan frame (``bench.chart_panzoom``). Here,
as in :mod:`.candles`, the line through the finished bars is turned into one
``QPainterPath`` per indicator per chunk of ``CHUNK`` bars (``arrayToQPath``,
numpy: no Python object per point) and cached; ``paint`` draws the chunks
inside the view, and the segment into the forming bar (the only one a tick
moves) is drawn fresh. A tick marks
just that segment's rectangle for repaint. Values come from
:class:`~.bar_series.BarSeries` ``ind`` (the manager's, never recomputed);
a NaN (no value yet) breaks the line.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QLineF, QRectF
from PyQt6.QtGui import QColor, QPainter, QPainterPath, QPen

from .bar_series import BarSeries
from .candles import settle_bounds

CHUNK = 64


class OverlayLines(pg.GraphicsObject):
    def __init__(self, series: BarSeries, lines: list[tuple[str, str, float]]):
        """``lines``: (indicator key, colour, pen width), drawn in that order."""
        super().__init__()
        self.series = series
        self.keys = [k for k, _, _ in lines]
        self.pens = []
        for _, colour, width in lines:
            pen = QPen(QColor(colour), width)
            pen.setCosmetic(True)
            self.pens.append(pen)
        self._chunks: dict[int, tuple[int, int, list[QPainterPath | None]]] = {}
        self._bounds = QRectF()
        self._last_tail = QRectF()
        self.chunk_builds = 0  # chunks (re)built (tests)
        self.setFlag(self.GraphicsItemFlag.ItemUsesExtendedStyleOption)

    # ---------------------------------------------------------------- updates
    def reset(self) -> None:
        self._chunks.clear()
        self.refresh(None)

    def refresh(self, changed_from: int | None) -> None:
        """Values changed at x >= ``changed_from`` (None: only the forming bar's)."""
        s = self.series
        if changed_from is not None and changed_from >= s.last_x:
            changed_from = None  # the forming bar's values: only the tail segment, never cached
        if changed_from is not None:
            first = max(0, changed_from - 1) // CHUNK  # a segment ends at changed_from: its chunk too
            for k in [k for k in self._chunks if k >= first]:
                del self._chunks[k]
        for k in [k for k in self._chunks if (k + 1) * CHUNK <= s.base]:
            del self._chunks[k]
        lo, hi = self._extent(0, len(s))
        r = settle_bounds(self._bounds, s.base - 0.5, len(s), lo, hi) if lo <= hi else QRectF()
        tail = self._tail_rect()
        if r != self._bounds:
            self.prepareGeometryChange()
            self._bounds = r
            self.update()
        elif changed_from is None or changed_from >= s.last_x:
            self.update(tail.united(self._last_tail) if not self._last_tail.isNull() else tail)
        else:
            self.update()
        self._last_tail = tail

    def _extent(self, i0: int, i1: int) -> tuple[float, float]:
        lo, hi = math.inf, -math.inf
        for k in self.keys:
            seg = self.series.ind[k][i0:i1]
            seg = seg[np.isfinite(seg)]
            if len(seg):
                lo, hi = min(lo, float(seg.min())), max(hi, float(seg.max()))
        return lo, hi

    def _tail_rect(self) -> QRectF:
        n = len(self.series)
        if n < 2:
            return QRectF()
        lo, hi = self._extent(n - 2, n)
        if lo > hi:
            return QRectF()
        return QRectF(self.series.last_x - 1.0, lo, 1.0, max(hi - lo, 1e-9))

    def _tail(self) -> list[list[QLineF]]:
        """Per key, the segment from the last finished bar into the forming one (if both are known)."""
        s = self.series
        x = s.last_x - 1
        out = []
        for k in self.keys:
            a, b = s.ind[k][-2], s.ind[k][-1]
            out.append([QLineF(x, float(a), x + 1, float(b))] if a == a and b == b else [])  # not NaN
        return out

    def _chunk(self, k: int) -> list[QPainterPath | None]:
        # The line through bars [k*CHUNK, (k+1)*CHUNK] (the next chunk's first bar closes it) that
        # ends before the forming bar; NaN (no value yet) breaks it.
        s = self.series
        x0 = max(k * CHUNK, s.base)
        x1 = min((k + 1) * CHUNK, s.last_x - 1)
        hit = self._chunks.get(k)
        if hit is not None and hit[0] == x0 and hit[1] == x1:
            return hit[2]
        paths: list[QPainterPath | None] = []
        xs = np.arange(x0, x1 + 1, dtype=np.float64)
        for key in self.keys:
            ys = s.ind[key][x0 - s.base:x1 - s.base + 1]
            paths.append(pg.arrayToQPath(xs, ys, connect="finite") if x1 > x0 and np.isfinite(ys).sum() > 1
                         else None)
        self._chunks[k] = (x0, x1, paths)
        self.chunk_builds += 1
        return paths

    # ---------------------------------------------------------------- Qt
    def boundingRect(self) -> QRectF:
        return self._bounds

    def paint(self, p: QPainter, opt, widget=None) -> None:
        s = self.series
        if len(s) < 2:
            return
        rect = opt.exposedRect if opt is not None else self._bounds
        view = self.viewRect()
        if view is not None:
            rect = rect.intersected(view) if rect.intersects(view) else view
        x0 = max(s.base, int(math.floor(rect.left())) - 1)
        x1 = min(s.last_x, int(math.ceil(rect.right())) + 1)
        if x1 <= x0:
            return
        chunks = [self._chunk(k) for k in range(x0 // CHUNK, x1 // CHUNK + 1)]
        tail = self._tail()
        for i, pen in enumerate(self.pens):
            p.setPen(pen)
            for c in chunks:
                if c[i] is not None:
                    p.drawPath(c[i])
            if tail[i]:
                p.drawLines(tail[i])
