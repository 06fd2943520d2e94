"""The upstream WebSocket connection: the seed's ``PolygonWebSocketClient``, asyncio-native.

Why it looks like this: all protocol decisions are in a sans-I/O core
(``protocols.py``); this class only moves frames, keeps the connection alive
and decides *when* to reconnect. It keeps the seed's operations
(``connect_to_server``, ``subscribe``, ``unsubscribe``, ``change_symbol``,
``disconnect``) but reports through callbacks instead of Qt signals, so it
runs in the feed's event loop with no thread.

Reconnects: exponential backoff from ``reconnect_delay`` to
``max_reconnect_delay`` with jitter (half fixed, half random, so a fleet of
feeds doesn't reconnect in lock-step), reset once a connection stayed healthy
for ``healthy_after`` seconds. ``max_reconnect_attempts`` consecutive failures
end in state ``failed`` (0 = forever, the daemon's choice). ``auth_failed``
and ``max_connections`` wait long (``auth_retry_delay`` / ``busy_retry_delay``)
instead of hammering the upstream with a bad key.

Stall watchdog: while symbols are subscribed and the market is active at the
*data* clock (the last event's time plus the time since it arrived, so a
replay of a past session is judged by its own clock), ``stall_timeout``
seconds of silence force a reconnect (state ``stalled``). The clock is
injected for tests.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Callable, Iterable

import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from shared import market_hours

from .protocols import (AUTH_FAILED, CONNECTED, CONNECTING, FAILED, MAX_CONNECTIONS, RECONNECTING, STALLED,
                        STOPPED, Output, RelayCore, _Core)

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 8 * 1024 * 1024  # a Polygon batch is far below this; bigger is hostile or broken


class Backoff:
    """Exponential delays ``initial * 2**n`` capped at ``cap``, each jittered into ``[d/2, d]``."""

    def __init__(self, initial: float, cap: float, rng: Callable[[], float] = random.random) -> None:
        self.initial, self.cap, self.rng = initial, cap, rng
        self.failures = 0

    def next(self) -> float:
        d = min(self.cap, self.initial * (2 ** min(self.failures, 30)))
        self.failures += 1
        return d / 2 + self.rng() * d / 2

    def reset(self) -> None:
        self.failures = 0


def redact_url(url: str) -> str:
    """The URL without credentials or query (where some tools put ``apiKey``)."""
    if "@" in url.split("//", 1)[-1].split("/", 1)[0]:
        scheme, rest = url.split("//", 1)
        url = scheme + "//" + rest.split("@", 1)[1]
    return url.split("?", 1)[0]


class PolygonWebSocketClient:
    """One upstream connection with reconnects, keepalive and a stall watchdog."""

    def __init__(
        self,
        url: str,
        core: _Core,
        *,
        on_events: Callable[[dict[str, list[list]]], None],
        on_state: Callable[[str, str], None] = lambda s, m: None,
        on_errors: Callable[[list[tuple[str, str]]], None] = lambda e: None,
        reconnect_delay: float = 1.0,
        max_reconnect_delay: float = 30.0,
        max_reconnect_attempts: int = 10,
        healthy_after: float = 30.0,
        stall_timeout: float = 30.0,
        auth_retry_delay: float = 300.0,
        busy_retry_delay: float = 60.0,
        ping_interval: float = 20.0,
        max_size: int = MAX_FRAME_BYTES,
        clock: Callable[[], float] = time.monotonic,
        market_active: Callable[[int], bool] = market_hours.is_active,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.url = url
        self.core = core
        self.on_events, self.on_state, self.on_errors = on_events, on_state, on_errors
        self.backoff = Backoff(reconnect_delay, max_reconnect_delay, rng)
        self.max_reconnect_attempts = max_reconnect_attempts
        self.healthy_after = healthy_after
        self.stall_timeout = stall_timeout
        self.auth_retry_delay = auth_retry_delay
        self.busy_retry_delay = busy_retry_delay
        self.ping_interval = ping_interval
        self.max_size = max_size
        self.clock = clock
        self.market_active = market_active

        self.state = STOPPED
        self.message = ""
        self.source: str | None = None  # data-source label announced by the upstream (the sim's)
        self.attempts = 0               # consecutive failed attempts
        self.connects = 0               # successful connections so far
        self.since_ms = int(time.time() * 1000)
        self.frames = 0
        self._ws: websockets.ClientConnection | None = None
        self._task: asyncio.Task | None = None
        self._stop = asyncio.Event()
        self._last_rx = clock()
        self._last_data_ms = 0          # data time of the latest event ...
        self._last_data_at = clock()    # ... and when it arrived
        self._stalled = False

    # ------------------------------------------------------------ seed operations

    def connect_to_server(self) -> asyncio.Task:
        """Start (or keep) the connection loop; returns its task."""
        if self._task is None or self._task.done():
            self._stop.clear()
            # Say so now, not at the task's first step: a status request answered in between
            # (the feed drains its control socket right after this call) must not read "stopped".
            self._set_state(CONNECTING if self.connects == 0 else RECONNECTING)
            self._task = asyncio.get_running_loop().create_task(self._run(), name="upstream")
        return self._task

    def subscribe(self, symbols: Iterable[str]) -> None:
        self._send(self.core.subscribe(symbols))

    def unsubscribe(self, symbols: Iterable[str]) -> None:
        self._send(self.core.unsubscribe(symbols))

    def change_symbol(self, symbol: str) -> None:
        """The seed's single-symbol switch: drop every other symbol, watch ``symbol``."""
        self.unsubscribe([s for s in self.core.wanted if s != symbol])
        self.subscribe([symbol])

    async def disconnect(self) -> None:
        """Clean stop: unsubscribe, close frame, end the loop."""
        self._stop.set()
        ws = self._ws
        if ws is not None:
            try:
                for m in self.core.unsubscribe(list(self.core.wanted)):
                    await asyncio.wait_for(ws.send(m), 0.5)
                await asyncio.wait_for(ws.close(1000, "client stopping"), 1.0)
            except Exception as e:  # closing is best effort; the loop ends regardless
                log.debug("close: %s", e)
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 1.0)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                self._task.cancel()
        self._set_state(STOPPED, "stopped")

    # ------------------------------------------------------------ internals

    @property
    def public_url(self) -> str:
        return redact_url(self.url)

    def _set_state(self, state: str, message: str = "") -> None:
        if state == self.state and message == self.message:
            return
        self.state, self.message = state, message
        self.since_ms = int(time.time() * 1000)
        (log.warning if state in (AUTH_FAILED, MAX_CONNECTIONS, STALLED, FAILED) else log.info)(
            "upstream %s: %s%s", self.public_url, state, f" ({message})" if message else "")
        self.on_state(state, message)

    def _send(self, messages: list[str]) -> None:
        ws = self._ws
        if not messages or ws is None:
            return  # not connected: the union is sent on the next connect
        for m in messages:
            asyncio.get_running_loop().create_task(self._send_one(ws, m))

    async def _send_one(self, ws, m: str) -> None:
        try:
            await ws.send(m)
        except ConnectionClosed:
            pass  # the receive loop sees the close and reconnects (re-subscribing the union)

    @property
    def has_data(self) -> bool:
        return bool(self._last_data_ms)

    def data_clock_ms(self) -> int:
        """The upstream's own clock: last event time + time since it arrived (wall time before any)."""
        if not self._last_data_ms:
            return int(time.time() * 1000)
        return self._last_data_ms + int((self.clock() - self._last_data_at) * 1000)

    async def _run(self) -> None:
        while not self._stop.is_set():
            self._set_state(CONNECTING if self.connects == 0 else RECONNECTING,
                            f"attempt {self.attempts + 1}" if self.attempts else "")
            outcome, reason, healthy = await self._connect_once()
            if self._stop.is_set():
                break
            if outcome == FAILED:
                self._set_state(FAILED, reason)
                return
            if outcome == AUTH_FAILED:
                delay = self.auth_retry_delay
                self._set_state(AUTH_FAILED, f"{reason}; next try in {delay:.0f}s")
            elif outcome == MAX_CONNECTIONS:
                delay = self.busy_retry_delay
                self._set_state(MAX_CONNECTIONS, f"{reason}; next try in {delay:.0f}s")
            else:
                if healthy:
                    self.backoff.reset()
                    self.attempts = 0
                self.attempts += 1
                if self.max_reconnect_attempts and self.attempts > self.max_reconnect_attempts:
                    self._set_state(FAILED, f"gave up after {self.max_reconnect_attempts} attempts: {reason}")
                    return
                delay = self.backoff.next()
                if outcome != STALLED:
                    self._set_state(RECONNECTING, f"{reason}; retry in {delay:.2f}s")
            try:
                await asyncio.wait_for(self._stop.wait(), delay)
            except asyncio.TimeoutError:
                pass

    async def _connect_once(self) -> tuple[str, str, bool]:
        """One connection's life: (outcome, reason, stayed healthy)."""
        opened: float | None = None
        outcome, reason = RECONNECTING, "connection closed"
        watchdog: asyncio.Task | None = None
        try:
            async with websockets.connect(self.url, max_size=self.max_size, ping_interval=self.ping_interval,
                                          ping_timeout=self.ping_interval, open_timeout=10, close_timeout=1,
                                          max_queue=64) as ws:
                self._ws = ws
                opened = self._last_rx = self.clock()
                for m in self.core.on_open():
                    await ws.send(m)
                if isinstance(self.core, RelayCore):
                    self._connected()
                watchdog = asyncio.get_running_loop().create_task(self._watchdog(ws))
                while True:
                    frame = await ws.recv(decode=False)
                    self._last_rx = self.clock()
                    self.frames += 1
                    out = self.core.receive(frame)
                    if out.batches:
                        self._last_data_ms, self._last_data_at = out.last_ms, self._last_rx
                        self.on_events(out.batches)
                    if out.send or out.state or out.errors or out.source:
                        verdict = await self._control(ws, out)
                        if verdict is not None:
                            outcome, reason = verdict
                            await ws.close(1000, "client")
                            break
                    # recv() returns without suspending while frames are buffered: yield once per
                    # frame so snapshots, heartbeats and subscriptions are served under a flood.
                    await asyncio.sleep(0)
        except ConnectionClosed as e:
            if getattr(self, "_stalled", False):
                outcome, reason = STALLED, f"no data for {self.stall_timeout:.0f}s while the market is active"
            elif e.rcvd is not None and e.rcvd.code == 1009 or (e.sent is not None and e.sent.code == 1009):
                self.core.counters["oversized_frame"] += 1
                self.on_errors([("oversized_frame", f"upstream frame over {self.max_size} bytes; reconnecting")])
                reason = "oversized frame"
            else:
                code = e.rcvd.code if e.rcvd is not None else None
                reason = f"connection closed ({code})" if code else "connection lost"
        except InvalidURI:
            outcome, reason = FAILED, f"not a WebSocket URL: {self.public_url}"  # retrying cannot help
        except InvalidHandshake as e:
            reason = f"handshake refused: {str(e)[:120]}"
        except (OSError, asyncio.TimeoutError) as e:
            reason = f"cannot connect: {e.strerror or type(e).__name__}" if isinstance(e, OSError) \
                else "connect timed out"
        finally:
            self._ws = None
            self._stalled = False
            if watchdog is not None:
                watchdog.cancel()
        healthy = opened is not None and self.clock() - opened >= self.healthy_after
        return outcome, reason, healthy

    def _connected(self) -> None:
        if self.state != CONNECTED:
            self.connects += 1
        self._set_state(CONNECTED, "")

    async def _control(self, ws, out: Output) -> tuple[str, str] | None:
        if out.source:
            self.source = out.source
        for m in out.send:
            await ws.send(m)
        if out.errors:
            self.on_errors(out.errors)
        if out.state == CONNECTED:
            self._connected()
        elif out.state in (AUTH_FAILED, MAX_CONNECTIONS):
            return out.state, out.message
        return None

    async def _watchdog(self, ws) -> None:
        """Force a reconnect on a silent upstream while the market is active; keep relays pinged."""
        period = max(0.05, min(1.0, self.stall_timeout / 4))
        last_ping = self.clock()
        while True:
            await asyncio.sleep(period)
            now = self.clock()
            if isinstance(self.core, RelayCore) and now - last_ping >= self.ping_interval:
                last_ping = now
                self._send([self.core.ping()])
            silent = now - self._last_rx
            if (self.core.wanted and self.core.ready and silent >= self.stall_timeout
                    and self.market_active(self.data_clock_ms())):
                self._stalled = True
                self._set_state(STALLED, f"no data for {silent:.0f}s while the market is active; reconnecting")
                await ws.close(1011, "stalled")
                return
