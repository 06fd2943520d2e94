"""Bars of every chart timeframe (1m 2m 5m 15m 30m 1h 4h D) from the minute bars.

Why from the minute bars, and here: the minute bar is the one bar the market
core builds (:mod:`.minute` owns what a print does to a bar); a 5-minute bar is
nothing but its minutes merged, so building it from anything else (trades
again, or a second bar builder) would be a second rule that can disagree.
Sans-I/O, on seed bar dicts, so the window's manager and a feed-side export
(``bars --timeframe``) can share it.

The bucket rule (:class:`Buckets`), as Polygon's aggregates snap them:
* up to 30m: on round wall-clock minutes (5m bars start at :00, :05, ...).
  New York's UTC offset is a whole number of hours, so epoch alignment is NY
  alignment.
* 1h and 4h, the ``hour_anchor`` setting: ``"open"`` (default, what day
  traders expect: 09:30, 10:30, ... and 4h 09:30, 13:30, 17:30) counts buckets
  from 09:30 New York, the earliest pre-market bucket cut to start at 04:00;
  ``"clock"`` (Polygon's REST ``range/1/hour``) starts them on the New York
  hour (09:00, 10:00; 4h 00:00, 04:00, 08:00 ...).
* D: one bar per New York date, stamped at 00:00 New York as Polygon's day
  aggregates are. A date the upstream's day aggregates cover (``set_day_bars``:
  Polygon ``range/1/day``, relay ``timeframe 1day``) takes that bar, except the
  latest date, which forms live from its minutes; a date without one is the
  merge of that date's minute bars (04:00-20:00, extended hours included, as
  the day aggregates count them).

The merge: open of the first minute, close of the last, high/low extremes,
volume summed, VWAP = sum(vwap x volume) / sum(volume) (a minute without a VWAP
weighs its typical price (h+l+c)/3, the indicators' fallback), transactions
summed when known. With ``extended=False`` minutes outside the regular session
(:func:`.minute._extended`, the NYSE calendar) are left out of every bar.

Incremental: a finished minute costs O(1) (merged into the open bucket); only a
*changed* minute (an official AM replacing the trade-built one, a late print)
re-merges its one bucket. The forming bar of a timeframe is the open bucket
merged with the forming minute, built when asked (the manager asks at its
display rate), never per trade.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left, bisect_right
from shared.market_hours import NY

from .history import MINUTE
from .minute import _extended

TIMEFRAMES = ("1m", "2m", "5m", "15m", "30m", "1h", "4h", "D")
MINUTES = {"1m": 1, "2m": 2, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "4h": 240, "D": 1440}
HOUR_ANCHORS = ("open", "clock")
HOUR = 3_600_000
_OPEN = 9 * HOUR + 30 * MINUTE  # 09:30 after New York midnight
_PRE = 4 * HOUR                 # 04:00


def span_ms(tf: str) -> int:
    return MINUTES[tf] * MINUTE


_MIDNIGHTS: dict[int, int] = {}


def ny_midnight(t: int) -> int:
    """Epoch ms of 00:00 New York on the date of ``t`` (cached per hour: one datetime per hour of data)."""
    k = t // HOUR
    m = _MIDNIGHTS.get(k)
    if m is None:
        d = dt.datetime.fromtimestamp(t / 1000, NY).date()
        m = int(dt.datetime.combine(d, dt.time(0), NY).timestamp() * 1000)
        if len(_MIDNIGHTS) > 100_000:
            _MIDNIGHTS.clear()
        _MIDNIGHTS[k] = m
    return m


def day_start(t: int) -> int:
    """00:00 New York of a day aggregate stamped ``t``. Polygon stamps a day at 00:00 New York; a
    source stamping 00:00 UTC (the evening before in New York) is moved into its date."""
    return ny_midnight(t + 12 * HOUR if t % 86_400_000 == 0 else t)


def day_date(t: int) -> str:
    """The New York date (ISO) of a day aggregate stamped ``t`` (the history store's key)."""
    return dt.datetime.fromtimestamp(day_start(t) / 1000, NY).date().isoformat()


class Buckets:
    """Which bucket a minute belongs to: ``start(t)`` and ``end(start)`` (module doc)."""

    def __init__(self, tf: str, hour_anchor: str = "open"):
        if tf not in MINUTES:
            raise ValueError(f"unknown timeframe {tf!r} (known: {', '.join(TIMEFRAMES)})")
        if hour_anchor not in HOUR_ANCHORS:
            raise ValueError(f"hour_anchor must be one of {HOUR_ANCHORS}, got {hour_anchor!r}")
        self.tf, self.hour_anchor = tf, hour_anchor
        self.len = span_ms(tf)

    def start(self, t: int) -> int:
        n = self.len
        if n <= 30 * MINUTE:
            return t - t % n
        mid = ny_midnight(t)
        if self.tf == "D":
            return mid
        if self.hour_anchor == "clock":
            return t - (t - mid) % n
        anchor = mid + _OPEN
        s = anchor + ((t - anchor) // n) * n
        lo = mid + _PRE if t >= mid + _PRE else mid
        return max(s, lo)  # the first pre-market bucket is cut at 04:00, never into the previous evening

    def end(self, start: int) -> int:
        n = self.len
        if n <= 30 * MINUTE:
            return start + n
        mid = ny_midnight(start)
        nxt = ny_midnight(mid + 30 * HOUR)  # next New York midnight (23 or 25 h on DST days)
        if self.tf == "D":
            return nxt
        base = mid if self.hour_anchor == "clock" else mid + _OPEN
        return min(base + ((start - base) // n + 1) * n, nxt)


class _Acc:
    """One bucket being merged (running sums, so the VWAP stays exact)."""

    __slots__ = ("start", "o", "h", "l", "c", "v", "pv", "n", "prov", "last")

    def __init__(self, start: int):
        self.start = start
        self.o = self.h = self.l = self.c = None
        self.v = 0
        self.pv = 0.0
        self.n: int | None = None
        self.prov = False
        self.last = -1  # start of the latest minute merged

    def add(self, m: dict) -> None:
        h, lo, c, v = m["high"], m["low"], m["close"], m["volume"] or 0
        if self.o is None:
            self.o, self.h, self.l = m["open"], h, lo
        else:
            if h > self.h:
                self.h = h
            if lo < self.l:
                self.l = lo
        self.c = c
        self.v += v
        w = m.get("vwap")
        self.pv += (w if w else (h + lo + c) / 3.0) * v
        n = m.get("transactions")
        if n is not None:
            self.n = (self.n or 0) + n
        self.prov = self.prov or bool(m.get("provisional"))
        self.last = m["timestamp"]

    def bar(self, symbol: str, tf: str, forming: dict | None = None) -> dict:
        """The seed aggregate dict of this bucket (+ ``forming``, a later minute not merged)."""
        o, h, lo, c, v, pv, n = self.o, self.h, self.l, self.c, self.v, self.pv, self.n
        if forming is not None:
            fv = forming["volume"] or 0
            if o is None:
                o, h, lo = forming["open"], forming["high"], forming["low"]
            else:
                h, lo = max(h, forming["high"]), min(lo, forming["low"])
            c = forming["close"]
            w = forming.get("vwap")
            pv += (w if w else (forming["high"] + forming["low"] + c) / 3.0) * fv
            v += fv
        d = {"event_type": "aggregate", "symbol": symbol, "timestamp": self.start, "open": o, "high": h,
             "low": lo, "close": c, "volume": v, "vwap": pv / v if v else c, "transactions": n,
             "timeframe": tf}
        if self.prov:
            d["provisional"] = True
        return d


def _ts(b: dict) -> int:
    return b["timestamp"]


class TimeframeBars:
    """The finished bars of one timeframe, kept in step with the minute bars (module doc).

    ``minutes`` arguments are the owner's finished minute dicts, oldest first
    (``WindowSymbol.bars``); they are read, never kept or changed.
    """

    def __init__(self, tf: str = "1m", symbol: str = "", *, hour_anchor: str = "open", extended: bool = True,
                 max_bars: int = 2000):
        self.buckets = Buckets(tf, hour_anchor)
        self.tf, self.symbol, self.extended, self.max_bars = tf, symbol, extended, max_bars
        self.bars: list[dict] = []      # finished buckets, oldest first
        self.open: _Acc | None = None   # the bucket in progress (its finished minutes)
        self.day_bars: dict[int, dict] = {}  # D only: the upstream's day aggregates by NY-midnight start

    def wants(self, m: dict) -> bool:
        return self.extended or not _extended(m["timestamp"])

    # ------------------------------------------------------------ whole history

    def set_day_bars(self, rows: list[dict]) -> None:
        """The upstream's day aggregates (seed bar dicts); used by the D timeframe only."""
        self.day_bars = {day_start(r["timestamp"]): r for r in rows}

    def load(self, minutes: list[dict], forming: dict | None = None) -> list[dict]:
        """Rebuild from the minute history; return the finished bars."""
        self.bars, self.open = [], None
        out: list[dict] = []
        acc: _Acc | None = None
        for m in minutes:
            if not self.wants(m):
                continue
            s = self.buckets.start(m["timestamp"])
            if acc is None or s != acc.start:
                if acc is not None:
                    out.append(acc.bar(self.symbol, self.tf))
                acc = _Acc(s)
            acc.add(m)
        self.bars = out
        self.open = acc
        if acc is not None and self._complete(acc, forming):
            self.bars.append(acc.bar(self.symbol, self.tf))
            self.open = None
        if self.tf == "D" and self.day_bars:
            self._merge_day_bars()
        del self.bars[: max(0, len(self.bars) - self.max_bars)]
        return self.bars

    def _merge_day_bars(self) -> None:
        latest = self.open.start if self.open is not None else (self.bars[-1]["timestamp"] if self.bars else None)
        mine = {b["timestamp"]: b for b in self.bars}
        for s, r in self.day_bars.items():
            if s != latest:
                mine[s] = {"event_type": "aggregate", "symbol": self.symbol, "timestamp": s, "open": r["open"],
                           "high": r["high"], "low": r["low"], "close": r["close"], "volume": r["volume"],
                           "vwap": r.get("vwap"), "transactions": r.get("transactions"), "timeframe": "D"}
        self.bars = [mine[s] for s in sorted(mine) if self.open is None or s < self.open.start]

    def _complete(self, acc: _Acc, forming: dict | None) -> bool:
        """Is the bucket over: its last minute merged, or the forming minute in a later bucket."""
        end = self.buckets.end(acc.start)
        if acc.last + MINUTE >= end:
            return True
        return forming is not None and forming["timestamp"] >= end

    # ------------------------------------------------------------ live changes

    def on_minute(self, kind: str, m: dict, minutes: list[dict]) -> list[tuple[str, dict]]:
        """A finished minute ``m`` arrived or changed (its minute ``kind``); return the bar changes.

        Kinds as the minute history's: ``append`` (a bucket finished), ``replace_last``,
        ``replace``, ``insert`` (a finished bucket changed).
        """
        if not self.wants(m):
            return []
        s = self.buckets.start(m["timestamp"])
        out: list[tuple[str, dict]] = []
        acc = self.open
        if acc is not None and s > acc.start:
            out.append(self._finish())
            acc = None
        if acc is None and (not self.bars or s > self.bars[-1]["timestamp"]):
            acc = self.open = _Acc(s)
        if acc is not None and s == acc.start:
            if m["timestamp"] > acc.last:
                acc.add(m)  # the common case: the next minute of the open bucket
            else:
                self.open = acc = self._merge(s, minutes)
            if self._complete(acc, None):
                out.append(self._finish())
            return out
        return out + self._rebuild(s, minutes)

    def on_forming(self, forming_start: int) -> list[tuple[str, dict]]:
        """The forming minute now starts at ``forming_start``: finish the open bucket if it is over."""
        acc = self.open
        if acc is not None and forming_start >= self.buckets.end(acc.start):
            return [self._finish()]
        return []

    def _finish(self) -> tuple[str, dict]:
        b = self.open.bar(self.symbol, self.tf)  # type: ignore[union-attr]
        self.open = None
        self.bars.append(b)
        if len(self.bars) > self.max_bars:
            del self.bars[0]
        return "append", b

    def _merge(self, s: int, minutes: list[dict]) -> _Acc:
        acc = _Acc(s)
        e = self.buckets.end(s)
        for i in range(bisect_left(minutes, s, key=_ts), bisect_left(minutes, e, key=_ts)):
            if self.wants(minutes[i]):
                acc.add(minutes[i])
        return acc

    def _rebuild(self, s: int, minutes: list[dict]) -> list[tuple[str, dict]]:
        """A minute of the finished bucket at ``s`` changed: merge that bucket again."""
        acc = self._merge(s, minutes)
        if acc.o is None:
            return []
        b = acc.bar(self.symbol, self.tf)
        bars = self.bars
        i = bisect_left(bars, s, key=_ts)
        if i < len(bars) and bars[i]["timestamp"] == s:
            bars[i] = b
            return [("replace_last" if i == len(bars) - 1 else "replace", b)]
        if i == 0 and len(bars) >= self.max_bars:
            return []
        bars.insert(i, b)
        return [("insert", b)]

    # ------------------------------------------------------------ views

    def forming(self, forming_minute: dict | None) -> dict | None:
        """The bar in progress: the open bucket's minutes plus the forming minute (None if neither)."""
        f = forming_minute if forming_minute is not None and self.wants(forming_minute) else None
        acc = self.open
        if f is not None:
            s = self.buckets.start(f["timestamp"])
            if acc is None or s > acc.start:
                acc = _Acc(s)
        if acc is None:
            return None
        if acc.o is None and f is None:
            return None
        return acc.bar(self.symbol, self.tf, f)


def aggregate(minutes: list[dict], tf: str, symbol: str = "", *, hour_anchor: str = "open",
              extended: bool = True, day_bars: list[dict] | None = None) -> list[dict]:
    """Every bucket of ``minutes`` (finished or not) as one bar: an export's or a test's one call.
    ``day_bars``: the upstream's day aggregates (the D timeframe takes them, as the chart does)."""
    t = TimeframeBars(tf, symbol, hour_anchor=hour_anchor, extended=extended, max_bars=1 << 30)
    if day_bars:
        t.set_day_bars(day_bars)
    bars = t.load(minutes)
    return bars + ([t.open.bar(symbol, tf)] if t.open is not None else [])


def bucket_minutes(minutes: list[dict], start: int, tf: str, hour_anchor: str = "open") -> list[dict]:
    """The minutes of the bucket at ``start`` (tests compare each bar with these)."""
    e = Buckets(tf, hour_anchor).end(start)
    return minutes[bisect_left(minutes, start, key=_ts): bisect_right(minutes, e - 1, key=_ts)]


__all__ = ["TIMEFRAMES", "MINUTES", "HOUR_ANCHORS", "Buckets", "TimeframeBars", "aggregate", "bucket_minutes",
           "span_ms", "ny_midnight", "day_start", "day_date"]
