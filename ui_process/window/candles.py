"""Candle and volume items for pyqtgraph that redraw only what changed.

Why: a naive item rebuilds the drawing of all 2000 bars on every tick of the
forming bar - hundreds of thousands of path ops per second at a busy open.
As in vnpy's chart items, finished bars are turned into drawing primitives
once and cached; a tick of the forming (last) bar redraws only that bar.

The cache holds *geometry*, not ``QPicture`` s: per chunk of ``CHUNK`` bars,
the wick lines and body rectangles of the up and of the down bars, drawn with
one ``drawLines`` + one pen-less ``drawRects`` per colour. Measured here
(offscreen raster, 64 bars): ``QPicture.play`` 1.4-1.7 ms, the batched calls
0.2 ms - a picture replays its recorded ops one by one. A changed finished bar
(an official AM bar replacing the trade-built one) invalidates just its chunk.
``paint`` draws only the chunks inside the view (``viewRect``), so 2000 bars
cost what the visible ones cost.

x is the bar number from :class:`~ui_process.window.bar_series.BarSeries`.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QLineF, QRectF, Qt
from PyQt6.QtGui import QBrush, QColor, QPainter, QPen

from .bar_series import BarSeries

CHUNK = 64
BODY = 0.35  # half body width in bar units

# One chunk's cached primitives: (x0, x1, up_lines, up_rects, down_lines, down_rects)
Chunk = tuple[int, int, list, list, list, list]


class _ChunkedBarsItem(pg.GraphicsObject):
    def __init__(self, series: BarSeries, up: str, down: str):
        super().__init__()
        self.series = series
        self._pens = (QPen(QColor(up), 0), QPen(QColor(down), 0))
        for p in self._pens:
            p.setCosmetic(True)
        self._brushes = (QBrush(QColor(up)), QBrush(QColor(down)))
        self._chunks: dict[int, Chunk] = {}
        self._bounds = QRectF()
        self._last_forming = QRectF()
        self.chunk_builds = 0  # how many chunks were (re)built (tests, bench)

    # subclasses: the y extent of the rows and one bar's primitives
    def _y_extent(self, rows: np.ndarray) -> tuple[float, float]:
        raise NotImplementedError

    def _shapes(self, x: int, row: np.ndarray, lines: list, rects: list) -> None:
        raise NotImplementedError

    # ---------------------------------------------------------------- updates
    def reset(self) -> None:
        self._chunks.clear()
        self.refresh(None)

    def refresh(self, changed_from: int | None) -> None:
        """Data changed at x >= ``changed_from`` (None: only the forming bar's values changed).

        When only the forming bar changed and the item's extent did not, just
        that bar's rectangle is marked for repaint (pyqtgraph's view uses
        minimal viewport updates), so a tick does not repaint the chart.
        """
        s = self.series
        if changed_from is not None and changed_from < s.last_x:
            first = changed_from // CHUNK
            for k in [k for k in self._chunks if k >= first]:
                del self._chunks[k]
        for k in [k for k in self._chunks if (k + 1) * CHUNK <= s.base]:
            del self._chunks[k]  # scrolled off the 2000-bar window
        r = settle_bounds(self._bounds, s.base - 0.5, len(s), *self._y_extent(s.ohlcv)) if len(s) else QRectF()
        forming = self._forming_rect()
        if r != self._bounds:
            self.prepareGeometryChange()
            self._bounds = r
            self.update()
        elif changed_from is None or changed_from >= s.last_x:
            self.update(forming.united(self._last_forming) if not self._last_forming.isNull() else forming)
        else:
            self.update()
        self._last_forming = forming

    def _forming_rect(self) -> QRectF:
        s = self.series
        if not len(s):
            return QRectF()
        lo, hi = self._y_extent(s.ohlcv[-1:])
        return QRectF(s.last_x - 0.5, lo, 1.0, max(hi - lo, 1e-9))

    def _chunk(self, k: int) -> Chunk:
        # A chunk holds the finished bars of [k*CHUNK, (k+1)*CHUNK) that exist; it is
        # rebuilt only when that span changed (a bar finished, or the window slid).
        s = self.series
        x0 = max(k * CHUNK, s.base)
        x1 = min((k + 1) * CHUNK, s.last_x)  # the forming bar is never cached
        hit = self._chunks.get(k)
        if hit is not None and hit[0] == x0 and hit[1] == x1:
            return hit
        up_l: list = []
        up_r: list = []
        dn_l: list = []
        dn_r: list = []
        rows = s.ohlcv
        for x in range(x0, x1):
            row = rows[x - s.base]
            if row[3] >= row[0]:
                self._shapes(x, row, up_l, up_r)
            else:
                self._shapes(x, row, dn_l, dn_r)
        chunk = (x0, x1, up_l, up_r, dn_l, dn_r)
        self._chunks[k] = chunk
        self.chunk_builds += 1
        return chunk

    def _draw(self, p: QPainter, up: tuple[list, list], down: tuple[list, list]) -> None:
        for i, (lines, rects) in enumerate((up, down)):
            if lines:
                p.setPen(self._pens[i])
                p.drawLines(lines)
            if rects:
                p.setPen(Qt.PenStyle.NoPen)
                p.setBrush(self._brushes[i])
                p.drawRects(rects)

    # ---------------------------------------------------------------- Qt
    def boundingRect(self) -> QRectF:
        return self._bounds

    def paint(self, p: QPainter, opt, widget=None) -> None:
        s = self.series
        if not len(s):
            return
        rect = opt.exposedRect if opt is not None else self._bounds
        view = self.viewRect()  # the exposed rect can be the whole item; draw only what is on screen
        if view is not None:
            rect = rect.intersected(view) if rect.intersects(view) else view
        x0 = max(s.base, int(math.floor(rect.left())) - 1)
        x1 = min(s.last_x, int(math.ceil(rect.right())) + 1)
        if x1 < x0:
            return
        for k in range(x0 // CHUNK, x1 // CHUNK + 1):
            c = self._chunk(k)
            self._draw(p, (c[2], c[3]), (c[4], c[5]))
        lines: list = []
        rects: list = []
        self._shapes(s.last_x, s.ohlcv[-1], lines, rects)
        up = s.ohlcv[-1][3] >= s.ohlcv[-1][0]
        self._draw(p, (lines, rects) if up else ([], []), ([], []) if up else (lines, rects))


def settle_bounds(current: QRectF, left: float, n: int, lo: float, hi: float) -> QRectF:
    """An item's bounding rect for bars [left, left + n) spanning [lo, hi] in y.

    ``current`` while it holds them: a changed rect repaints the whole item's area
    (the pane), so a new rect is padded by a tenth of its height each way and a
    forming bar that makes a new high or low rarely changes it.
    """
    w = max(1.0, float(n))
    if (current.left() == left and current.width() == w and current.top() <= lo and current.bottom() >= hi
            and current.height() <= 2 * max(hi - lo, 1e-9)):
        return current
    pad = max(hi - lo, 1e-9) * 0.1
    return QRectF(left, lo - pad, w, hi - lo + 2 * pad)


class CandleItem(_ChunkedBarsItem):
    def __init__(self, series: BarSeries, up: str, down: str):
        super().__init__(series, up, down)
        self.setFlag(self.GraphicsItemFlag.ItemUsesExtendedStyleOption)

    def _y_extent(self, rows: np.ndarray) -> tuple[float, float]:
        return float(rows[:, 2].min()), float(rows[:, 1].max())

    def _shapes(self, x: int, row: np.ndarray, lines: list, rects: list) -> None:
        o, h, lo, c = float(row[0]), float(row[1]), float(row[2]), float(row[3])
        lines.append(QLineF(x, lo, x, h))
        top, bot = (c, o) if c >= o else (o, c)
        if top - bot <= 0:  # doji: a tick, a zero-height body would vanish
            lines.append(QLineF(x - BODY, c, x + BODY, c))
        else:
            rects.append(QRectF(x - BODY, bot, 2 * BODY, top - bot))


class VolumeItem(_ChunkedBarsItem):
    def __init__(self, series: BarSeries, up: str, down: str, bg: str = "#000000"):
        super().__init__(series, up, down)
        self.setFlag(self.GraphicsItemFlag.ItemUsesExtendedStyleOption)
        # dimmed by mixing with the background, not by alpha: opaque fills are far cheaper to raster
        bg = QColor(bg)
        for b in self._brushes:
            c = b.color()
            b.setColor(QColor(*(int(a * 0.6 + z * 0.4) for a, z in ((c.red(), bg.red()), (c.green(), bg.green()),
                                                                     (c.blue(), bg.blue())))))

    def _y_extent(self, rows: np.ndarray) -> tuple[float, float]:
        return 0.0, float(rows[:, 4].max()) if len(rows) else 1.0

    def _shapes(self, x: int, row: np.ndarray, lines: list, rects: list) -> None:
        rects.append(QRectF(x - BODY, 0.0, 2 * BODY, float(row[4])))


class TickGrid(pg.GraphicsObject):
    """Opaque grid lines at the axes' major ticks, one ``drawLines`` per paint.

    Why not ``showGrid``: pyqtgraph draws the grid as translucent axis tick
    lines; measured here that costs ~100 ms per full chart repaint on the
    offscreen raster engine (translucent long lines blend every pixel), an
    opaque cosmetic pen ~1 ms.
    """

    def __init__(self, x_axis: pg.AxisItem | None, y_axis: pg.AxisItem | None, colour: str):
        super().__init__()
        self.x_axis, self.y_axis = x_axis, y_axis
        self.pen = QPen(QColor(colour), 0)
        self.pen.setCosmetic(True)
        self.setZValue(-1000)
        self._cache: tuple | None = None

    def viewRangeChanged(self) -> None:  # noqa: N802 (pyqtgraph hook)
        super().viewRangeChanged()
        self.prepareGeometryChange()
        self.update()

    def boundingRect(self) -> QRectF:
        return self.viewRect() or QRectF()

    def paint(self, p: QPainter, opt, widget=None) -> None:
        r = self.viewRect()
        if r is None or r.width() <= 0 or r.height() <= 0:
            return
        key = (r.left(), r.right(), r.top(), r.bottom(),
               *(a.geometry().width() + a.geometry().height() if a is not None else 0
                 for a in (self.x_axis, self.y_axis)))
        if self._cache is None or self._cache[0] != key:  # tick maths only when the view moved
            self._cache = (key, self._lines(r))
        p.setPen(self.pen)
        p.drawLines(self._cache[1])

    def _lines(self, r: QRectF) -> list:
        lines: list = []
        if self.x_axis is not None:
            for v in self._major(self.x_axis, r.left(), r.right()):
                lines.append(QLineF(v, r.top(), v, r.bottom()))
        if self.y_axis is not None:
            for v in self._major(self.y_axis, r.top(), r.bottom()):
                lines.append(QLineF(r.left(), v, r.right(), v))
        return lines

    @staticmethod
    def _major(axis: pg.AxisItem, lo: float, hi: float) -> list[float]:
        # "Nice" steps (1, 2, 5 x 10^k) aiming at one line per ~80 px; the axis's own
        # tickValues() costs ~2.5 ms a call in numpy, this is microseconds.
        size = axis.geometry().width() if axis.orientation in ("top", "bottom") else axis.geometry().height()
        bar_ticks = getattr(axis, "bar_ticks", None)  # the chart's time axis: round minutes, not round x
        if bar_ticks is not None:
            return bar_ticks(lo, hi, size)
        return nice_ticks(lo, hi, max(2, int(size / 80)))


def nice_ticks(lo: float, hi: float, target: int) -> list[float]:
    """About ``target`` round values (steps 1, 2, 5 x 10^k) covering [lo, hi]."""
    lo, hi = min(lo, hi), max(lo, hi)
    span = hi - lo
    if not (span > 0 and math.isfinite(span)) or target < 1:
        return []
    raw = span / target
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step)
    n = int(math.floor(hi / step)) - first + 1
    return [(first + i) * step for i in range(max(0, min(n, 200)))]
