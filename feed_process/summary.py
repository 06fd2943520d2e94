"""The compact per-symbol summary (``sum|SYM|``): what a watchlist row shows, at most 4 Hz, only when changed.

Why a topic of its own: a 50-row watchlist must not cost 50 full trade and
quote streams in the window. The feed already holds each symbol's folded
state; every ``PERIOD`` it builds the summary of each symbol that has a
``sum|`` subscriber and new events, and publishes it when a figure changed.
Nothing here is a market rule of its own: the day (last, high, low, volume,
previous close) is ``shared.market.day``'s, the relative volume
``shared.market.relvol``'s, the sparkline's 5-minute buckets
``shared.market.timeframes``'.

Body (``shared.models.messages.Summary``; keys ``wire.SUMMARY_KEYS``): ``sym, ts`` (data time of
the latest event), ``seq`` (the symbol's last event sequence number: two
summaries with one ``seq`` describe the same state), ``last, change, change_pct, volume, rel_volume`` (today's
volume / the average volume by this minute of day over the prior sessions in
the history, None when none), ``bid, ask, spread, high, low, prev_close`` and
``spark``: the closes of the day's last ``SPARK_POINTS`` 5-minute buckets,
oldest first. A subscriber joining sees the next change; it can ask for the
current summaries at once with the control request ``{type: summary, symbols}``.
"""

from __future__ import annotations

import asyncio
from typing import Callable

from shared.market.day import day_start
from shared.market.history import C, O, S
from shared.market.timeframes import Buckets
from shared.models import messages as m
from shared.models import wire

from .state import FeedSymbol

PERIOD = 0.25            # seconds: at most 4 summaries per symbol per second
SPARK_POINTS = 24        # 2 hours of 5-minute closes
_FIVE = Buckets("5m")


def _r(x, n: int = 4):
    return None if x is None else round(x, n)


class _Spark:
    """The day's 5-minute closes, the finished bars' part cached per history version."""

    __slots__ = ("key", "closes")

    def __init__(self) -> None:
        self.key: tuple | None = None
        self.closes: list[tuple[int, float]] = []

    def get(self, st: FeedSymbol, lo: int) -> list[float]:
        h = st.market.history
        key = (h.version, lo)
        if key != self.key:
            out: list[tuple[int, float]] = []
            for b in h.bars[h.index_from(lo):]:
                k = _FIVE.start(b[S])
                if out and out[-1][0] == k:
                    out[-1] = (k, b[C])
                else:
                    out.append((k, b[C]))
            self.key, self.closes = key, out[-SPARK_POINTS - 1:]
        out = list(self.closes)
        f = st.market.forming
        if f is not None and f[O] is not None and f[S] >= lo:
            k = _FIVE.start(f[S])
            if out and out[-1][0] == k:
                out[-1] = (k, f[C])
            elif not out or out[-1][0] < k:
                out.append((k, f[C]))
        return [c for _, c in out[-SPARK_POINTS:]]


def summarize(st: FeedSymbol, spark: _Spark | None = None) -> m.Summary:
    """One symbol's summary (``shared.models.messages.Summary``: its keys are declared there)."""
    ref = st.last_ms or max(st.market.history.last_start(), 0)
    day = st.day.stats(ref, st.prior_close())
    last, prev = day["last"], day["prev_close"]
    q = st.market.last_quote
    bid, ask = (q[2], q[4]) if q is not None else (None, None)
    change = last - prev if last is not None and prev else None
    lo = day_start(ref)[1] if ref else None
    return m.Summary(v=1, sym=st.symbol, ts=st.last_ms, seq=st.seq, last=last, change=_r(change),
                     change_pct=_r(change / prev * 100, 3) if change is not None else None, volume=day["volume"],
                     rel_volume=st.profile.relative(st.market.history, ref, day["volume"]) if ref else None,
                     bid=bid, ask=ask, spread=_r(ask - bid) if bid and ask else None,
                     high=day["high"], low=day["low"], prev_close=prev,
                     spark=(spark or _Spark()).get(st, lo) if lo is not None else [])


# What makes a summary new: every figure but the data time and sequence number.
_FIGURES = tuple(k for k in wire.SUMMARY_KEYS if k not in ("ts", "seq"))


class Summaries:
    """Publishes the summaries of the symbols that have a ``sum|`` subscriber."""

    def __init__(self, states: dict[str, FeedSymbol], wanted: Callable[[], set[str]],
                 publish: Callable[[bytes, m.Summary], None], period: float = PERIOD) -> None:
        self.states, self.wanted, self.publish, self.period = states, wanted, publish, period
        self._events: dict[str, int] = {}
        self._last: dict[str, m.Summary] = {}
        self._spark: dict[str, _Spark] = {}
        self.published = 0

    def current(self, sym: str) -> m.Summary | None:
        st = self.states.get(sym)
        return summarize(st, self._spark.setdefault(sym, _Spark())) if st is not None else None

    def tick(self) -> int:
        n = 0
        wanted = self.wanted()
        for sym in wanted:
            st = self.states.get(sym)
            if st is None or (self._events.get(sym) == st.events and sym in self._last):
                continue
            self._events[sym] = st.events
            body = summarize(st, self._spark.setdefault(sym, _Spark()))
            old = self._last.get(sym)
            if old is not None and all(getattr(old, k) == getattr(body, k) for k in _FIGURES):
                continue
            self._last[sym] = body
            self.publish(wire.summary_topic(sym), body)
            n += 1
        for sym in [s for s in self._last if s not in wanted]:  # a later subscriber gets a fresh one
            self._last.pop(sym, None)
            self._events.pop(sym, None)
            self._spark.pop(sym, None)
        self.published += n
        return n

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            self.tick()
