"""Per-symbol state the feed keeps for snapshots: the Clone pattern's "state".

Why it looks like this: the feed only needs what a joining subscriber's
snapshot holds - the last trade and quote, the finished bars, the forming bar,
the day stats and the backfill state. Every market rule (conditions, bars,
late prints, official bars, day stats) is in :mod:`shared.market`; this class
adds the feed's bookkeeping (sequence numbers, backfill, day bars, the
history store's watermark) around one
:class:`~shared.market.MinuteBars`. The hot path is ``apply_batch`` =
``MinuteBars.fold``; the snapshot is computed lazily, once per subscriber join.
"""

from __future__ import annotations

import datetime as dt
import logging

from shared.market import DayView, MinuteBars, bar_dict, prev_close_from_bars
from shared.market.timeframes import day_date
from shared.market_hours import NY
from shared.market.relvol import VolumeProfile
from shared.models.wire import event_to_dict

log = logging.getLogger(__name__)


class FeedSymbol:
    __slots__ = ("symbol", "seq", "market", "day", "apply_batch", "prev_close", "backfill", "backfill_message",
                 "backfill_count", "backfill_ahead", "stored", "days", "store_src", "store_mark", "store_version",
                 "profile", "watcher")

    def __init__(self, symbol: str, max_bars: int = 2000, seq: int = 0) -> None:
        self.symbol = symbol
        self.seq = seq                      # last published sequence number
        self.market = MinuteBars(max_bars)
        self.day = DayView(self.market)
        self.apply_batch = self.market.fold  # hot path: one bound method, no wrapper call per batch
        self.prev_close = None
        self.backfill = "none"              # none | pending | queued | done | failed
        self.backfill_message = ""
        self.backfill_count = 0
        self.backfill_ahead = 0             # queued: REST requests ahead of ours at the rate limiter
        self.stored = 0                     # bars loaded from the history store
        self.days: list[list] = []          # finished day bars [start, o, h, l, c, v, vwap, n], oldest first
        # the history store's bookkeeping (feed_process.store_sync): source id, flushed-up-to start, version
        self.store_src: int | None = None
        self.store_mark = -1
        self.store_version = -1
        self.profile = VolumeProfile()      # volume by minute of day (summary's rel. volume, volume alerts)
        self.watcher = None                 # alerts' callback per folded batch (see watch)

    def watch(self, fn) -> None:
        """Call ``fn(self, batch)`` after every folded batch (the alert engine); None: the bare fold again.

        Only watched symbols pay for it. ``fn`` must not raise into the fold: the publisher
        would take that for a bad event and fold the batch again one by one."""
        self.watcher = fn
        if fn is None:
            self.apply_batch = self.market.fold
            return
        fold = self.market.fold

        def apply(lst):
            fold(lst)
            try:
                fn(self, lst)
            except Exception:  # an alert bug never costs the market data
                log.exception("alert check of %s failed", self.symbol)
        self.apply_batch = apply

    def prior_close(self):
        """The previous session's close: REST's (backfill) else the bars' (shared.market.day)."""
        if self.prev_close is not None:
            return self.prev_close
        return prev_close_from_bars(self.market.history, self._ref_ms())

    # The feed's status and backfill read these.
    @property
    def last_ms(self) -> int:
        return self.market.last_ms

    @property
    def events(self) -> int:
        return self.market.events

    @property
    def last_trade(self) -> list | None:
        return self.market.last_trade

    @property
    def bars(self) -> list[list]:
        return self.market.history.bars

    def merge_history(self, bars: list[list], prev_close: float | None = None) -> int:
        """Merge REST bars ``[start, o, h, l, c, v, vwap, n]``; return how many were new or upgraded."""
        n = self.market.merge_history(bars)
        if prev_close is None:
            prev_close = prev_close_from_bars(self.market.history, self._ref_ms())
        if prev_close is not None:
            self.prev_close = prev_close
        return n

    def set_days(self, rows: list[list]) -> None:
        """Finished day bars (merged by start); the last one before the data day is the prior day."""
        by = {r[0]: r for r in self.days}
        by.update((r[0], r) for r in rows)
        self.days = [by[k] for k in sorted(by)][-400:]
        pd = self.prev_day()
        if pd is not None:
            self.prev_close = pd["close"]

    def prev_day(self) -> dict | None:
        """``{high, low, close, date}`` of the last finished day before the data clock's day."""
        ref = self._ref_ms()
        today = ny_day(ref) if ref > 0 else None
        for r in reversed(self.days):
            d = day_date(r[0])
            if today is None or d < today:
                return {"high": r[2], "low": r[3], "close": r[4], "date": d}
        return None

    def _ref_ms(self) -> int:
        m = self.market
        return m.last_ms or max(m.history.last_start(), 0)

    def day_stats(self) -> dict:
        return self.day.stats(self._ref_ms(), self.prev_close)

    def snapshot(self) -> dict:
        sym, m = self.symbol, self.market
        f = m.forming_open()
        return {
            "symbol": sym,
            "seq": self.seq,
            "last_trade": event_to_dict(sym, m.last_trade) if m.last_trade else None,
            "last_quote": event_to_dict(sym, m.last_quote) if m.last_quote else None,
            "day": self.day_stats(),
            "bars": [bar_dict(sym, b, mark_provisional=True) for b in m.history.bars],
            "forming": bar_dict(sym, f) if f is not None else None,
            "backfill": self.backfill_info(),
            "day_bars": [day_dict(sym, r) for r in self.days],
            "prev_day": self.prev_day(),
        }

    def backfill_info(self) -> dict:
        d = {"state": self.backfill, "message": self.backfill_message, "count": self.backfill_count,
             "stored": self.stored}
        if self.backfill == "queued":
            d["ahead"] = self.backfill_ahead
        return d


def ny_day(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, NY).date().isoformat()


def day_dict(symbol: str, r: list) -> dict:
    """A day bar as the seed's aggregate dict (what ``bar_dict`` gives for a minute) + ``timeframe: "D"``."""
    return {"event_type": "aggregate", "symbol": symbol, "timestamp": r[0], "open": r[1], "high": r[2], "low": r[3],
            "close": r[4], "volume": r[5], "vwap": r[6], "transactions": r[7], "timeframe": "D"}
