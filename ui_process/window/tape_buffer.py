"""Time & sales capture: every trade, classified against the quote at its time.

Why a separate, Qt-free buffer: the tape must see *every* trade (the manager's
``market_data_updated`` is coalesced to ~30 Hz), so the window's manager
subclass calls :meth:`TapeBuffer.on_trade` / :meth:`on_quote` from the spec's
extension points ``_process_trade`` / ``_process_quote``. That path runs for
every event at full feed rate, so it only classifies and appends a tuple to a
bounded deque; the tape widget drains it on a ~10 Hz timer (never per event).

Aggressor side is the quote rule (Lee-Ready without the tick test): a print
at or above the ask was bought, at or below the bid was sold; inside the
spread, above the mid leans buy, below leans sell, at the mid is unknown.
Events arrive in time order, so "the quote at the time" is the last quote
seen before the trade.
"""

from __future__ import annotations

from collections import deque
from typing import Any, NamedTuple

# Aggressor sides (ints keep the hot path cheap).
SELL, SELL_LEAN, MID, BUY_LEAN, BUY = -2, -1, 0, 1, 2
SIDE_NAMES = {SELL: "sell", SELL_LEAN: "sell?", MID: "mid", BUY_LEAN: "buy?", BUY: "buy"}


class Print(NamedTuple):
    seq: int  # running number of the print in this buffer (survives trimming)
    timestamp: int  # epoch ms
    price: float
    size: int
    exchange: str
    side: int
    bid: float
    ask: float


def classify(price: float, bid: float, ask: float) -> int:
    """Aggressor side of a print at ``price`` against the quote ``bid``/``ask``."""
    if bid <= 0 or ask <= 0 or bid > ask:  # no quote yet, or a crossed market: unknown
        return MID
    if price >= ask:
        return BUY
    if price <= bid:
        return SELL
    mid = (bid + ask) / 2
    if price > mid:
        return BUY_LEAN
    if price < mid:
        return SELL_LEAN
    return MID


class TapeBuffer:
    """Bounded buffer of classified prints for one symbol at a time."""

    def __init__(self, maxlen: int = 5000):
        # raw rows (seq, t, price, size, exchange, bid, ask); see since()
        self.prints: deque[tuple] = deque(maxlen=maxlen)
        self.symbol: str | None = None
        self.bid = 0.0
        self.ask = 0.0
        self.bid_size = 0
        self.ask_size = 0
        self.total = 0  # prints ever appended (for "what's new since" reads)
        self.generation = 0  # bumps on clear(), so a reader knows to start over

    def clear(self, symbol: str | None = None) -> None:
        self.prints.clear()
        self.symbol = symbol
        self.bid = self.ask = 0.0
        self.bid_size = self.ask_size = 0
        self.generation += 1

    def on_quote(self, q: dict[str, Any]) -> None:
        if self.symbol is not None and q.get("symbol") != self.symbol:
            return
        self.bid = q["bid_price"]
        self.ask = q["ask_price"]
        self.bid_size = q["bid_size"]
        self.ask_size = q["ask_size"]

    def on_trade(self, t: dict[str, Any]) -> None:
        # The hot path (every trade at full feed rate): one plain tuple, no
        # classification - that happens in since(), only for what is shown.
        if t["symbol"] != self.symbol and self.symbol is not None:
            return
        self.total += 1
        self.prints.append((self.total, t["timestamp"], t["price"], t["size"], t.get("exchange"), self.bid, self.ask))

    def since(self, seq: int, limit: int, min_size: int = 0) -> list[Print]:
        """Prints after ``seq`` of at least ``min_size`` shares, newest first, at most ``limit``."""
        out: list[Print] = []
        for r in reversed(self.prints):
            if r[0] <= seq or len(out) >= limit:
                break
            if r[3] >= min_size:
                out.append(Print(r[0], r[1], r[2], r[3], r[4] or "", classify(r[2], r[5], r[6]), r[5], r[6]))
        return out

    @property
    def last_seq(self) -> int:
        return self.prints[-1][0] if self.prints else 0
