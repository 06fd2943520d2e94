"""A symbol's day statistics, derived from its minute bars and the upstream's day marks.

Why derived, not folded per trade: the feed's hot path must not pay for day
stats on every print, and two incremental copies (feed and window) drifted
apart. Here the day is computed from the bars of the New York session day
(finished bars cached per history version, so a ticker refresh costs O(1)
plus the forming bar), which both processes hold anyway.

Rules:
* **Open**: the exchange's official open (``op`` of an AM/A of that day) when
  the upstream sends it; else the open of the first regular-session bar; None
  before the regular open (a pre-market print is not the day's open).
* **Volume**: the exchange's accumulated volume (``av``) of the latest AM/A
  plus the bars of later minutes; without ``av``, the sum of the day's bars
  and of its volume-only minutes (odd lots count, as in Polygon's ``av``).
* **High/low** from the day's bars (including extended hours, like the bars),
  **last** = the latest close, **VWAP** = ``a`` (day VWAP) extended by the
  later bars, else the bars' volume-weighted average.
* A window seeds a *base* from the feed's snapshot (its day dict covers every
  minute before the snapshot's forming bar), used like ``av``/``op``.
* **Previous close**: given by the owner (REST ``prev``, snapshot) or the close
  of the previous session's last regular-hours bar.
"""

from __future__ import annotations

import datetime as dt

from shared import market_hours

from .history import MINUTE, PROV, PV, VW, BarHistory, C, H, K, L, O, S, V
from .minute import MinuteBars

DAY_MS = 86_400_000


def day_start(ref_ms: int) -> tuple[dt.date, int, int | None]:
    """(NY date, first ms of its trading day, regular open ms or None) for a data time."""
    d = market_hours.ny_date(ref_ms)
    s = market_hours.session_for(d)
    if s is not None:
        return d, s.pre_start, s.open
    midnight = int(dt.datetime.combine(d, dt.time(0), market_hours.NY).timestamp() * 1000)
    return d, midnight, None


def prev_close_from_bars(history: BarHistory, ref_ms: int):
    """The close of the previous session's last regular-hours bar, if the history holds it."""
    if not ref_ms:
        return None
    prev = market_hours.previous_session(market_hours.ny_date(ref_ms))
    if prev is None:
        return None
    i = history.index_from(prev.close)
    if i == 0:
        return None
    b = history.bars[i - 1]
    return b[C] if b[S] >= prev.pre_start else None


def _pv(b: list):
    if b[K] == PROV:
        return b[PV]
    return b[VW] * b[V] if b[VW] is not None and b[V] else 0.0


class DayView:
    """Day stats of one :class:`MinuteBars`; ``base`` is a snapshot's day (window only)."""

    __slots__ = ("mb", "base", "_key", "_part")

    def __init__(self, mb: MinuteBars) -> None:
        self.mb = mb
        # [first ms after the minutes it covers, volume, high, low, open, vwap, day start, last] or None
        self.base: list | None = None
        self._key: tuple | None = None
        self._part: tuple = ()

    def _finished(self, lo: int, reg_open: int | None, after: int) -> tuple:
        """(volume, pv, volume after ``after``, pv after, high, low, first regular open, last close, its start)."""
        h = self.mb.history
        key = (h.version, lo, after)
        if key == self._key:
            return self._part
        vol = vol_a = 0
        pv = pv_a = 0.0
        hi = low = first = last = last_s = None
        bars = h.bars
        for i in range(h.index_from(lo), len(bars)):
            b = bars[i]
            v, x = b[V] or 0, _pv(b)
            vol += v
            pv += x
            if b[S] >= after:
                vol_a += v
                pv_a += x
            if hi is None or b[H] > hi:
                hi = b[H]
            if low is None or b[L] < low:
                low = b[L]
            if first is None and reg_open is not None and b[S] >= reg_open:
                first = b[O]
            last, last_s = b[C], b[S]
        for start, v, x in self.mb.vol_only:
            if start >= lo and h.find(start) is None:
                vol += v
                pv += x
                if start >= after:
                    vol_a += v
                    pv_a += x
        self._key, self._part = key, (vol, pv, vol_a, pv_a, hi, low, first, last, last_s)
        return self._part

    def stats(self, ref_ms: int, prev_close=None) -> dict:
        mb = self.mb
        day: dict = {"date": None, "open": None, "high": None, "low": None, "last": None,
                     "volume": 0, "vwap": None, "prev_close": prev_close}
        if not ref_ms:
            return day
        d, lo, reg_open = day_start(ref_ms)
        day["date"] = d.isoformat()
        base = self.base if self.base is not None and self.base[6] == lo else None
        # The upstream's accumulated volume covers its minute; later minutes are added from the bars.
        av_on = mb.av_t is not None and mb.av_t >= lo
        if av_on and (base is None or mb.av_t >= base[0]):
            after, base_v, base_vw = mb.av_t - mb.av_t % MINUTE + MINUTE, mb.av, mb.day_vwap
        elif base is not None:
            after, base_v, base_vw = base[0], base[1], base[5]
        else:
            after, base_v, base_vw = None, None, None
        vol, pv, vol_a, pv_a, hi, low, first, last, last_s = self._finished(lo, reg_open, after if after is not None else lo)
        f = mb.forming
        if f is not None and f[S] >= lo:
            vol += f[V]
            pv += f[PV]
            if after is not None and f[S] >= after:
                vol_a += f[V]
                pv_a += f[PV]
            if f[O] is not None:
                hi = f[H] if hi is None or f[H] > hi else hi
                low = f[L] if low is None or f[L] < low else low
                first = f[O] if first is None and reg_open is not None and f[S] >= reg_open else first
                last, last_s = f[C], f[S]
        if base is not None:
            if base[7] is not None and (last_s is None or last_s < base[0]):
                last = base[7]  # no print since the snapshot: its last price
            hi = base[2] if hi is None or (base[2] is not None and base[2] > hi) else hi
            low = base[3] if low is None or (base[3] is not None and base[3] < low) else low
        if mb.op is not None and mb.op_t >= lo:
            first = mb.op
        elif base is not None and base[4] is not None:
            first = base[4]
        if base_v is not None:
            vol = base_v + vol_a
            pv = (base_vw * base_v + pv_a) if base_vw is not None else 0.0
        day.update(open=first, high=hi, low=low, last=last, volume=vol, vwap=pv / vol if vol and pv else None)
        return day
