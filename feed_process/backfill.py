"""History for a newly watched symbol: the store at once, then only the missing range over REST.

Why it looks like this
----------------------
* **The store first** (:mod:`.store_sync`): stored minute and day bars are in
  the state - and so in every snapshot - before any REST request; subscribers
  are told by ``resync`` (``history_store``). The REST request then asks only
  for the minutes after the last stored one, and for day bars only when the
  store lacks a finished day (:func:`.history.minute_range` / ``day_range``).
* **Every request waits at the one rate limiter** (:class:`shared.rest_limit.
  RestLimiter`: the plan's N per period and at most ``concurrency`` in
  flight, one FIFO queue). While it waits the state is ``queued`` with the
  number of requests ahead (the snapshot, ``status`` and the heartbeat carry
  it; the window says "waiting for the data provider's rate limit").
* A window opened at 11:00 should show the morning. History is asked for the
  *data* clock's day (a replay of a past session has its own date), so a
  backfill first gives the stream up to ``clock_wait`` seconds to reveal it
  (and the upstream to announce its source label, the store's key).
* **Retried with backoff until it succeeds** (the shared backoff, 1 s -> 30 s
  with jitter): a relay whose upstream is still starting answers 500 for a
  while. Meanwhile the snapshot says ``backfill.state = failed`` with the
  reason and the next try; live bars keep flowing and the history merges
  with them whenever it arrives (``FeedSymbol.merge_history``: live bars
  win). Subscribers are told by ``resync`` (``backfill_failed`` on the first
  failure only, ``backfill`` on success) and re-snapshot. Day bars are best
  effort: their failure is logged, never retried on its own.
* A retry stops as soon as its symbol is no longer watched (its state object
  is replaced or gone).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

from shared import market_hours
from shared.backoff import Backoff
from shared.market.timeframes import day_start
from shared.rest_limit import RestLimiter

from . import history
from .rest_client import RestClient
from .state import FeedSymbol
from .store_sync import StoreSync
from .urls import redact_url

log = logging.getLogger(__name__)


class Backfiller:
    def __init__(self, *, protocol: str, base: str, api_key: str, max_bars: int,
                 states: dict[str, FeedSymbol], data_clock: Callable[[], int], has_data: Callable[[], bool],
                 resync: Callable[[str, str], None], limiter: RestLimiter | None = None,
                 store: StoreSync | None = None, source: Callable[[], tuple[str, str]] = lambda: ("live", ""),
                 history_days: int = 30, retry: tuple[float, float] = (1.0, 30.0), clock_wait: float = 2.0) -> None:
        self.protocol, self.base, self._key, self.max_bars = protocol, base, api_key, max_bars
        self.states, self.data_clock, self.has_data, self.resync = states, data_clock, has_data, resync
        self.limiter = limiter if limiter is not None else RestLimiter(None)
        self.store, self.source, self.history_days = store, source, history_days
        self.retry = retry
        self.clock_wait = clock_wait
        self._http: RestClient | None = None
        self._tasks: set[asyncio.Task] = set()
        self.attempts = 0  # requests made (all symbols), for status

    def start(self, st: FeedSymbol) -> None:
        st.backfill = "pending"
        t = asyncio.get_running_loop().create_task(self._run(st), name=f"backfill-{st.symbol}")
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        self.limiter.close()
        if self._http is not None:
            self._http.close()
            self._http = None

    def _wanted(self, st: FeedSymbol) -> bool:
        return self.states.get(st.symbol) is st

    async def _request(self, st: FeedSymbol, call):
        """One REST call through the rate limiter; ``queued`` (with the place) while it waits."""
        def ahead(n: int) -> None:
            st.backfill, st.backfill_ahead = "queued", n
            st.backfill_message = f"waiting for the data provider's rate limit ({n} ahead)"

        if self._http is None:
            self._http = RestClient()
        async with self.limiter.slot(ahead):
            if st.backfill == "queued":
                st.backfill, st.backfill_message = "pending", ""
            if not self._wanted(st):
                return None
            self.attempts += 1
            return await call(self._http)

    async def _run(self, st: FeedSymbol) -> None:
        sym = st.symbol
        loop = asyncio.get_running_loop()
        t_end = loop.time() + self.clock_wait
        while not self.has_data() and self._wanted(st) and loop.time() < t_end:
            await asyncio.sleep(0.02)  # a short look: the first chart waits on this (bench/startup.py)
        if not self._wanted(st):
            return
        last_min = last_day = None
        if self.store is not None:
            last_min, last_day = self.store.load(st, *self.source())
            if st.stored or st.days:
                log.info("%s: %d minute and %d day bars from the history store", sym, st.stored, len(st.days))
                self.resync(sym, "history_store")
        data_ms = st.last_ms or self.data_clock()
        span = history.minute_range(data_ms, last_min)
        dspan = history.day_range(data_ms, self.history_days, last_day)
        backoff = Backoff(*self.retry)
        # the day bars are asked beside the minutes (not after them): best effort, asked once
        days_asked = asyncio.ensure_future(self._days(st, dspan)) if dspan is not None else None
        try:
            await self._fetch(st, span, backoff, days_asked)
        finally:
            if days_asked is not None and not days_asked.done():
                days_asked.cancel()

    async def _fetch(self, st: FeedSymbol, span, backoff: Backoff, days_asked: asyncio.Future | None) -> None:
        sym, told = st.symbol, False
        while self._wanted(st):
            bars: list[list] | None = None
            try:
                bars = [] if span is None else await self._request(
                    st, lambda http: history.fetch_minutes(http, self.protocol, self.base, self._key, sym, span,
                                                           self.max_bars))
                error = None
            except history.HistoryError as e:
                error = str(e)
            except asyncio.TimeoutError as e:
                error = f"history request failed ({type(e).__name__})"
            if not self._wanted(st) or (error is None and bars is None):
                return  # dropped while we waited
            if error is None:
                days = await days_asked if days_asked is not None else []
                if not self._wanted(st):
                    return
                self._done(st, bars or [], days, span)
                return
            delay = backoff.next()
            st.backfill = "failed"
            st.backfill_message = f"{error}; retry in {delay:.0f}s (live bars keep flowing)"
            log.warning("%s: backfill failed: %s", sym, st.backfill_message)
            if not told:
                told = True
                self.resync(sym, "backfill_failed")
            await asyncio.sleep(delay)

    async def _days(self, st: FeedSymbol, dspan) -> list[list]:
        try:
            days = await self._request(st, lambda http: history.fetch_days(http, self.protocol, self.base, self._key,
                                                                            st.symbol, dspan))
        except (history.HistoryError, asyncio.TimeoutError) as e:
            log.info("%s: no day bars (%s)", st.symbol, e)
            return []
        if days is None:
            return []
        today = market_hours.ny_date(st.last_ms or self.data_clock())
        return [d for d in days if market_hours.ny_date(day_start(d[0])) < today]  # finished days only

    def _done(self, st: FeedSymbol, bars: list[list], days: list[list], span) -> None:
        sym = st.symbol
        st.backfill_count = st.merge_history(bars)
        if days:
            st.set_days(days)
        if self.store is not None:
            self.store.put_fetched(st, bars, days)
        st.backfill = "done"
        asked = "nothing missing" if span is None else f"{len(bars)} bars from {redact_url(self.base)}"
        st.backfill_message = f"{st.stored} stored, {asked}" if self.store is not None else asked
        log.info("%s: backfilled %d bars (%d merged), %d day bars", sym, len(bars), st.backfill_count, len(days))
        self.resync(sym, "backfill")
