"""The upstream WebSocket connection: the seed's ``PolygonWebSocketClient``, asyncio-native and thin.

Why it looks like this: protocol decisions live in the sans-I/O core
(``protocols.py``: frames -> events, messages, statuses) and every decision
about the connection's life - states, timeouts, backoff, stall, when it is
healthy - in the sans-I/O session (``upstream_session.py``). What is left
here is I/O: open a link (``upstream_link.py``: picows or websockets), "wait for the frames
already waiting or the session's deadline", hand them to the feed's frame
boundary as one batch (``handle_frames``: folded and encoded once per symbol),
carry out the session's actions.
It keeps the seed's operations (``connect_to_server``, ``subscribe``, ``unsubscribe``,
``change_symbol``, ``disconnect``) with callbacks, so it runs in the feed's loop with no thread.

**Supervised.** The connection loop runs inside :meth:`_supervise`: an
exception that escapes it (a bug; frame-level trouble is contained by the
feed's boundary before it gets here) is logged, counted (``restarts``),
shown as state ``restarting`` (never ``connected``), and the loop starts
again after the shared backoff. ``test_hook`` (called once per batch of frames,
outside the frame boundary) lets a test kill the loop from inside.

**Relay client ids** (:mod:`.client_ids`): ``{client_id}`` becomes the
configured id, the installation's stable id and a per-connection suffix (a
relay keeps every callback an id ever registered). URLs are shown redacted
(no userinfo, no query: where some tools put ``apiKey``).

**Reconnect** (:meth:`reconnect`, the feed's ``reconnect`` command): a whole attempt budget and an
attempt now; the loop's waits wake on it, and a loop that ended in ``failed`` starts again.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Callable, Iterable

from shared import market_hours
from shared.backoff import Backoff

from .client_ids import ClientIds
from .protocols import Output, RelayCore, _Core
from .upstream_link import BadURL, Link, LinkClosed, Refused, open_link, resolve_transport
from .upstream_replies import control_actions
from .urls import redact_url
from .upstream_session import State, UpstreamSession

log = logging.getLogger(__name__)
_FIRED = object()  # _frames: the link's timer fired (or none armed yet): arm the next one as the deadline is

MAX_FRAME_BYTES = 8 * 1024 * 1024  # a Polygon batch is far below this; bigger is hostile or broken


class PolygonWebSocketClient:
    """One upstream connection, driven by an :class:`UpstreamSession`, supervised."""

    def __init__(
        self,
        url: str,
        core: _Core,
        *,
        on_events: Callable[[dict[str, list[list]]], None] = lambda b: None,
        handle_frame: Callable[[bytes], Output | None] | None = None,
        handle_frames: Callable[[list[bytes]], list[Output | None]] | None = None,
        on_state: Callable[[str, str], None] = lambda s, m: None,
        on_errors: Callable[[list[tuple[str, str]]], None] = lambda e: None,
        client_id: str = "live_monitor",
        reconnect_delay: float = 1.0,
        max_reconnect_delay: float = 30.0,
        max_reconnect_attempts: int = 10,
        healthy_after: float = 30.0,
        stall_timeout: float = 30.0,
        auth_retry_delay: float = 300.0,
        busy_retry_delay: float = 60.0,
        ping_interval: float = 20.0,
        subscribe_timeout: float = 10.0,
        max_size: int = MAX_FRAME_BYTES,
        transport: str = "picows",
        clock: Callable[[], float] = time.monotonic,
        wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        market_active: Callable[[int], bool] = market_hours.is_active,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.url_template = url
        self.core = core
        self.on_events, self.on_state, self.on_errors = on_events, on_state, on_errors
        one = handle_frame or self._plain_frame
        self.handle_frames = handle_frames or (lambda frames: [one(f) for f in frames])
        self.client_id = client_id
        self._ids = ClientIds(url, client_id)
        self._n = 0
        self.url = self._ids.url(0)
        relay = isinstance(core, RelayCore)
        self.session = UpstreamSession(
            core.kind, channels=core.channels, reconnect_delay=reconnect_delay,
            max_reconnect_delay=max_reconnect_delay, max_attempts=max_reconnect_attempts,
            healthy_after=healthy_after, stall_timeout=stall_timeout, auth_retry_delay=auth_retry_delay,
            busy_retry_delay=busy_retry_delay, subscribe_timeout=subscribe_timeout,
            ping_interval=ping_interval if relay else None, ping_message=core.ping() if relay else "",
            market_active=market_active, wall_ms=wall_ms, rng=rng)
        self.ping_interval = ping_interval
        self.max_size = max_size
        self.transport = resolve_transport(transport)  # picows, or websockets where picows cannot be imported
        self.clock, self.wall_ms = clock, wall_ms
        self.restart_backoff = Backoff(reconnect_delay, max_reconnect_delay, rng=rng)
        self.test_hook: Callable[[], None] | None = None

        self.state = State.STOPPED.value
        self.message = ""
        self.source: str | None = None   # data-source label announced by the upstream (the sim's)
        self.session_label: str | None = None  # the sim's clock: "virtual" | "wall"
        self.since_ms = wall_ms()
        self.frames = 0
        self.restarts = 0                # times the supervised loop died and was restarted
        self._ws: Link | None = None
        self._crashed_ws: Link | None = None
        self._task: asyncio.Task | None = None
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()  # set on stop and on reconnect: ends the loop's current wait
        self._connect_now = False
        self._close_req: tuple[int, str] | None = None

    # ------------------------------------------------------------ seed operations

    def connect_to_server(self) -> asyncio.Task:
        """Start (or keep) the supervised connection loop; returns its task."""
        if self._task is None or self._task.done():
            self._stop.clear()
            # Say so now, not at the task's first step: a status request answered in between
            # (the feed drains its control socket right after this call) must not read "stopped".
            self._apply(self.session.start(self.clock()))
            self._task = asyncio.get_running_loop().create_task(self._supervise(), name="upstream")
        return self._task

    def subscribe(self, symbols: Iterable[str]) -> None:
        new = [s for s in symbols if s not in self.core.wanted]
        msgs = self.core.subscribe(new)
        self.session.sent_subscribe(new if msgs else [], self.clock())
        self.session.wanted |= set(new)
        self._send(msgs)

    def unsubscribe(self, symbols: Iterable[str]) -> None:
        symbols = list(symbols)
        self._send(self.core.unsubscribe(symbols))
        self.session.sent_unsubscribe(symbols)

    def change_symbol(self, symbol: str) -> None:
        """The seed's single-symbol switch: drop every other symbol, watch ``symbol``."""
        self.unsubscribe([s for s in self.core.wanted if s != symbol])
        self.subscribe([symbol])

    def reconnect(self) -> bool:
        """The user's Reconnect: a whole attempt budget, and an attempt now when failed or waiting
        (an open connection or an attempt in flight is left alone). True when something changed."""
        if self._stop.is_set():
            return False
        s = self.session
        rev = s.rev
        self._apply(s.reconnect(self.clock()))
        if s.rev == rev:
            return False
        self._wake.set()
        if self._task is not None and self._task.done():  # the loop ended in failed: run it again
            self._task = asyncio.get_running_loop().create_task(self._supervise(), name="upstream")
        return True

    async def disconnect(self) -> None:
        """Clean stop: unsubscribe, close frame, end the loop."""
        self._stop.set()
        self._wake.set()
        ws = self._ws
        if ws is not None:
            try:
                for m in self.core.unsubscribe(list(self.core.wanted)):
                    ws.send(m)
                await ws.close(1000, "client stopping")
            except Exception as e:  # closing is best effort; the loop ends regardless
                log.debug("close: %s", e)
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 1.0)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                self._task.cancel()
        self._apply(self.session.stop(self.clock()))

    # ------------------------------------------------------------ views

    @property
    def public_url(self) -> str:
        return redact_url(self.url)

    @property
    def target(self) -> str:
        return redact_url(self.url_template)

    attempts = property(lambda self: self.session.attempts)
    connects = property(lambda self: self.session.connects)

    @property
    def has_data(self) -> bool:
        return bool(self.session._last_data_ms)

    def data_clock_ms(self) -> int:
        """The upstream's own clock: last event time + time since it arrived (wall time before any)."""
        ms = self.session.data_clock_ms(self.clock())
        return ms if ms is not None else self.wall_ms()

    # ------------------------------------------------------------ internals

    def _set_state(self, state: str, message: str) -> None:
        self.state, self.message = state, message
        self.since_ms = self.wall_ms()
        bad = state in ("auth_failed", "max_connections", "stalled", "failed", "subscribe_failed", "restarting")
        (log.warning if bad else log.info)("upstream %s: %s%s", self.public_url, state,
                                           f" ({message})" if message else "")
        if state == State.CONNECTED.value:
            self.restart_backoff.reset()
        self.on_state(state, message)

    def _apply(self, actions: list) -> None:
        for a in actions:
            kind = a[0]
            if kind == "state":
                self._set_state(a[1].value, a[2])
            elif kind == "connect":
                self._connect_now = True
            elif kind == "close":
                self._close_req = (a[1], a[2])
            elif kind == "send":
                self._send([a[1]])

    def _send(self, messages: list[str]) -> None:
        ws = self._ws
        if not messages or ws is None:
            return  # not connected: the union is sent on the next connect
        for m in messages:
            ws.send(m)  # written now; dropped once the link is closing (the next connection sends the union)

    def _plain_frame(self, frame: bytes) -> Output:
        """Without a feed boundary (tests of the client alone): decode and hand the events on."""
        out = self.core.receive(frame)
        if out.batches:
            self.on_events(out.batches)
        return out

    async def _supervise(self) -> None:
        while True:
            try:
                await self._run()
                return
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.restarts += 1
                log.error("upstream task failed; restarting it", exc_info=True)
                ws, self._crashed_ws = self._crashed_ws, None
                if ws is not None:
                    try:
                        await ws.close(1011, "client restarting")
                    except Exception:  # the connection may be broken in any way: abandon it
                        ws.abort()
                if self._stop.is_set():
                    return
                self._connect_now, self._close_req = False, None
                self._apply(self.session.crashed(f"{type(e).__name__}: {str(e)[:120]}",
                                                 self.restart_backoff.next(), self.clock()))

    async def _wait(self, deadline: float | None) -> None:
        """Until the deadline (None: until woken), a stop or a reconnect."""
        timeout = None if deadline is None else max(0.0, deadline - self.clock())
        self._wake.clear()  # no await since the loop looked at the session: nothing is missed
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    async def _run(self) -> None:
        s = self.session
        self._apply(s.start(self.clock()))
        while not self._stop.is_set():
            if self._connect_now:
                self._connect_now = False
                await self._connection()
                continue
            if s.state is State.FAILED:
                return
            await self._wait(s.deadline)
            if not self._stop.is_set():
                self._apply(s.tick(self.clock()))

    async def _connection(self) -> None:
        """One connection's life: open, frames and deadlines until it ends."""
        s = self.session
        self._n += 1
        self.url = self._ids.url(self._n)
        d = s.deadline
        try:
            ws = await open_link(self.url, max_size=self.max_size, ping_interval=self.ping_interval,
                                 timeout=max(0.01, d - self.clock()) if d else 10.0, transport=self.transport)
        except BadURL:
            self._apply(s.give_up(f"not a WebSocket URL: {self.public_url}", self.clock()))  # retrying can't help
            return
        except Refused as e:
            self._apply(s.closed(f"handshake refused: {str(e)[:120]}", self.clock()))
            return
        except (OSError, asyncio.TimeoutError) as e:
            reason = f"cannot connect: {e.strerror or type(e).__name__}" if isinstance(e, OSError) \
                else "connect timed out"
            self._apply(s.closed(reason, self.clock()))
            return
        self._ws = ws
        self._close_req = None
        reason = "connection closed"
        try:
            sent = self.core.on_open()
            for m in sent:
                ws.send(m)
            self._apply(s.opened(self.clock(), subscribed=sorted(self.core.wanted) if sent else ()))
            reason = await self._frames(ws)
        except LinkClosed as e:
            if e.oversized:
                self.core.counters["oversized_frame"] += 1
                self.on_errors([("oversized_frame", f"upstream frame over {self.max_size} bytes; reconnecting")])
                reason = "oversized frame"
            else:
                reason = f"connection closed ({e.code})" if e.code else "connection lost"
        except Exception:
            self._crashed_ws = ws  # the supervisor closes it before restarting
            raise
        finally:
            self._ws = None
        if self._close_req is not None:
            code, why = self._close_req
            self._close_req = None
            try:
                await ws.close(code, why)
            except Exception as e:  # best effort: the session has decided already
                log.debug("close: %s", e)
        if not self._stop.is_set():
            self._apply(s.closed(reason, self.clock()))

    async def _frames(self, ws: Link) -> str:
        """Wait for the frames already waiting or the session's deadline, until the session asks to close."""
        loop = asyncio.get_running_loop()
        s = self.session
        clock = self.clock
        last_d: object = _FIRED
        when = None
        while self._close_req is None and not self._stop.is_set():
            d = s.deadline
            if d != last_d:
                # The stall watchdog's deadline moves on with every frame: the link's timer is re-armed only
                # when the deadline comes sooner (or it fired). One left early wakes once for nothing - tick()
                # has nothing due and the next timer is armed from the deadline then - where re-arming it on
                # every frame cost a timer, a cancel and a heap entry per frame (4,000 a second at 20k ev/s).
                t = None if d is None else loop.time() + max(0.0, d - clock())
                if t is None or when is None or t < when or last_d is _FIRED:
                    when = t
                last_d = d
            frames = await ws.next(when)
            if frames:
                self._batch(frames)
            else:
                self._apply(s.tick(clock()))
                last_d = _FIRED
        return "closed by the client"

    def _batch(self, frames: list[bytes]) -> None:
        """The frames one read brought: one boundary call (one fold and encode per symbol), then the
        bookkeeping of each Output it returned, in order (data time, acks, control replies)."""
        self.frames += len(frames)
        now = self.clock()
        s = self.session
        hook = self.test_hook
        s.received(now)  # the stall watchdog: the upstream spoke
        for out in self.handle_frames(frames):
            if out is not None:
                if out.batches:
                    s.received(now, out.last_ms)
                    if s.pending:
                        # Events of a symbol prove its subscription works, whether or not the upstream acks.
                        self._apply(s.acked(list(out.batches), now))
                if out.send or out.state or out.errors or out.source or out.message or out.acks or out.sub_errors \
                        or not out.batches:
                    self._control(out, now)
        if hook is not None:
            hook()

    def _control(self, out: Output, now: float) -> None:
        if out.source:
            self.source = out.source
        self._send(out.send)
        if out.errors:
            self.on_errors(out.errors)
        actions, label = control_actions(self.session, self.core.kind, out, now, self.core.wanted)
        if label is not None:
            self.session_label = label
        self._apply(actions)
