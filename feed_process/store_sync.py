"""The feed's side of the history store: load a symbol at once, write finished bars, prune.

Why apart from :mod:`.store` (the SQL) and :mod:`.backfill` (REST): this is the
*policy* - what is written when - and it keeps the hot path free of I/O:

* **Load**: when a symbol is first watched its stored minute and day bars are
  merged into the state before any REST request (``FeedSymbol.merge_history``
  keeps each stored bar's level, so the upstream's bar still replaces a
  provisional one), and the backfill then asks only for what follows the last
  stored minute.
* **Write**: REST results are written as they arrive; live bars (the
  upstream's AM, and bars built from trades once their minute is over - the
  forming minute is never written) by :meth:`StoreSync.flush`, every
  ``flush_s`` seconds and at stop, from the state's finished bars: only symbols
  whose history changed, and only bars from ``LOOKBACK`` before the last
  flushed one (an official bar replaces the provisional one a little later).
  One transaction per symbol, so a crash loses at most the last flush.
* **Prune** at start and then once a day (``history_days``).
* A store that fails (disk full, file removed) is counted and logged,
  never raised into the feed: history then just isn't kept.
"""

from __future__ import annotations

import logging
import sqlite3

from shared.market.history import K, MINUTE, S, vwap
from shared.ratelimit import RateLimitedLog

from .state import FeedSymbol
from .store import HistoryStore

log = logging.getLogger(__name__)

LOOKBACK = 10 * MINUTE   # re-write this far before the last flushed bar (late official bars)
PRUNE_EVERY_S = 86_400.0


class StoreSync:
    def __init__(self, store: HistoryStore, days: int, max_bars: int) -> None:
        self.store, self.days, self.max_bars = store, days, max_bars
        self._log = RateLimitedLog(log, 60.0)
        self.loaded = 0
        self.last_prune: float | None = None

    def _failed(self, what: str, e: Exception) -> None:
        self.store.errors += 1
        self._log(what, f"history store: {what} failed: {e}")

    # ------------------------------------------------------------ load

    def load(self, st: FeedSymbol, label: str, target: str) -> tuple[int | None, int | None]:
        """Merge the stored bars into ``st``; return (last stored minute start, last stored day start)."""
        try:
            src = self.store.source_id(label, target)
            assert src is not None
            minutes = self.store.load_minutes(src, st.symbol, self.max_bars)
            days = self.store.load_days(src, st.symbol)
        except (sqlite3.Error, OSError) as e:
            self._failed("load", e)
            return None, None
        st.store_src = src
        if minutes:
            st.merge_history(minutes)
        if days:
            st.set_days(days)
        st.stored = len(minutes)
        st.store_mark = minutes[-1][0] if minutes else -1
        st.store_version = st.market.history.version
        self.loaded += len(minutes)
        return (minutes[-1][0] if minutes else None), (days[-1][0] if days else None)

    # ------------------------------------------------------------ write

    def put_fetched(self, st: FeedSymbol, minutes: list[list], days: list[list]) -> None:
        """REST results (``[start, o, h, l, c, v, vwap, n]``): minutes as backfill level, finished days."""
        if st.store_src is None:
            return
        try:
            if minutes:
                self.store.put_minutes(st.store_src, st.symbol, [[*r[:8], 1] for r in minutes])
            if days:
                self.store.put_days(st.store_src, st.symbol, days)
        except (sqlite3.Error, OSError) as e:
            self._failed("write", e)

    def flush(self, states: dict[str, FeedSymbol]) -> int:
        """Write the finished bars that changed since the last flush; return the rows written."""
        n = 0
        for st in list(states.values()):
            h = st.market.history
            if st.store_src is None or h.version == st.store_version or not h.bars:
                continue
            i = h.index_from(st.store_mark - LOOKBACK) if st.store_mark >= 0 else 0
            rows = [[b[S], b[1], b[2], b[3], b[4], b[5], vwap(b), b[7], b[K]] for b in h.bars[i:]]
            try:
                n += self.store.put_minutes(st.store_src, st.symbol, rows)
            except (sqlite3.Error, OSError) as e:
                self._failed("write", e)
                continue
            st.store_version, st.store_mark = h.version, h.bars[-1][S]
        return n

    # ------------------------------------------------------------ upkeep

    def prune_due(self, now: float) -> bool:
        return self.last_prune is None or now - self.last_prune >= PRUNE_EVERY_S

    def prune(self, now: float) -> tuple[int, int]:
        self.last_prune = now
        try:
            gone = self.store.prune(self.days)
        except (sqlite3.Error, OSError) as e:
            self._failed("prune", e)
            return 0, 0
        if any(gone):
            log.info("history store: pruned %d minute and %d day bars older than %d days", *gone, self.days)
        return gone

    def status(self) -> dict:
        return {"path": str(self.store.path), "days": self.days, "loaded": self.loaded, "writes": self.store.writes,
                "errors": self.store.errors}

