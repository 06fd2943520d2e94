"""Candle and volume items for pyqtgraph that redraw only what changed.

Why: a naive item rebuilds one QPicture of all 2000 bars on every tick of the
forming bar - hundreds of thousands of path ops per second at a busy open.
Like vnpy's chart items (per-bar cached pictures, drawn for the visible range
only), finished bars here are recorded once into cached ``QPicture`` chunks of
``CHUNK`` bars; ``paint`` replays only the chunks that intersect the exposed
rectangle and draws the forming (last) bar directly. A changed finished bar
(an official AM bar replacing the trade-built one) invalidates just its chunk.

x is the bar number from :class:`~ui_process.window.bar_series.BarSeries`.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, QRectF
from PyQt6.QtGui import QBrush, QColor, QPainter, QPen, QPicture

from .bar_series import BarSeries

CHUNK = 64
BODY = 0.35  # half body width in bar units


class _ChunkedBarsItem(pg.GraphicsObject):
    def __init__(self, series: BarSeries, up: str, down: str):
        super().__init__()
        self.series = series
        self._pens = (QPen(QColor(up), 0), QPen(QColor(down), 0))
        for p in self._pens:
            p.setCosmetic(True)
        self._brushes = (QBrush(QColor(up)), QBrush(QColor(down)))
        self._chunks: dict[int, tuple[int, int, QPicture]] = {}
        self._bounds = QRectF()
        self.chunk_builds = 0  # how many chunk pictures were recorded (tests, bench)

    # subclasses: the y extent of a row and how to draw it
    def _y_extent(self, rows: np.ndarray) -> tuple[float, float]:
        raise NotImplementedError

    def _draw(self, p: QPainter, x: int, row: np.ndarray) -> None:
        raise NotImplementedError

    # ---------------------------------------------------------------- updates
    def reset(self) -> None:
        self._chunks.clear()
        self.refresh(None)

    def refresh(self, changed_from: int | None) -> None:
        """Data changed at x >= ``changed_from`` (None or the forming bar: nothing cached changed)."""
        s = self.series
        if changed_from is not None and changed_from < s.last_x:
            first = changed_from // CHUNK
            for k in [k for k in self._chunks if k >= first]:
                del self._chunks[k]
        for k in [k for k in self._chunks if (k + 1) * CHUNK <= s.base]:
            del self._chunks[k]  # scrolled off the 2000-bar window
        if len(s):
            lo, hi = self._y_extent(s.ohlcv)
            r = QRectF(s.base - 0.5, lo, max(1.0, len(s)), max(hi - lo, 1e-9))
        else:
            r = QRectF()
        if r != self._bounds:
            self.prepareGeometryChange()
            self._bounds = r
        self.update()

    def _chunk(self, k: int) -> QPicture:
        # A chunk holds the finished bars of [k*CHUNK, (k+1)*CHUNK) that exist; it is
        # re-recorded only when that span changed (a bar finished, or the window slid).
        s = self.series
        x0 = max(k * CHUNK, s.base)
        x1 = min((k + 1) * CHUNK, s.last_x)  # the forming bar is never cached
        hit = self._chunks.get(k)
        if hit is not None and hit[0] == x0 and hit[1] == x1:
            return hit[2]
        pic = QPicture()
        p = QPainter(pic)
        for x in range(x0, x1):
            self._draw(p, x, s.ohlcv[x - s.base])
        p.end()
        self.chunk_builds += 1
        self._chunks[k] = (x0, x1, pic)
        return pic

    # ---------------------------------------------------------------- Qt
    def boundingRect(self) -> QRectF:
        return self._bounds

    def paint(self, p: QPainter, opt, widget=None) -> None:
        s = self.series
        if not len(s):
            return
        rect = opt.exposedRect if opt is not None else self._bounds
        x0 = max(s.base, int(math.floor(rect.left())))
        x1 = min(s.last_x, int(math.ceil(rect.right())))
        for k in range(x0 // CHUNK, x1 // CHUNK + 1):
            self._chunk(k).play(p)
        self._draw(p, s.last_x, s.ohlcv[-1])


class CandleItem(_ChunkedBarsItem):
    def __init__(self, series: BarSeries, up: str, down: str):
        super().__init__(series, up, down)
        self.setFlag(self.GraphicsItemFlag.ItemUsesExtendedStyleOption)

    def _y_extent(self, rows: np.ndarray) -> tuple[float, float]:
        return float(rows[:, 2].min()), float(rows[:, 1].max())

    def _draw(self, p: QPainter, x: int, row: np.ndarray) -> None:
        o, h, lo, c = row[0], row[1], row[2], row[3]
        i = 0 if c >= o else 1
        p.setPen(self._pens[i])
        p.drawLine(QPointF(x, lo), QPointF(x, h))
        p.setBrush(self._brushes[i])
        top, bot = (c, o) if c >= o else (o, c)
        if top - bot <= 0:  # doji: a line, a zero-height rect would vanish
            p.drawLine(QPointF(x - BODY, c), QPointF(x + BODY, c))
        else:
            p.drawRect(QRectF(x - BODY, bot, 2 * BODY, top - bot))


class VolumeItem(_ChunkedBarsItem):
    def __init__(self, series: BarSeries, up: str, down: str):
        super().__init__(series, up, down)
        self.setFlag(self.GraphicsItemFlag.ItemUsesExtendedStyleOption)
        self._pens = tuple(QPen(pg.mkColor(0, 0, 0, 0)) for _ in range(2))  # type: ignore[assignment]
        self._brushes = tuple(QBrush(QColor(c)) for c in (up, down))  # type: ignore[assignment]
        for b in self._brushes:
            col = b.color()
            col.setAlpha(150)
            b.setColor(col)

    def _y_extent(self, rows: np.ndarray) -> tuple[float, float]:
        return 0.0, float(rows[:, 4].max()) if len(rows) else 1.0

    def _draw(self, p: QPainter, x: int, row: np.ndarray) -> None:
        i = 0 if row[3] >= row[0] else 1
        p.setPen(self._pens[i])
        p.setBrush(self._brushes[i])
        p.drawRect(QRectF(x - BODY, 0.0, 2 * BODY, row[4]))
