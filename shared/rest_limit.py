"""The one REST rate limiter: every history request of the feed waits here first.

Why it looks like this
----------------------
* **A plan is "N requests per period"** (``rest_rate``: ``5/min``, ``100/s``,
  ``unlimited``; empty = by upstream: Polygon's own REST host gets the free
  tier's 5/min, the simulator and a relay are unlimited). :func:`parse_rate` is
  the one parser (the setting's check uses it too).
* **The bucket never exceeds the plan in *any* window of one period**: a token
  comes back exactly one period after its request finished (a sliding-window
  log; a classic refill-at-rate bucket that starts full lets 2N-1 requests
  through one minute; counting from the send would let a request that was slow
  to go out - a new connection - land closer than a period to the next).
  :class:`RateBucket` is sans-I/O: ``now`` is passed in, so the tests drive it
  on a fake clock.
* :class:`RestLimiter` is the async wait around it: callers queue in FIFO order
  and each learns its place (``on_ahead``), so a window can say "waiting for
  the data provider's rate limit (3 ahead)". ``SAFETY_S`` is added to every
  wait: the server counts arrivals, and our clock and its clock differ by the
  network's jitter.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from dataclasses import dataclass
from typing import Awaitable, Callable
from urllib.parse import urlsplit

PERIODS = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0, "h": 3600.0,
           "hour": 3600.0}
_RATE = re.compile(r"^(\d+)/(\d+(?:\.\d+)?)?([a-z]+)$")
POLYGON_FREE = "5/min"     # Polygon's (Massive's) free tier; a paid plan sets rest_rate = "unlimited"
SAFETY_S = 0.25            # added to each wait (clock skew and network jitter between us and the server)


@dataclass(frozen=True)
class Rate:
    count: int
    period: float  # seconds

    def describe(self) -> str:
        for name, secs in (("s", 1.0), ("min", 60.0), ("h", 3600.0)):
            if self.period == secs:
                return f"{self.count}/{name}"
        return f"{self.count}/{self.period:g}s"


def parse_rate(text: str) -> Rate | None:
    """``"5/min"`` -> Rate(5, 60); ``"3/2s"`` -> Rate(3, 2); ``"unlimited"`` -> None; else ValueError."""
    s = str(text).strip().lower().replace(" ", "")
    if s in ("unlimited", "none", "off", "0"):
        return None
    m = _RATE.match(s)
    if m is None or int(m.group(1)) < 1 or m.group(3) not in PERIODS:
        raise ValueError(f"expected N/PERIOD like 5/min, 100/s, 3/2s or 'unlimited'; got {text!r}")
    n = float(m.group(2) or 1)
    if not 0 < n <= 86_400:
        raise ValueError(f"bad period in {text!r}")
    return Rate(int(m.group(1)), n * PERIODS[m.group(3)])


def check_rate(text: str) -> None:
    """The setting's check (``shared.config``): empty = by upstream."""
    if text != "":
        parse_rate(text)


def default_rate(setting: str, rest_base: str) -> tuple[Rate | None, str]:
    """(rate, why) for the configured ``rest_rate`` and the REST host it applies to."""
    if setting:
        return parse_rate(setting), "setting rest_rate"
    host = urlsplit(rest_base).hostname or ""
    if host.endswith(("massive.com", "polygon.io")):
        return parse_rate(POLYGON_FREE), "Polygon free tier (set rest_rate for a paid plan)"
    return None, "simulator / relay: no limit"


class RateBucket:
    """At most ``rate.count`` requests in any ``rate.period`` seconds (module doc). Sans-I/O.

    A token is taken when a request is sent (:meth:`take`) and comes back one
    period after that request *finished* (:meth:`done`): the server saw the request
    before we saw its answer, so the next one it sees on that token is a full
    period later by the server's clock too, however long the request took to go out.
    """

    def __init__(self, rate: Rate | None):
        self.rate = rate
        self.spent: deque[float] = deque()  # completion times of the last requests, oldest first
        self.busy = 0                       # tokens of requests still in flight

    def _expire(self, now: float) -> None:
        if self.rate is not None:
            edge = now - self.rate.period
            while self.spent and self.spent[0] <= edge:
                self.spent.popleft()

    def tokens(self, now: float) -> float:
        if self.rate is None:
            return float("inf")
        self._expire(now)
        return self.rate.count - len(self.spent) - self.busy

    def take(self, now: float) -> float:
        """Take a token and return 0.0, or return the seconds until one is back (``inf``: when a
        request in flight finishes)."""
        if self.rate is None:
            return 0.0
        if self.tokens(now) > 0:
            self.busy += 1
            return 0.0
        return self.spent[0] + self.rate.period - now if self.spent else float("inf")

    def done(self, now: float) -> None:
        """The request of a taken token finished (answered, failed or cancelled)."""
        if self.rate is not None:
            self.busy -= 1
            self.spent.append(now)


class RestLimiter:
    """FIFO async wait on one :class:`RateBucket` and at most ``concurrency`` requests in flight.

    Both bounds are one queue, so a caller's place (``on_ahead``) is exact, and a
    token is spent when the request is sent (a token taken early and sent later
    could put more than N requests into one period).
    """

    def __init__(self, rate: Rate | None, why: str = "", clock: Callable[[], float] = time.monotonic,
                 safety: float = SAFETY_S, concurrency: int = 4,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        self.bucket = RateBucket(rate)
        self.why, self.clock, self.safety, self.concurrency = why, clock, safety, concurrency
        self.sleep = sleep  # with ``clock``: a test runs the limiter on fake time
        self._queue: deque[tuple[asyncio.Future, Callable[[int], None] | None]] = deque()
        self._pump: asyncio.Task | None = None
        self._freed: asyncio.Event | None = None
        self.in_flight = 0
        self.requests = 0   # requests let through
        self.waited = 0     # requests that had to queue

    @property
    def rate(self) -> Rate | None:
        return self.bucket.rate

    def slot(self, on_ahead: Callable[[int], None] | None = None) -> "_Slot":
        """``async with limiter.slot(cb):`` one request (``cb(n)``: n requests ahead while queued)."""
        return _Slot(self, on_ahead)

    async def acquire(self, on_ahead: Callable[[int], None] | None = None) -> None:
        if not self._queue and self.in_flight < self.concurrency and self.bucket.take(self.clock()) == 0.0:
            self._grant()
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future = loop.create_future()
        self._queue.append((fut, on_ahead))
        self.waited += 1
        if on_ahead is not None:
            on_ahead(len(self._queue) - 1)
        if self._pump is None or self._pump.done():
            self._pump = loop.create_task(self._run(), name="rest-limiter")
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # granted just as we were cancelled
            else:
                self._drop(fut)
            raise

    def _grant(self) -> None:
        self.in_flight += 1
        self.requests += 1

    def release(self) -> None:
        self.in_flight -= 1
        self.bucket.done(self.clock())
        if self._freed is not None:
            self._freed.set()

    def _drop(self, fut: asyncio.Future) -> None:
        for i, (f, _) in enumerate(self._queue):
            if f is fut:
                del self._queue[i]
                self._tell()
                return

    def _tell(self) -> None:
        for i, (_, cb) in enumerate(self._queue):
            if cb is not None:
                cb(i)

    async def _run(self) -> None:
        if self._freed is None:
            self._freed = asyncio.Event()
        while self._queue:
            if self.in_flight >= self.concurrency:
                self._freed.clear()
                await self._freed.wait()
                continue
            wait = self.bucket.take(self.clock())
            if wait == float("inf"):  # every token is on a request in flight: wait for one to finish
                self._freed.clear()
                await self._freed.wait()
                continue
            if wait > 0:
                await self.sleep(wait + self.safety)
                continue
            fut, _ = self._queue.popleft()
            self._grant()
            if not fut.done():
                fut.set_result(None)
            else:
                self.release()
            self._tell()

    def status(self) -> dict:
        r = self.rate
        tokens = self.bucket.tokens(self.clock())
        return {"limit": r.describe() if r else "unlimited", "why": self.why,
                "tokens": None if r is None else int(tokens), "queued": len(self._queue),
                "in_flight": self.in_flight, "requests": self.requests, "waited": self.waited}

    def close(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
        for fut, _ in self._queue:
            fut.cancel()
        self._queue.clear()


class _Slot:
    def __init__(self, limiter: RestLimiter, on_ahead: Callable[[int], None] | None):
        self.limiter, self.on_ahead = limiter, on_ahead

    async def __aenter__(self) -> None:
        await self.limiter.acquire(self.on_ahead)

    async def __aexit__(self, *exc) -> None:
        self.limiter.release()
