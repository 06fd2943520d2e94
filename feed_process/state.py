"""Per-symbol state the feed keeps for snapshots: the Clone pattern's "state".

Why it looks like this: the hot path must cost a few attribute writes per
event, so ``apply()`` stores the latest wire arrays and folds trades into the
forming minute bar; everything a snapshot needs beyond that (day stats, seed
dicts) is computed lazily in :meth:`SymbolState.snapshot`, which runs once per
subscriber join, not per event.

Bars:
* ``bars`` holds finished minute bars ``[start, o, h, l, c, v, vwap, n]``,
  oldest first, at most ``max_bars``. Official bars (live ``AM`` or REST
  history) replace provisional ones (a forming bar closed by the first trade of
  the next minute) with the same start, so there are no duplicates.
* The forming bar is built from trades whose conditions update the bar
  (``shared.models.conditions.update_rules``); an ``AM`` for its minute replaces
  it. Trades at or before the last official bar's minute don't touch bars.
* :meth:`merge_history` merges REST bars in by start time: official live
  bars win, provisional bars lose, the forming minute is never overwritten.

Day stats fold the finished bars of the current New York session day plus the
forming bar; ``prev_close`` comes from the history (the last bar before the
day's regular open) or the upstream's "previous close" endpoint.
"""

from __future__ import annotations

import bisect
from typing import Any

from shared import market_hours
from shared.models.conditions import CONDITIONS, update_rules
from shared.models.wire import event_to_dict

MINUTE = 60_000

# bar list indices
B_START, B_O, B_H, B_L, B_C, B_V, B_VW, B_N, B_PV = range(9)  # B_PV: forming bar's price x volume

_ALL = (True, True, True)
# Single-condition trades are the norm: their rules, precomputed.
_RULES1 = {k: update_rules([k]) for k in CONDITIONS}


def _bar_dict(symbol: str, b: list) -> dict:
    return {"event_type": "aggregate", "symbol": symbol, "timestamp": b[B_START], "open": b[B_O],
            "high": b[B_H], "low": b[B_L], "close": b[B_C], "volume": b[B_V], "vwap": b[B_VW],
            "transactions": b[B_N]}


class SymbolState:
    __slots__ = ("symbol", "max_bars", "seq", "last_trade", "last_quote", "last_ms", "bars", "_starts",
                 "_provisional", "forming", "prev_close", "backfill", "backfill_message",
                 "backfill_count", "events")

    def __init__(self, symbol: str, max_bars: int = 2000, seq: int = 0) -> None:
        self.symbol = symbol
        self.max_bars = max_bars
        self.seq = seq                      # last published sequence number
        self.last_trade: list | None = None
        self.last_quote: list | None = None
        self.last_ms = 0                    # data time of the latest event
        self.bars: list[list] = []          # finished bars, ordered by start
        self._starts: list[int] = []        # bar starts, for bisect
        self._provisional: set[int] = set()  # starts of bars closed from trades, not yet official
        self.forming: list | None = None    # [start, o, h, l, c, v, vwap, n, pv]
        self.prev_close: float | None = None
        self.backfill = "none"              # none | pending | done | failed
        self.backfill_message = ""
        self.backfill_count = 0
        self.events = 0

    # ------------------------------------------------------------ hot path

    def apply(self, a: list) -> None:
        """Fold one wire array into the state."""
        self.apply_batch([a])

    def apply_batch(self, lst: list[list]) -> None:
        """Fold a batch of wire arrays (one symbol, arrival order) into the state.

        The common trade - same minute as the forming bar - is folded inline
        with locals; minute changes, bars and odd condition sets take the
        general paths below.
        """
        last_trade = last_quote = None
        rules1 = _RULES1
        for a in lst:
            code = a[0]
            if code == "T":
                last_trade = a
                t = a[1]
                f = self.forming
                if f is not None and f[B_START] <= t < f[B_START] + MINUTE:
                    c = a[5]
                    if not c:
                        hl = last = vol = True
                    elif len(c) == 1:
                        hl, last, vol = rules1.get(c[0], _ALL)
                    else:
                        hl, last, vol = update_rules(c)
                    p = a[2]
                    if last:
                        if f[B_O] is None:
                            f[B_O] = p
                        f[B_C] = p
                    if hl:
                        h = f[B_H]
                        if h is None:
                            f[B_H] = f[B_L] = p
                        elif p > h:
                            f[B_H] = p
                        elif p < f[B_L]:
                            f[B_L] = p
                    if vol:
                        f[B_V] += a[3]
                        f[B_PV] += p * a[3]
                    f[B_N] += 1
                else:
                    self._trade(t, a[2], a[3], a[5])
            elif code == "Q":
                last_quote = a
            elif code == "AM":  # A (second bars), LULD, NOI: published, never folded into minute bars
                self._official_bar([a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8]])
        if last_trade is not None:
            self.last_trade = last_trade
        if last_quote is not None:
            self.last_quote = last_quote
        t = lst[-1][1]
        if t > self.last_ms:
            self.last_ms = t
        self.events += len(lst)

    def _trade(self, t: int, p: float, s: int, conds: list | None) -> None:
        hl, last, vol = update_rules(conds) if conds else _ALL
        start = t - t % MINUTE
        f = self.forming
        if f is None or start != f[B_START]:
            if f is not None and start < f[B_START]:
                return  # a late print for an older minute: the AM will carry it
            if self._starts and start <= self._starts[-1] and start not in self._provisional:
                return  # that minute is already official
            if f is not None:
                self._close_forming()
            if not (hl or last or vol):
                return
            f = self.forming = [start, None, None, None, None, 0, None, 0, 0.0]
        if last:
            if f[B_O] is None:
                f[B_O] = p
            f[B_C] = p
        if hl:
            if f[B_H] is None or p > f[B_H]:
                f[B_H] = p
            if f[B_L] is None or p < f[B_L]:
                f[B_L] = p
        if vol:
            f[B_V] += s
            f[B_PV] += p * s
        f[B_N] += 1

    @staticmethod
    def _finish(f: list) -> list:
        """The forming bar as a bar list ``[start, o, h, l, c, v, vwap, n]`` (vwap from the running sum)."""
        return [f[B_START], f[B_O], f[B_H], f[B_L], f[B_C], f[B_V], f[B_PV] / f[B_V] if f[B_V] else None, f[B_N]]

    def _close_forming(self) -> None:
        f = self.forming
        self.forming = None
        if f is None or f[B_O] is None or f[B_H] is None:
            return  # no qualifying price in that minute: nothing to chart
        self._insert(self._finish(f), provisional=True)

    def _official_bar(self, b: list) -> None:
        f = self.forming
        if f is not None and f[B_START] <= b[B_START]:
            if f[B_START] < b[B_START]:
                self._close_forming()
            else:
                self.forming = None
        self._insert(b, provisional=False)

    def _insert(self, b: list, provisional: bool) -> None:
        start = b[B_START]
        starts = self._starts
        if not starts or start > starts[-1]:
            starts.append(start)
            self.bars.append(b)
        else:
            i = bisect.bisect_left(starts, start)
            if i < len(starts) and starts[i] == start:
                if provisional and start not in self._provisional:
                    return  # never replace an official bar with a provisional one
                self.bars[i] = b
            else:
                starts.insert(i, start)
                self.bars.insert(i, b)
        if provisional:
            self._provisional.add(start)
        else:
            self._provisional.discard(start)
        excess = len(starts) - self.max_bars
        if excess > 0:
            for s in starts[:excess]:
                self._provisional.discard(s)
            del starts[:excess]
            del self.bars[:excess]

    # ------------------------------------------------------------ history

    def merge_history(self, bars: list[list], prev_close: float | None = None) -> int:
        """Merge REST bars ``[start, o, h, l, c, v, vwap, n]``; return how many were new or upgraded."""
        n = 0
        forming_start = self.forming[B_START] if self.forming is not None else None
        for b in sorted(bars, key=lambda b: b[0]):
            start = b[B_START]
            if forming_start is not None and start >= forming_start:
                continue  # the forming minute (and later) is the live stream's
            i = bisect.bisect_left(self._starts, start)
            exists = i < len(self._starts) and self._starts[i] == start
            if exists and start not in self._provisional:
                continue  # an official live bar already
            self._insert(list(b), provisional=False)
            n += 1
        if prev_close is None:
            prev_close = self._prev_close_from_bars()
        if prev_close is not None:
            self.prev_close = prev_close
        return n

    def _session_day_ms(self) -> int:
        return self.last_ms or (self._starts[-1] if self._starts else 0)

    def _prev_close_from_bars(self) -> float | None:
        ref = self._session_day_ms()
        if not ref:
            return None
        prev = market_hours.previous_session(market_hours.ny_date(ref))
        if prev is None:
            return None
        # The previous session's close: the close of its last regular-hours bar.
        i = bisect.bisect_left(self._starts, prev.close)
        if i == 0:
            return None
        b = self.bars[i - 1]
        return b[B_C] if b[B_START] >= prev.pre_start else None

    # ------------------------------------------------------------ snapshot

    def day_stats(self) -> dict:
        ref = self._session_day_ms()
        day: dict[str, Any] = {"date": None, "open": None, "high": None, "low": None, "last": None,
                               "volume": 0, "vwap": None, "prev_close": self.prev_close}
        if not ref:
            return day
        d = market_hours.ny_date(ref)
        s = market_hours.session_for(d)
        day["date"] = d.isoformat()
        lo_ms = s.pre_start if s else ref - ref % 86_400_000
        i = bisect.bisect_left(self._starts, lo_ms)
        bars = self.bars[i:]
        if self.forming is not None and self.forming[B_O] is not None:
            bars = bars + [self._finish(self.forming)]
        vol = 0
        pv = 0.0
        for b in bars:
            if s is not None and day["open"] is None and b[B_START] >= s.open:
                day["open"] = b[B_O]
            if day["high"] is None or b[B_H] > day["high"]:
                day["high"] = b[B_H]
            if day["low"] is None or b[B_L] < day["low"]:
                day["low"] = b[B_L]
            day["last"] = b[B_C]
            vol += b[B_V] or 0
            if b[B_VW] is not None and b[B_V]:
                pv += b[B_VW] * b[B_V]
        if day["open"] is None and bars:
            day["open"] = bars[0][B_O]  # before the regular open: the day's first price
        if self.last_trade is not None:
            day["last"] = self.last_trade[2]
        day["volume"] = vol
        day["vwap"] = pv / vol if vol and pv else None
        return day

    def snapshot(self) -> dict:
        sym = self.symbol
        return {
            "symbol": sym,
            "seq": self.seq,
            "last_trade": event_to_dict(sym, self.last_trade) if self.last_trade else None,
            "last_quote": event_to_dict(sym, self.last_quote) if self.last_quote else None,
            "day": self.day_stats(),
            "bars": [_bar_dict(sym, b) for b in self.bars],
            "forming": (_bar_dict(sym, self._finish(self.forming))
                        if self.forming and self.forming[B_O] is not None else None),
            "backfill": {"state": self.backfill, "message": self.backfill_message, "count": self.backfill_count},
        }
