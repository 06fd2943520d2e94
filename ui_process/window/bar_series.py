"""The chart's data model: the bars of one timeframe plus a per-bar history of indicators.

Why it looks like this
----------------------
* **Absolute x positions.** Bar *k* ever received for the symbol sits at
  ``x = k`` (``base`` is the x of the oldest kept bar). Dropping bars off the
  front (the 2000-bar bound) never moves the others, so cached candle
  pictures, markers and the user's view stay valid.
* **Gapless time axis.** x is a bar number, not a time, so nights and weekends
  take no room (as in every trading chart); :meth:`time_at` maps back.
* **Indicator history.** A full refresh carries every bar's values
  (``indicators``, computed once by the manager: :meth:`set_indicator_rows`);
  ``calculation_updated`` then carries the values of *one* bar, stored at that
  bar's x, so VWAP / EMA / RSI draw as lines over the whole history.
* No Qt here: the chart items read the arrays; tests drive it directly.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from typing import Any, Iterable

import numpy as np

INDICATORS = ("vwap", "ema_9", "ema_21", "rsi_14")
FIELDS = ("open", "high", "low", "close", "volume")


def to_ms(v: Any) -> int | None:
    """A timestamp as epoch ms: int/float ms or seconds, or a datetime."""
    if isinstance(v, dt.datetime):
        if v.tzinfo is None:
            v = v.astimezone()
        return int(v.timestamp() * 1000)
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0:
        return int(v * 1000) if v < 10**11 else int(v)
    return None


class BarSeries:
    def __init__(self, max_bars: int = 2000):
        self.max_bars = max_bars
        self.rejected = 0  # bars skipped as unusable (missing/non-numeric fields)
        self.timeframe = "1m"
        self.span_ms = 60_000  # the timeframe's bar length (time axis, session shading)
        self.clear()

    def clear(self) -> None:
        self.base = 0  # x of self.t[0]
        self.next_x = 0  # x the next appended bar gets
        self.t: list[int] = []
        self.ohlcv = np.zeros((0, 5), dtype=np.float64)
        self.ind = {k: np.zeros(0, dtype=np.float64) for k in INDICATORS}
        self.version = 0  # bumps on every change (cheap dirty check for views)
        self.changed_from: int | None = None  # lowest x changed since the last take_changes()
        self.ind_changed_from: int | None = None  # the same for the indicator history

    # ---------------------------------------------------------------- queries
    def __len__(self) -> int:
        return len(self.t)

    @property
    def last_x(self) -> int:
        return self.next_x - 1

    def xs(self) -> np.ndarray:
        return np.arange(self.base, self.next_x, dtype=np.float64)

    def row(self, x: int) -> np.ndarray | None:
        i = x - self.base
        return self.ohlcv[i] if 0 <= i < len(self.t) else None

    def time_at(self, x: int) -> int | None:
        i = x - self.base
        return self.t[i] if 0 <= i < len(self.t) else None

    def x_for_time(self, ts_ms: int) -> int | None:
        """x of the bar containing ``ts_ms`` (the last bar starting at or before it)."""
        if not self.t:
            return None
        i = bisect.bisect_right(self.t, ts_ms) - 1
        return None if i < 0 else self.base + i

    def y_range(self, x0: float, x1: float) -> tuple[float, float] | None:
        """(low, high) of the bars whose x lies in [x0, x1]."""
        i0 = max(0, int(math.floor(x0)) - self.base)
        i1 = min(len(self.t), int(math.ceil(x1)) - self.base + 1)
        if i1 <= i0:
            return None
        seg = self.ohlcv[i0:i1]
        return float(seg[:, 2].min()), float(seg[:, 1].max())

    def volume_max(self, x0: float, x1: float) -> float:
        i0 = max(0, int(math.floor(x0)) - self.base)
        i1 = min(len(self.t), int(math.ceil(x1)) - self.base + 1)
        return float(self.ohlcv[i0:i1, 4].max()) if i1 > i0 else 0.0

    def take_changes(self) -> int | None:
        c, self.changed_from = self.changed_from, None
        return c

    # ---------------------------------------------------------------- updates
    def _mark(self, x: int) -> None:
        self.version += 1
        self.changed_from = x if self.changed_from is None else min(self.changed_from, x)

    @staticmethod
    def _row(bar: Any) -> list[float] | None:
        """The bar's OHLCV as floats, or None for a bar the chart cannot use."""
        try:
            row = [float(bar[f] or 0.0) for f in FIELDS]
        except (KeyError, TypeError, ValueError):
            return None
        return row if all(math.isfinite(v) for v in row) else None

    def set_bars(self, bars: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Full refresh: replace everything (x restarts at 0); return the bars kept, oldest first.

        Bars without a usable time or OHLCV are skipped and counted (``rejected``):
        a bad bar from upstream must not take the chart down.
        """
        good = []
        for b in bars:
            ts = to_ms(b.get("timestamp")) if isinstance(b, dict) else None
            row = self._row(b) if ts is not None else None
            if row is None:
                self.rejected += 1
            else:
                good.append((ts, row, b))
        good.sort(key=lambda g: g[0])
        good = good[-self.max_bars:]
        rejected = self.rejected
        self.clear()
        self.rejected = rejected
        rows = [g[2] for g in good]
        self.t = [g[0] for g in good]
        self.ohlcv = np.array([g[1] for g in good], dtype=np.float64).reshape(-1, 5)
        self.ind = {k: np.full(len(rows), np.nan) for k in INDICATORS}
        self.next_x = len(rows)
        self._mark(0)
        return rows

    def upsert(self, bar: dict[str, Any]) -> int | None:
        """Append a newer bar or replace the bar with the same start; return its x."""
        ts = to_ms(bar.get("timestamp")) if isinstance(bar, dict) else None
        vals = self._row(bar) if ts is not None else None
        if vals is None:
            self.rejected += 1
            return None
        row = np.array(vals, dtype=np.float64)
        if self.t and ts <= self.t[-1]:
            i = bisect.bisect_left(self.t, ts)
            if i < len(self.t) and self.t[i] == ts:
                self.ohlcv[i] = row
                self._mark(self.base + i)
                return self.base + i
            return None  # an unknown older bar (before our window, or a hole): ignore
        self.t.append(ts)
        self.ohlcv = np.vstack([self.ohlcv, row[None, :]])
        for k in INDICATORS:
            self.ind[k] = np.append(self.ind[k], np.nan)
        x = self.next_x
        self.next_x += 1
        if len(self.t) > self.max_bars:
            drop = len(self.t) - self.max_bars
            del self.t[:drop]
            self.ohlcv = self.ohlcv[drop:]
            for k in INDICATORS:
                self.ind[k] = self.ind[k][drop:]
            self.base += drop
        self._mark(x)
        return x

    def set_indicators(self, calc: dict[str, Any]) -> int | None:
        """Store one ``calculation_updated`` dict at its bar; return the bar's x."""
        if not self.t:
            return None
        ts = to_ms(calc.get("timestamp"))
        x = self.x_for_time(ts) if ts is not None else None
        if x is None:
            x = self.last_x
        i = x - self.base
        for k in INDICATORS:
            v = calc.get(k)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                self.ind[k][i] = float(v)
        self.version += 1
        self.ind_changed_from = x if self.ind_changed_from is None else min(self.ind_changed_from, x)
        return x

    def set_indicator_rows(self, bars: list[dict[str, Any]], rows: list[Any] | None) -> None:
        """The manager's indicator dicts of a full refresh, aligned with the ``bars`` it sent."""
        if not rows or len(rows) != len(bars) or not self.t:
            return
        by_ts = {to_ms(b.get("timestamp")): r for b, r in zip(bars, rows) if isinstance(r, dict)}
        for k in INDICATORS:
            col = self.ind[k]
            for i, t in enumerate(self.t):
                v = by_ts.get(t, {}).get(k)
                col[i] = float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else np.nan
        self.version += 1
        self.ind_changed_from = self.base

    def take_ind_changes(self) -> int | None:
        c, self.ind_changed_from = self.ind_changed_from, None
        return c
