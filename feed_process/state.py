"""Per-symbol state the feed keeps for snapshots: the Clone pattern's "state".

Why it looks like this: the feed only needs what a joining subscriber's
snapshot holds - the last trade and quote, the finished bars, the forming bar,
the day stats and the backfill state. Every market rule (conditions, bars,
late prints, official bars, day stats) is in :mod:`shared.market`; this class
adds the feed's bookkeeping (sequence numbers, backfill) around one
:class:`~shared.market.MinuteBars`. The hot path is ``apply_batch`` =
``MinuteBars.fold``; the snapshot is computed lazily, once per subscriber join.
"""

from __future__ import annotations

from shared.market import DayView, MinuteBars, bar_dict, prev_close_from_bars
from shared.market.relvol import VolumeProfile
from shared.models.wire import event_to_dict


class FeedSymbol:
    __slots__ = ("symbol", "seq", "market", "day", "apply_batch", "prev_close", "backfill", "backfill_message",
                 "backfill_count", "profile", "watcher")

    def __init__(self, symbol: str, max_bars: int = 2000, seq: int = 0) -> None:
        self.symbol = symbol
        self.seq = seq                      # last published sequence number
        self.market = MinuteBars(max_bars)
        self.day = DayView(self.market)
        self.apply_batch = self.market.fold  # hot path: one bound method, no wrapper call per batch
        self.prev_close = None
        self.backfill = "none"              # none | pending | done | failed
        self.backfill_message = ""
        self.backfill_count = 0
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
                import logging

                logging.getLogger(__name__).exception("alert check of %s failed", self.symbol)
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
            "bars": [bar_dict(sym, b) for b in m.history.bars],
            "forming": bar_dict(sym, f) if f is not None else None,
            "backfill": {"state": self.backfill, "message": self.backfill_message, "count": self.backfill_count},
        }
