"""Minute-bar history for a newly watched symbol, retried until it arrives.

Why it looks like this
----------------------
* A window opened at 11:00 should show the morning. History is asked for the
  *data* clock's day (a replay of a past session has its own date), so a
  backfill first gives the stream up to ``clock_wait`` seconds to reveal it.
* **Retried with backoff until it succeeds** (the shared backoff, 1 s -> 30 s
  with jitter): a relay whose upstream is still starting answers 500 for a
  while. Meanwhile the snapshot says ``backfill.state = failed`` with the
  reason and the next try; live bars keep flowing and the history merges
  with them whenever it arrives (``FeedSymbol.merge_history``: live bars
  win). Subscribers are told by ``resync`` (``backfill_failed`` on the first
  failure only, ``backfill`` on success) and re-snapshot.
* **Bounded**: at most ``concurrency`` requests at once (a desk opening 30
  symbols must not fire 60 requests at the relay), and a retry stops as soon
  as its symbol is no longer watched (its state object is replaced or gone).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

import aiohttp

from shared.backoff import Backoff

from . import history
from .state import FeedSymbol
from .urls import redact_url

log = logging.getLogger(__name__)


class Backfiller:
    def __init__(self, *, protocol: str, base: str, api_key: str, max_bars: int,
                 states: dict[str, FeedSymbol], data_clock: Callable[[], int], has_data: Callable[[], bool],
                 resync: Callable[[str, str], None], concurrency: int = 4, retry: tuple[float, float] = (1.0, 30.0),
                 clock_wait: float = 2.0) -> None:
        self.protocol, self.base, self._key, self.max_bars = protocol, base, api_key, max_bars
        self.states, self.data_clock, self.has_data, self.resync = states, data_clock, has_data, resync
        self.retry = retry
        self.clock_wait = clock_wait
        self._sem = asyncio.Semaphore(concurrency)
        self._http: aiohttp.ClientSession | None = None
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
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _wanted(self, st: FeedSymbol) -> bool:
        return self.states.get(st.symbol) is st

    async def _fetch(self, st: FeedSymbol) -> tuple[list[list], float | None]:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        data_ms = st.last_ms or self.data_clock()
        if self.protocol == "polygon":
            return await history.fetch_polygon_bars(self._http, self.base, self._key, st.symbol, data_ms,
                                                    self.max_bars)
        return await history.fetch_relay_bars(self._http, self.base, st.symbol, data_ms, self.max_bars)

    async def _run(self, st: FeedSymbol) -> None:
        sym = st.symbol
        loop = asyncio.get_running_loop()
        t_end = loop.time() + self.clock_wait
        while not self.has_data() and self._wanted(st) and loop.time() < t_end:
            await asyncio.sleep(0.1)
        backoff = Backoff(*self.retry)
        told = False
        while self._wanted(st):
            async with self._sem:
                if not self._wanted(st):
                    return
                self.attempts += 1
                try:
                    bars, prev = await self._fetch(st)
                    error = None
                except history.HistoryError as e:
                    error = str(e)
                except (asyncio.TimeoutError, aiohttp.ClientError) as e:
                    error = f"history request failed ({type(e).__name__})"
            if not self._wanted(st):
                return  # dropped while we waited
            if error is None:
                st.backfill_count = st.merge_history(bars, prev)
                st.backfill = "done"
                st.backfill_message = f"{len(bars)} bars from {redact_url(self.base)}"
                log.info("%s: backfilled %d bars (%d merged)", sym, len(bars), st.backfill_count)
                self.resync(sym, "backfill")
                return
            delay = backoff.next()
            st.backfill = "failed"
            st.backfill_message = f"{error}; retry in {delay:.0f}s (live bars keep flowing)"
            log.warning("%s: backfill failed: %s", sym, st.backfill_message)
            if not told:
                told = True
                self.resync(sym, "backfill_failed")
            await asyncio.sleep(delay)
