"""Where the pump's events come from: the synthetic market or a paced replay.

Why apart from the server: which events are due at a given sim time (and in
which order) is tape logic, not I/O; the server's pump calls
``advance(now)`` every tick and frames and queues whatever comes back (events
as ``(channel, symbol)`` keys plus their encoded bytes, encoded once and
shared by every connection).

* :class:`SyntheticTape` - the tapes of the symbols someone streams. A symbol
  nobody streamed yet is first caught up to the clock silently in a worker
  thread (hours of tape; generating them on the loop would freeze every
  client), so its subscriber's data starts at "now", with no burst of older
  events. **The first catch-up runs alone, then up to ``MAX_CATCHUPS`` at
  once, a history request first**: a window subscribes its symbol and a watch
  list at once, and six catch-ups sharing the GIL finished together after
  ~3-5 s, so the feed (which asks for history once data flows) and the first
  chart waited for all of them; alone, the first is done in ~0.9 s, and the
  symbol whose history a feed asks for jumps the queue (bench/startup.py).
  After the first, several at once: measured under load, 20 symbols one at a
  time took 2.3x as long as 6 threads at once. Each tick generates within a CPU budget (``TICK_BUDGET_S``): a
  machine that cannot keep up lets the tape lag the clock, never the loop. The desktop's chart
  symbols are caught up before anyone asks (``--warm``, :mod:`.listen`); a finished catch-up
  more than ``STALE_MS`` behind the clock (warmed, never streamed) runs again in the thread.
* :class:`ReplayPacer` - a replay on one shared clock (a client joins
  "live"); with ``loop`` the file repeats, each pass re-stamped one file-span
  later (minute aligned).
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable

import orjson

from .market import SyntheticMarket, session_on_or_before
from .replay import ReplayData, shift_event

Batch = tuple[list[tuple[str, str]], list[bytes]]
SLICE_MS = 100  # sim time generated between two looks at the budget
MAX_CATCHUPS = 4  # catch-ups at once after the first one (which runs alone)
TICK_BUDGET_S = 0.05  # generation per pump tick; beyond it the tape lags the clock
STALE_MS = 10_000  # a finished catch-up this far behind the clock is run again (in the thread)


def _tape_time(e: dict) -> int:
    t = e.get("t")
    return t if t is not None else e["e"]


class SyntheticTape:
    def __init__(self, seed: int, rate_fn: Callable[[int], float | None] | None = None):
        self.market = SyntheticMarket(seed, session_on_or_before, rate_fn)
        self.live: set[str] = set()  # symbols the pump keeps current
        self._catchups: dict[str, asyncio.Future] = {}
        self._waiting: list[str] = []  # catch-ups not started yet, the next first
        self._running = 0  # catch-ups in worker threads
        self._urgent: set[str] = set()  # waiting catch-ups a history request waits for
        self._done_any = False  # the first catch-up has finished (it runs alone)
        self._now = 0  # the latest clock seen: a queued catch-up runs up to the clock of its start
        self._warmed: set[str] = set()  # caught up by ``warm``, not yet streamed or served
        self.tape_ms: int | None = None  # how far the live tapes are generated (lags ``now`` under overload)

    def catch_up(self, sym: str, now: int, urgent: bool = False) -> asyncio.Future:
        """Bring ``sym`` up to the clock silently in a worker thread (one writer per tape at a time,
        one catch-up at a time); ``urgent`` (a history request waits for it) moves it to the front."""
        self._now = max(self._now, now)
        fut = self._catchups.get(sym)
        if fut is not None and fut.done() and sym in self._warmed and now - self.market.get(sym, now).t > STALE_MS:
            # Warmed long ago and never streamed: catch up again in the thread, once, not on the loop.
            # Only a warm's catch-up: a done one of a streaming symbol is always taken as it is (at a
            # fast --speed the clock moves more than STALE_MS between two ticks, so re-running it
            # would never let the symbol go live).
            self._warmed.discard(sym)
            del self._catchups[sym]
            fut = None
        if fut is None:
            fut = asyncio.get_running_loop().create_future()
            self._catchups[sym] = fut
            self._waiting.append(sym)
        if urgent and sym in self._waiting and sym not in self._urgent:
            self._waiting.remove(sym)
            self._waiting.insert(len(self._urgent & set(self._waiting)), sym)  # after earlier requests
            self._urgent.add(sym)
        self._start_next()
        return fut

    def _start_next(self) -> None:
        while self._waiting and self._running < (MAX_CATCHUPS if self._done_any else 1):
            self._start(self._waiting.pop(0))

    def _start(self, sym: str) -> None:
        self._running += 1
        self._urgent.discard(sym)
        now = self._now
        work = asyncio.ensure_future(asyncio.to_thread(self.market.get(sym, now).advance, now, None))

        def done(w: asyncio.Future) -> None:
            self._running -= 1
            self._done_any = True
            fut = self._catchups.get(sym)
            if fut is not None and not fut.done():
                if w.cancelled():
                    fut.cancel()
                elif w.exception() is not None:
                    fut.set_exception(w.exception())  # type: ignore[arg-type]
                else:
                    fut.set_result(None)
            self._start_next()

        work.add_done_callback(done)

    def warm(self, sym: str, now: int) -> asyncio.Future:
        """A catch-up before anyone asks (``--warm``); if nobody comes for ``STALE_MS``, the first to ask
        gets it caught up again in the thread."""
        self._warmed.add(sym)
        return self.catch_up(sym, now)

    def advance(self, now: int, wanted: set[str], seconds: set[str]) -> Batch:
        """Events up to ``now`` of the ``wanted`` symbols that are caught up; ``seconds``: who gets A bars."""
        live = set()
        self._now = max(self._now, now)
        for sym in sorted(wanted):
            if sym in self.live:
                live.add(sym)
                continue
            fut = self.catch_up(sym, now)
            if fut.done():
                del self._catchups[sym]
                self._warmed.discard(sym)
                fut.result()
                # the clock moved on while the thread worked: close that small gap silently too
                self.market.get(sym, now).advance(now, None)
                live.add(sym)
        self.live = live
        for sym in live:
            self.market.get(sym, now).emit_seconds = sym in seconds
        events: list[dict] = []
        # Generate in slices within a CPU budget per tick: when the machine cannot keep up with the
        # clock (a --rate beyond it, a loaded machine) the tape falls behind and catches up later,
        # instead of one tick taking ever longer and freezing every connection (a death spiral).
        t = now if self.tape_ms is None or not live else self.tape_ms
        order = sorted(live)
        deadline = time.perf_counter() + TICK_BUDGET_S
        while t < now:
            t = min(now, t + SLICE_MS)
            self.market.advance(order, t, events)
            if time.perf_counter() > deadline:
                break
        self.tape_ms = max(t, self.tape_ms or t)
        if len(live) > 1:
            events.sort(key=_tape_time)
        dumps = orjson.dumps
        return [(e["ev"], e["sym"]) for e in events], [dumps(e) for e in events]

    async def minute_bars(self, sym: str, now: int) -> list[dict]:
        """Finished bars up to ``now`` (catching a symbol nobody streams up first)."""
        if sym not in self.live:
            fut = self.catch_up(sym, now, urgent=True)
            await asyncio.shield(fut)
            if self._catchups.get(sym) is fut:
                del self._catchups[sym]
                self._warmed.discard(sym)
                self.market.get(sym, now).advance(now, None)  # a warmed tape's small gap to the clock
        return list(self.market.get(sym, now).minute_bars())

    def daily_bars(self, sym: str, now: int, with_today: bool = True) -> list[dict]:
        m = self.market.get(sym, now)
        days = list(m.daily_bars())
        today = m.today_daily_bar() if with_today else None
        if today:
            days.append(today)
        return days

    def price(self, sym: str, now: int) -> float:
        m = self.market.get(sym, now)
        return round((m.mid if m.have_quote else m.prev_close) / 100, 2)


class ReplayPacer:
    def __init__(self, data: ReplayData, loop: bool):
        self.data = data
        self.loop = loop
        self.pos = 0
        self.passes = 0

    def advance(self, now: int) -> Batch:
        r = self.data
        span = r.span_ms + 60_000 - r.span_ms % 60_000  # loops stay minute-aligned
        offset = self.passes * span
        start = end = self.pos
        times, n = r.times, len(r.times)
        while end < n and times[end] + offset <= now:
            end += 1
        enc: list[bytes] = []
        if end > start:
            if offset == 0:
                enc = r.encoded[start:end]
            else:  # later passes: re-stamp (paced rates, so the cost is small)
                enc = [orjson.dumps(shift_event(orjson.loads(b), offset)) for b in r.encoded[start:end]]
        keys = r.keys[start:end]
        self.pos = end
        if end >= n and self.loop:
            self.pos = 0
            self.passes += 1
        return keys, enc

    def minute_bars(self, sym: str, now: int, streaming_all: bool) -> list[dict]:
        """The file's AM bars whose minute has passed (none with ``--max``: everything is on the stream)."""
        if streaming_all:
            return []
        return [b for b in self.data.bars.get(sym, []) if b["e"] <= now]

    def price(self, sym: str, now: int) -> float | None:
        bars = [b for b in self.data.bars.get(sym, []) if b.get("e", 0) <= now] or self.data.bars.get(sym, [])
        return bars[-1]["c"] if bars else None
