"""The price chart: candles, volume and RSI panes on one gapless time axis, any timeframe.

Why it is built this way
------------------------
* **Coalesced repaint.** Slots (``set_bars``, ``update_bar``,
  ``set_calculation``, markers) only change the :class:`BarSeries` model and
  mark the chart dirty; a ~30 Hz timer (:meth:`render`) repaints what changed.
  A burst of a thousand trades costs one repaint.
* **Cached candles and lines** (:mod:`.candles`, :mod:`.overlays`): finished
  bars and indicator segments are turned into drawing primitives once per
  chunk; only the forming bar (and the segment into it) is redrawn per tick.
* **No pyqtgraph auto-range.** Its auto-range scans every item on every
  change; the chart sets the y range itself from the visible bars (numpy
  slice of at most 2000 rows).
* **Follow the live edge** until the user pans or zooms away from it (a
  manual range change that leaves the last bar off-screen); coming back to the
  edge, or "fit" (F / Ctrl+0), resumes following. Following scrolls in steps
  (:func:`follow_range`): a new bar fills the room kept right of the last one
  and the view jumps only when that is used up, so bars arriving many times a
  second (a replay, a burst on seconds) do not repaint the whole chart each
  frame; the y range moves only when bars leave it (a refresh or pan fits it).
* **Draws, never computes.** Bars of the chosen timeframe and every
  indicator value come from the manager (a full refresh's ``indicators``);
  sessions (:mod:`.sessions`) and levels (:mod:`.levels`) are their own items.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtWidgets import QGraphicsSimpleTextItem, QVBoxLayout, QWidget

from . import theme
from .bar_series import BarSeries
from .candles import CandleItem, TickGrid, VolumeItem
from .crosshair import Crosshair
from .follow import DEFAULT_VISIBLE, MIN_SPAN, RIGHT_MARGIN, follow_range  # noqa: F401 (re-exported)
from .levels import LevelLayer
from .markers import SignalMarks
from .messages import history_failed, history_queued
from .overlays import OverlayLines
from .readout import ChartMessage, header_line, readout_html, readout_values
from .sessions import SessionShade
from .time_axis import MINUTE_STEPS, CompactAxis, FastAxis, TimeAxis, settle_axes  # noqa: F401 (re-export)

log = logging.getLogger(__name__)

class ChartWidget(QWidget):
    def __init__(self, max_bars: int = 2000, parent: QWidget | None = None):
        super().__init__(parent)
        th = theme.current()
        self.series = BarSeries(max_bars)
        self.symbol = ""
        self.timeframe = "1m"
        self.follow = True
        self.visible_bars = DEFAULT_VISIBLE
        self.full_refreshes = 0  # full refreshes rendered (screenshot waits for the first)
        self.on_bars_drawn = None  # called once, after the first render with bars (app.py: ready message)
        self.renders = 0
        self._dirty = False
        self._ind_dirty = False
        self._ind_full = True  # the whole overlay history must be redrawn (not just the tail)
        self._marks_dirty = False
        self._setting_range = False
        self._fit_tight = True  # the next render fits y to the bars exactly (a full refresh); ticks keep it
        self._last_price: float | None = None
        self._hover_x: int | None = None

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        self.readout = header_line(th)  # re-set every render: a repaint of its line, never a relayout
        lay.addWidget(self.readout)
        self.glw = pg.GraphicsLayoutWidget()
        self.glw.ci.layout.setSpacing(0)
        self.glw.ci.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.glw, 1)

        self.price = self.glw.addPlot(row=0, col=0, axisItems={"bottom": TimeAxis(self.series),
                                                               "right": FastAxis("right")})
        self.volume = self.glw.addPlot(row=1, col=0, axisItems={"bottom": TimeAxis(self.series),
                                                                "right": CompactAxis("right")})
        self.rsi = self.glw.addPlot(row=2, col=0, axisItems={"bottom": TimeAxis(self.series),
                                                             "right": FastAxis("right")})
        self.glw.ci.layout.setRowStretchFactor(0, 6)
        self.glw.ci.layout.setRowStretchFactor(1, 2)
        self.glw.ci.layout.setRowStretchFactor(2, 2)
        for plot in (self.price, self.volume, self.rsi):
            plot.hideButtons()
            plot.setMenuEnabled(False)
            plot.disableAutoRange()
            plot.showAxis("right")
            plot.hideAxis("left")
            plot.getAxis("right").setWidth(64)
            plot.setClipToView(True)
            plot.getViewBox().setBorder(pg.mkPen(th.border))  # pane separators
        for plot in (self.price, self.volume):  # one time axis, under the RSI pane: the others cost a
            plot.hideAxis("bottom")             # tick/text layout on every pan for nothing
        settle_axes((self.price, self.volume, self.rsi))
        self.volume.setXLink(self.price)
        self.rsi.setXLink(self.price)
        for plot in (self.volume, self.rsi):
            plot.getViewBox().setMouseEnabled(x=True, y=False)
        self.price.getViewBox().setMouseEnabled(x=True, y=False)

        for plot in (self.price, self.volume, self.rsi):
            plot.addItem(TickGrid(self.rsi.getAxis("bottom"), plot.getAxis("right"), th.grid), ignoreBounds=True)
        self.shades = [SessionShade(self.series, th.panel_alt, th.text_dim) for _ in (self.price, self.volume)]
        for plot, shade in zip((self.price, self.volume), self.shades):
            plot.addItem(shade, ignoreBounds=True)
        self.candles = CandleItem(self.series, th.up, th.down)
        self.price.addItem(self.candles)
        self.vol_bars = VolumeItem(self.series, th.up, th.down, th.bg)
        self.volume.addItem(self.vol_bars)
        # The indicator lines: one item per pane, finished segments cached, a tick repaints the last one.
        # 1 px: the raster engine's fast cosmetic-line path; the 1.2-1.5 px pens went through its
        # stroker and doubled a zoomed-out frame (bench.chart_panzoom). Colour tells the lines apart.
        self.overlays = OverlayLines(self.series, [("vwap", th.vwap, 1), ("ema_9", th.ema9, 1),
                                                   ("ema_21", th.ema21, 1)])
        self.price.addItem(self.overlays, ignoreBounds=True)
        self.rsi_line = OverlayLines(self.series, [("rsi_14", th.rsi, 1)])
        self.rsi.addItem(self.rsi_line, ignoreBounds=True)
        self._lines_last_x = -1
        for level in (30, 70):
            self.rsi.addItem(pg.InfiniteLine(pos=level, angle=0, movable=False,
                                             pen=pg.mkPen(th.text_dim, width=1, style=Qt.PenStyle.DashLine)))
        self.rsi.setYRange(0, 100, padding=0.02)
        self.rsi.getAxis("right").setTicks([[(30, "30"), (50, "50"), (70, "70")]])
        self.last_line = pg.InfiniteLine(angle=0, movable=False, pen=pg.mkPen(th.last_line, width=1,
                                                                             style=Qt.PenStyle.DotLine),
                                         label="{value:.2f}", labelOpts={"position": 0.98, "color": "#ffffff",
                                                                         "fill": th.last_line})
        self.last_line.setVisible(False)
        self.price.addItem(self.last_line, ignoreBounds=True)
        self.marks = SignalMarks(self.series, self.price, th)
        self.entry_marks, self.exit_marks = self.marks.entry_marks, self.marks.exit_marks

        # crosshair: a vertical line on every pane, a horizontal one on the hovered pane, both labelled
        self.crosshair = Crosshair(self.series, (self.price, self.volume, self.rsi), th)
        self._mouse_proxy = pg.SignalProxy(self.glw.scene().sigMouseMoved, rateLimit=60, slot=self._on_mouse)
        # pane names, fixed in the top-left corner of each pane (children of the view box, not its
        # content, so they do not pan)
        self.pane_labels = {}
        for plot, name in ((self.price, self._price_title()), (self.volume, "Volume"),
                           (self.rsi, "RSI 14")):
            lab = QGraphicsSimpleTextItem(name, plot.getViewBox())
            lab.setBrush(pg.mkBrush(th.text_dim))
            lab.setPos(6, 3)
            lab.setZValue(50)
            self.pane_labels[name.split(" ")[0]] = lab

        self.price.getViewBox().sigRangeChangedManually.connect(self._on_manual_range)
        self.price.getViewBox().sigXRangeChanged.connect(self._on_x_range)

        self.message = ChartMessage(self.glw)  # overlay: waiting / loading / history failed
        self.levels = LevelLayer(self.price, th)
        self.glw.scene().sigMouseClicked.connect(self._on_click)

        self.timer = QTimer(self)
        self.timer.setInterval(33)
        self.timer.timeout.connect(self.render)
        self.timer.start()

    # ---------------------------------------------------------------- model slots
    def clear(self, symbol: str = "") -> None:
        self.symbol = symbol
        self.series.clear()
        self.candles.reset()
        self.vol_bars.reset()
        self.marks.clear()
        self.levels.clear()
        self._last_price = None
        self.last_line.setVisible(False)
        self.follow = True
        self._dirty = self._ind_dirty = self._marks_dirty = self._ind_full = True
        self._hover_x = None
        self.crosshair.hide()
        self._show_readout(None)  # the header names the new symbol in this frame, not the old one's values
        self.set_message("Waiting for data…" if not symbol else f"Loading {symbol}…")

    def on_chart_data(self, data: dict[str, Any]) -> None:
        bars = data.get("bars") or []
        tf = data.get("timeframe") or "1m"
        if tf != self.timeframe:  # an update of another timeframe would mix bars: only a refresh switches
            if data.get("is_update"):
                return
            self.set_timeframe(tf)
        if data.get("is_update"):
            for b in bars:
                self.series.upsert(b)
        else:
            self.series.set_bars(bars)
            self.series.set_indicator_rows(bars, data.get("indicators"))  # the manager's, never recomputed
            self._ind_full = True
            self.candles.reset()
            self.vol_bars.reset()
            self.full_refreshes += 1
            self._ind_dirty = self._marks_dirty = self._fit_tight = True
            if bars:
                self.set_message("")
        if len(self.series) and self.message.text().startswith(("Waiting", "Loading")):
            self.set_message("")
        self._dirty = True

    def _price_title(self) -> str:
        return f"Price {self.timeframe} · VWAP · EMA 9 · EMA 21"

    def set_timeframe(self, tf: str) -> None:
        """Label the chart for ``tf``; the bars themselves come with the manager's full refresh."""
        from shared.market.timeframes import MINUTES

        self.timeframe = tf
        self.series.timeframe, self.series.span_ms = tf, MINUTES.get(tf, 1) * 60_000
        self.pane_labels["Price"].setText(self._price_title())
        self._dirty = True

    def set_extended_hours(self, on: bool) -> None:
        """Shade pre/post-market (their bars are the manager's to drop when off)."""
        for shade in self.shades:
            shade.set_enabled(on)

    def on_calculation(self, calc: dict[str, Any]) -> None:
        if self.series.set_indicators(calc) is not None:
            self._ind_dirty = True

    def set_last_price(self, price: float | None) -> None:
        if price and price != self._last_price:
            self._last_price = price
            self._dirty = True

    def add_entry(self, sig: dict[str, Any]) -> None:
        self.marks.add_entry(sig)
        self._marks_dirty = True

    def add_exit(self, sig: dict[str, Any]) -> None:
        self.marks.add_exit(sig)
        self._marks_dirty = True

    def set_history_state(self, state: str | None, message: str = "", live_flowing: bool = False,
                          ahead: int | None = None) -> None:
        """The feed's backfill state for this symbol: pending / queued (``ahead``) / failed / done / none.

        ``live_flowing``: the upstream is connected and events arrive - only then
        does the failure message promise that live bars continue.
        """
        th = theme.current()
        if state == "pending":
            self.set_message(f"Loading earlier bars for {self.symbol}…")
        elif state == "queued":
            self.set_message(history_queued(ahead))
        elif state == "failed":
            text = history_failed(message, live_flowing)
            if self.message.text() != text:
                log.info("history for %s failed: %s", self.symbol, message)  # the raw cause, for the log
                self.set_message(text, th.warn)
        elif self.message.text().startswith(("Loading earlier bars", "Earlier bars could not", "Loading history")):
            self.set_message("")

    def set_message(self, text: str, colour: str | None = None) -> None:
        self.message.say(text, colour)

    def resizeEvent(self, ev) -> None:  # noqa: N802
        super().resizeEvent(ev)
        self.message.place()

    # ---------------------------------------------------------------- view
    def fit(self) -> None:
        """Show every bar and follow the live edge again."""
        n = len(self.series)
        self.visible_bars = max(DEFAULT_VISIBLE, n)
        self.follow = True
        self._dirty = self._fit_tight = True
        self.render()

    def _on_manual_range(self, *_: Any) -> None:
        (x0, x1), _ = self.price.getViewBox().viewRange()
        self.visible_bars = max(10, int(round(x1 - x0)) - RIGHT_MARGIN)
        # Following while the live bar stays in view; scrolled away -> stop.
        self.follow = x1 >= self.series.last_x + 0.5
        self._fit_y()

    def _on_x_range(self, *_: Any) -> None:
        if not self._setting_range:
            self._fit_y()

    def _apply_follow(self) -> None:
        if not self.follow or not len(self.series):
            return
        r = follow_range(self.series.last_x, self.series.base, self.visible_bars,
                         tuple(self.price.getViewBox().viewRange()[0]))
        if r is None:
            return
        self._setting_range = True
        try:
            self.price.setXRange(r[0], r[1], padding=0)
        finally:
            self._setting_range = False

    def _fit_y(self, force: bool = True) -> None:
        """Fit the price and volume panes to the visible bars.

        With ``force=False`` (a live tick) the range only changes when the
        bars leave it or it became much too loose: a steady range means a tick
        repaints just the forming bar, not the whole pane.
        """
        (x0, x1), (y0, y1) = self.price.getViewBox().viewRange()
        yr = self.series.y_range(x0, x1)
        if yr is None:
            return
        lo, hi = yr
        for k in ("vwap", "ema_9", "ema_21"):
            i0 = max(0, int(math.floor(x0)) - self.series.base)
            i1 = max(i0, int(math.ceil(x1)) - self.series.base + 1)
            seg = self.series.ind[k][i0:i1]
            seg = seg[np.isfinite(seg)]
            if len(seg):  # keep overlays on screen, but never let a far-off value squash the candles
                lo = min(lo, max(float(seg.min()), lo - (hi - lo)))
                hi = max(hi, min(float(seg.max()), hi + (hi - lo)))
        pad = (hi - lo) * 0.06 or max(hi * 0.001, 0.01)
        fits = y0 <= lo and y1 >= hi and (y1 - y0) <= 1.6 * (hi - lo + 2 * pad)
        if force or not fits:
            self.price.setYRange(lo - pad, hi + pad, padding=0)
        vmax = self.series.volume_max(x0, x1)
        top = self.volume.getViewBox().viewRange()[1][1]
        if force or not (vmax <= top <= vmax * 1.6):
            self.volume.setYRange(0, vmax * 1.1 if vmax > 0 else 1, padding=0)

    # ---------------------------------------------------------------- render
    def render(self) -> None:
        """Repaint what changed since the last call (the timer's slot)."""
        if not (self._dirty or self._ind_dirty or self._marks_dirty):
            return
        self.renders += 1
        s = self.series
        if self._dirty:
            changed = s.take_changes()
            for shade in self.shades:
                shade.refresh(s.span_ms)
            self.candles.refresh(changed)
            self.vol_bars.refresh(changed)
            if s.last_x != self._lines_last_x:  # a new bar: the lines' extent grew (their values follow)
                self._lines_last_x = s.last_x
                self._ind_dirty = True
            price = self._last_price or (float(s.ohlcv[-1, 3]) if len(s) else None)
            if price:
                self.last_line.setVisible(True)  # first: a hidden line's label ignores value changes
                self.last_line.setValue(price)
            self._apply_follow()
            self._fit_y(force=self._fit_tight)
            self._fit_tight = False
            self._refresh_readout()
        if self._ind_dirty:
            ind_from = s.take_ind_changes()
            if self._ind_full:
                self.overlays.reset()
                self.rsi_line.reset()
            else:
                self.overlays.refresh(ind_from)
                self.rsi_line.refresh(ind_from)
            self._ind_full = False
            self._refresh_readout()
        if self._marks_dirty:
            self.marks.render()
        self._dirty = self._ind_dirty = self._marks_dirty = False
        if self.on_bars_drawn is not None and len(s):
            cb, self.on_bars_drawn = self.on_bars_drawn, None
            cb()

    # ---------------------------------------------------------------- crosshair
    def _refresh_readout(self) -> None:
        """The header, in the same frame as the chart: the hovered bar if it still exists, else the last."""
        s = self.series
        x = self._hover_x if self._hover_x is not None and s.row(self._hover_x) is not None else None
        self._show_readout(x if x is not None else (s.last_x if len(s) else None))

    def _on_mouse(self, evt: Any) -> None:
        self._hover_x = self.crosshair.move(evt[0])
        on_price = self._hover_x is not None and self.price.sceneBoundingRect().contains(evt[0])
        self.levels.tag_near(self.price.getViewBox().mapSceneToView(evt[0]).y() if on_price else None)
        self._refresh_readout()

    def readout_values(self, x: int | None) -> dict[str, Any] | None:
        return readout_values(self.series, x)

    def _show_readout(self, x: int | None) -> None:
        self.readout.setText(readout_html(self.symbol, self.readout_values(x), theme.current(), self.timeframe))

    def _on_click(self, ev: Any) -> None:
        """A click on the price pane adds a level when armed (L); otherwise it is the view's."""
        if self.levels.armed and self.price.sceneBoundingRect().contains(ev.scenePos()):
            ev.accept()
            self.levels.click(self.price.getViewBox().mapSceneToView(ev.scenePos()).y())
