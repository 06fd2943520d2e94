"""Minute bars (Polygon ``AM`` events) built from trades, with the condition rules.

Why a separate builder: the simulator's AM bars must agree *exactly* with its
own trades (tests re-aggregate the trades and compare), so the bar logic is
one small sans-I/O class fed trade by trade. Which trade moves high/low, the
open/close and the volume comes from :mod:`shared.models.conditions` - the
same table the feed and the UI use for their forming bars.

Prices are integer cents inside (exact sums), dollars on the wire:
``vw = sum(p*s)/sum(s)`` over volume-counting trades, rounded to 4 places, as
Polygon does; ``a`` and ``av`` are the day's VWAP and volume; ``op`` is the
open of the day's first bar (the replay files' AM bars do the same); ``z`` is
the average trade size (integer), ``n`` the number of trades in the minute.
A minute with volume but no price-moving trade (e.g. only odd lots) carries
the previous close as o/h/l/c, so volume is never lost from the day.
"""

from __future__ import annotations

from shared.models.conditions import update_rules

MINUTE_MS = 60_000


class BarBuilder:
    """Feed trades in time order; closed minutes come back as AM dicts."""

    def __init__(self, symbol: str, prev_close_cents: int | None = None):
        self.symbol = symbol
        self.start: int | None = None  # current minute start (ms)
        self._reset_bar()
        self.last_cents = prev_close_cents
        self.day_v = 0
        self.day_pv = 0
        self.day_open: int | None = None

    def _reset_bar(self) -> None:
        self.o = self.h = self.l = self.c = None
        self.v = 0
        self.pv = 0
        self.n = 0

    def new_day(self) -> None:
        self.day_v = 0
        self.day_pv = 0
        self.day_open = None

    def add(self, t: int, cents: int, size: int, conds: list[int] | None, out: list[dict]) -> None:
        """Add one trade at ``t`` (ms); a bar that this trade closes is appended to ``out``."""
        minute = t - t % MINUTE_MS
        if self.start is not None and minute != self.start:
            self.close(out)
        if self.start is None:
            self.start = minute
        hl, last, vol = update_rules(conds)
        self.n += 1
        if hl:
            if self.h is None or cents > self.h:
                self.h = cents
            if self.l is None or cents < self.l:
                self.l = cents
        if last:
            if self.o is None:
                self.o = cents
            self.c = cents
        if vol:
            self.v += size
            self.pv += cents * size

    def due(self, t: int) -> bool:
        """True when the open bar ends at or before ``t``."""
        return self.start is not None and self.start + MINUTE_MS <= t

    def close(self, out: list[dict]) -> None:
        """Finish the open minute (if it has anything to show) into ``out``."""
        if self.start is None:
            return
        start = self.start
        self.start = None
        if self.v == 0 and self.c is None:
            self._reset_bar()
            return
        o, c = self.o, self.c
        if c is None:  # only non-price-moving prints: carry the last price
            o = c = self.last_cents if self.last_cents is not None else (self.h or self.l)
        if o is None:  # hl-only prints (e.g. prior reference) and no last: use them
            o = c = self.h
        h = max(x for x in (self.h, o, c) if x is not None)
        lo = min(x for x in (self.l, o, c) if x is not None)
        if self.day_open is None:
            self.day_open = o
        self.last_cents = c
        self.day_v += self.v
        self.day_pv += self.pv
        vw = self.pv / self.v / 100 if self.v else c / 100
        a = self.day_pv / self.day_v / 100 if self.day_v else vw
        out.append({
            "ev": "AM", "sym": self.symbol,
            "v": self.v, "av": self.day_v,
            "op": self.day_open / 100,
            "vw": round(vw, 4),
            "o": o / 100, "c": c / 100, "h": h / 100, "l": lo / 100,
            "a": round(a, 4),
            "z": self.v // self.n if self.n else 0,
            "n": self.n,
            "s": start, "e": start + MINUTE_MS,
        })
        self._reset_bar()
