"""Second aggregates (Polygon ``A`` events) built from the synthetic trades.

Why its own small builder: ``A`` is a different product from ``AM`` (one bar
per second that had trades, never a minute bar) and the minute builder in
:mod:`.bars` belongs to the shared market core; this one only needs the same
condition rules (:func:`shared.models.conditions.update_rules`). It sees every
trade of the day, even while nobody subscribes ``A``, so ``av`` (the day's
volume), ``a`` (the day's VWAP) and ``op`` are right from the first second a
client asks for; the market only *emits* the bars when someone wants them.

Fields as the spec's StockSecondAggregateEvent: ``v av op vw o c h l a z s e``.
``op`` is the open of the day's first bar, as the minute bars do; a second with
volume but no price-moving trade carries the last price as o/h/l/c.
"""

from __future__ import annotations

from shared.models.conditions import update_rules

SECOND_MS = 1000


class SecondBuilder:
    """Feed trades in time order; closed seconds come back as ``A`` dicts (if ``out`` is given)."""

    __slots__ = ("symbol", "start", "o", "h", "l", "c", "v", "pv", "n", "last", "day_v", "day_pv", "day_open")

    def __init__(self, symbol: str, last_cents: int | None = None):
        self.symbol = symbol
        self.start: int | None = None
        self.last = last_cents
        self.day_v = self.day_pv = 0
        self.day_open: int | None = None
        self._reset()

    def _reset(self) -> None:
        self.o = self.h = self.l = self.c = None
        self.v = self.pv = self.n = 0

    def new_day(self) -> None:
        self.day_v = self.day_pv = 0
        self.day_open = None

    def due(self, t: int) -> bool:
        return self.start is not None and self.start + SECOND_MS <= t

    def add(self, t: int, cents: int, size: int, conds: list[int] | None, out: list[dict] | None) -> None:
        sec = t - t % SECOND_MS
        if self.start is not None and sec != self.start:
            self.close(out)
        if self.start is None:
            self.start = sec
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

    def close(self, out: list[dict] | None) -> None:
        """Finish the open second; append its bar to ``out`` when given (the day totals move either way)."""
        if self.start is None:
            return
        start, self.start = self.start, None
        if self.v == 0 and self.c is None:
            self._reset()
            return
        o, c = self.o, self.c
        if c is None:  # volume-only prints: carry the last price
            o = c = self.last if self.last is not None else (self.h or self.l)
        if o is None:
            o = c = self.h
        if self.day_open is None:
            self.day_open = o
        self.last = c
        self.day_v += self.v
        self.day_pv += self.pv
        if out is not None:
            h = max(x for x in (self.h, o, c) if x is not None)
            lo = min(x for x in (self.l, o, c) if x is not None)
            vw = self.pv / self.v / 100 if self.v else c / 100
            a = self.day_pv / self.day_v / 100 if self.day_v else vw
            out.append({"ev": "A", "sym": self.symbol, "v": self.v, "av": self.day_v, "op": self.day_open / 100,
                        "vw": round(vw, 4), "o": o / 100, "c": c / 100, "h": h / 100, "l": lo / 100,
                        "a": round(a, 4), "z": self.v // self.n if self.n else 0,
                        "s": start, "e": start + SECOND_MS})
        self._reset()
