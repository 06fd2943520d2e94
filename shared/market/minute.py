"""Minute bars from a symbol's events: the forming bar, late prints, official AM bars.

Why one class for the feed, the window and the simulator: three builders used
to disagree on the same tape. This is the only code that turns prints into
bars; each process wraps it (``FeedSymbol``, ``WindowSymbol``, ``BarBuilder``).
Sans-I/O: wire arrays in (``["T", t, p, s, x, conditions, ...]``, ``["AM",
start, o, h, l, c, v, vw, n, av, op, a, e]``, ``A`` alike, see CONTRACTS),
state out. :meth:`MinuteBars.fold` is the feed's hot path (~300k events/s):
the common trade - same minute as the forming bar - costs a flag lookup and a
few list writes, with locals; everything else takes a method call.

The rules, decided against Polygon's aggregates (docs: "How does Polygon create
the OHLCV aggregate bars?"; measured on TSLA 2025-06-27, tests/test_market_*):
* A trade updates high/low, open/close and volume as its conditions allow
  (:mod:`shared.market.conditions`). Prices may be dollars or integer cents.
* The first open/close print of a minute opens its bar, by *time*: an odd lot
  (or a regular-hours Form T) before it adds volume but never sets the open,
  and nothing is carried from the previous minute (TSLA's 09:30 bar opens at
  the first regular print, 324.51). The close is the latest open/close print
  by time; equal times keep arrival order.
* A minute with only volume-only prints (odd lots) has no bar, as Polygon
  publishes none without an eligible trade; its volume still counts for the
  day (``vol_only``) - never a flat bar at an invented price.
* The forming bar closes (as a *provisional* bar) when a print of a later
  minute arrives; an ``AM`` for a minute replaces whatever bar it has and ends
  the forming bar if it is that minute. An AM for minute m usually arrives
  after minute m+1 began: it replaces the provisional bar in place.
* A late print (an earlier minute than the forming one) folds into that
  minute's provisional bar, or opens a bar for a minute that had none; a minute
  the upstream already published is left to the upstream (its corrected AM).
* ``A`` (second aggregates) never touch bars; ``AM``/``A`` carry the day's
  ``av``/``op``/``a`` (indices 9-11, absent on old arrays), kept as day marks.
Other codes (Q is remembered, LULD, NOI, ...) never touch bars.

``bucket`` is the bar length (a minute everywhere but in the simulator, which
builds its second aggregates with the same rules: ``bucket=1000``).
"""

from __future__ import annotations

from shared import market_hours

from .conditions import _COMBO, _COMBO_EXT, ALL, FLAGS1, FLAGS1_EXT, HL, LAST, VOL, flags, flags_ext
from .history import CT, LIVE, MINUTE, OT, PROV, PV, BarHistory, C, H, K, L, N, O, S, V, new_bar, upstream_bar

_NEVER = -(1 << 62)


def _extended(start: int) -> bool:
    """Is the minute at ``start`` outside the NYSE regular session (Form T then makes the bar)?"""
    s = market_hours.session_for(market_hours.ny_date(start))
    return s is None or not s.open <= start < s.close


class MinuteBars:
    __slots__ = ("history", "forming", "last_trade", "last_quote", "last_ms", "events", "outbox", "vol_only",
                 "av", "av_t", "day_vwap", "op", "op_t", "_ext", "extended", "bucket")

    def __init__(self, max_bars: int = 2000, outbox: bool = False, extended=None, bucket: int = MINUTE) -> None:
        self.bucket = bucket                 # bar length in ms
        self.history = BarHistory(max_bars)
        self.forming: list | None = None    # the current minute's bar (price fields None until opened)
        self.last_trade: list | None = None  # latest T array (any conditions): the snapshot's last trade
        self.last_quote: list | None = None
        self.last_ms = 0                     # data time of the latest event
        self.events = 0
        # (kind, bar) for every finished bar that changed, when the owner wants them (window, simulator);
        # None in the feed, whose subscribers get the events themselves.
        self.outbox: list | None = [] if outbox else None
        self.vol_only: list[list] = []       # [start, volume, price x volume] of minutes without a bar
        self.av = self.av_t = self.day_vwap = self.op = self.op_t = None  # day marks from AM/A
        self._ext = True                     # the forming minute is outside the regular session
        # start ms -> outside the regular session? Default: the NYSE calendar; the simulator passes its own.
        self.extended = extended or _extended

    # ------------------------------------------------------------ hot path

    def fold(self, lst) -> None:
        """Fold wire arrays of this symbol, in arrival order."""
        f = self.forming
        span = self.bucket
        fs = f[S] if f is not None else _NEVER
        fe = fs + span
        f1, fx, fc = (FLAGS1_EXT, flags_ext, _COMBO_EXT) if self._ext else (FLAGS1, flags, _COMBO)
        last_trade = last_quote = None
        for a in lst:
            code = a[0]
            if code == "T":
                last_trade = a
                c = a[5]
                t = a[1]
                if fs <= t < fe:
                    b = f
                    # several conditions: flags()' own cache first, a call only for a combination not seen yet
                    m = ALL if not c else (f1.get(c[0], ALL) if len(c) == 1 else (fc.get(tuple(c)) or fx(c)))
                else:
                    b, m = self._elsewhere(t, c, a)
                    f = self.forming
                    fs = f[S] if f is not None else _NEVER
                    fe = fs + span
                    f1, fx, fc = (FLAGS1_EXT, flags_ext, _COMBO_EXT) if self._ext else (FLAGS1, flags, _COMBO)
                    if b is None:
                        continue
                if not m:
                    continue
                p = a[2]
                if m & LAST:
                    if b[O] is None:
                        b[O] = b[C] = p
                        b[OT] = b[CT] = t
                    elif t >= b[CT]:
                        b[C] = p
                        b[CT] = t
                    elif t < b[OT]:
                        b[O] = p
                        b[OT] = t
                if m & HL:
                    h = b[H]
                    if h is None:
                        b[H] = b[L] = p
                    elif p > h:
                        b[H] = p
                    elif p < b[L]:
                        b[L] = p
                if m & VOL:
                    s = a[3]
                    b[V] += s
                    b[PV] += p * s
                b[N] += 1
                if b is not f:
                    self._touched(b)
            elif code == "Q":
                last_quote = a
            elif code == "AM":
                self._official(a)
                f = self.forming
                fs = f[S] if f is not None else _NEVER
                fe = fs + span
            elif code == "A":
                self._marks(a)
        if last_trade is not None:
            self.last_trade = last_trade
        if last_quote is not None:
            self.last_quote = last_quote
        if lst:
            t = lst[-1][1]
            if t > self.last_ms:
                self.last_ms = t
            self.events += len(lst)

    # ------------------------------------------------------------ minute changes, late prints

    def _elsewhere(self, t: int, c, a) -> tuple[list | None, int]:
        """(bar, flags) for a print outside the forming minute (bar None: it touches no bar)."""
        start = t - t % self.bucket
        ext = self.extended(start)  # once per new minute (and late print), never per print in a minute
        m = flags(c, ext)
        f = self.forming
        if start > (f[S] if f is not None else self.history.last_start()):
            if f is not None:
                self.close_forming()
            f = self.forming = new_bar(start)
            self._ext = ext
            return f, m
        b = self.history.find(start)
        if b is not None:
            return (b if b[K] == PROV else None), m  # a published minute is the upstream's to correct
        if m & LAST:  # a late opening print for a minute without a bar: that minute gets one
            b = new_bar(start)
            return (b if self.history.put(b) is not None else None), m
        if m & VOL and a[3]:
            self._add_vol_only(start, a[3], a[2] * a[3])
        return None, m

    def _touched(self, b: list) -> None:
        """A late print changed the finished bar ``b``."""
        self.history.version += 1
        if self.outbox is not None:
            self.outbox.append(("replace", b))

    def close_forming(self) -> None:
        """Finish the forming bar: a provisional bar, or volume for the day when it never opened."""
        f = self.forming
        if f is None:
            return
        self.forming = None
        if f[O] is None:
            if f[V]:
                self._add_vol_only(f[S], f[V], f[PV])
            return
        kind = self.history.put(f)
        if kind is not None and self.outbox is not None:
            self.outbox.append((kind, f))

    def _add_vol_only(self, start: int, v, pv) -> None:
        self.history.version += 1  # day volume changed: cached day views recompute
        vo = self.vol_only
        for e in reversed(vo):
            if e[0] == start:
                e[1] += v
                e[2] += pv
                return
        vo.append([start, v, pv])
        if len(vo) > self.history.max_bars:
            del vo[: len(vo) - self.history.max_bars]

    # ------------------------------------------------------------ upstream bars and day marks

    def _official(self, a) -> None:
        start = a[1]
        b = upstream_bar(start, a[2], a[3], a[4], a[5], a[6], a[7], a[8], LIVE)
        f = self.forming
        if f is not None and f[S] <= start:
            if f[S] < start:
                self.close_forming()
            else:
                self.forming = None  # the upstream's bar of the forming minute ends it
        kind = self.history.put(b)
        if kind is not None and self.outbox is not None:
            self.outbox.append((kind, b))
        self._marks(a)

    def _marks(self, a) -> None:
        """The day's accumulated volume / official open / VWAP when the AM or A array carries them."""
        n = len(a)
        if n > 9 and a[9] is not None and (self.av_t is None or a[1] >= self.av_t):
            self.av, self.av_t = a[9], a[1]
            self.day_vwap = a[11] if n > 11 else None
        if n > 10 and a[10] is not None:
            self.op, self.op_t = a[10], a[1]

    def merge_history(self, rows: list[list]) -> int:
        """Merge REST bars before the forming minute; return how many were new or upgraded."""
        f = self.forming
        return self.history.merge(rows, f[S] if f is not None else None)

    # ------------------------------------------------------------ views

    def forming_open(self) -> list | None:
        """The forming bar once it has a price (what snapshots and charts show)."""
        f = self.forming
        return f if f is not None and f[O] is not None else None

    def take(self) -> list:
        """The (kind, bar) changes of finished bars since the last call."""
        out = self.outbox
        if not out:
            return []
        self.outbox = []
        return out
