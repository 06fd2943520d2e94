"""The feed: one upstream connection fanned out to any number of ZeroMQ subscribers.

Why it looks like this
----------------------
``Feed`` only wires the parts together and answers "what is going on"
(hello/status/heartbeats); each part is its own module with its reason:

* ``sockets.py``        binding the ROUTER (control) and XPUB (data), CURVE, subscriber count
* ``websocket_client``  the upstream connection (I/O), run by ``upstream_session`` (sans-I/O), supervised
* ``publisher.py``      the frame boundary: decode -> fold into state -> encode -> publish, contained
* ``subscriptions.py``  the upstream follows the debounced union of the subscribers' topics
* ``backfill.py``       history for a new symbol: the store at once, then the missing range over REST
* ``store_sync.py``     the history store (SQLite): load, write finished bars, prune (``store.py``: the SQL)
* ``shared.rest_limit`` the one REST rate limiter every history request waits at
* ``control.py``        control requests
* ``summary.py``        the watchlists' compact per-symbol summaries (``sum|SYM|``, <= 4 Hz, on change)
* ``alert_service.py``  alerts evaluated on the folded events, persisted, published on ``alert|``

One asyncio loop; plain pyzmq sockets on ``add_reader`` (edge-triggered FDs:
every reader drains, the heartbeat re-drains as a safety net). Snapshots are
served between frames on the same loop, so a snapshot's ``seq`` is exactly
the last event it holds. Clocks are injected (``clock`` monotonic seconds,
``wall_ms`` epoch ms) for tests.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter
from typing import Any, Callable

import zmq

from shared.config import Settings
from shared.models import messages as m
from shared.models import wire
from shared.rest_limit import RestLimiter, default_rate

from . import control, history
from .alert_service import AlertService
from .backfill import Backfiller
from .protocols import make_core
from .publisher import MAX_BATCH  # noqa: F401 - re-exported for the benchmarks' notes
from .publisher import Publisher
from .sockets import FeedError, FeedSockets, endpoint_host, is_loopback  # noqa: F401 - public names
from .state import FeedSymbol
from .store import HistoryStore
from .store_sync import StoreSync
from .subscriptions import UpstreamUnion
from .summary import Summaries
from .websocket_client import PolygonWebSocketClient

log = logging.getLogger(__name__)

SNDHWM = 1_000           # data messages (batches, ~1-500 events) queued per subscriber before dropping


def upstream_kind(settings: Settings) -> str:
    return settings.upstream if settings.upstream in ("sim", "relay", "polygon", "delayed") else "url"


def upstream_template(settings: Settings) -> str:
    """The upstream URL before ``{client_id}`` is filled in."""
    if settings.upstream in ("polygon", "delayed"):
        return settings.upstream_url
    if settings.upstream.startswith(("ws://", "wss://")):
        return settings.upstream
    return settings.server_url  # relay, sim


def upstream_target(settings: Settings) -> str:
    """What the user configured: ``sim`` / ``polygon`` / ``delayed``, or the URL template."""
    if settings.upstream in ("sim", "polygon", "delayed"):
        return settings.upstream
    from .urls import redact_url

    return redact_url(upstream_template(settings))


def default_source(settings: Settings) -> str:
    if settings.upstream == "sim":
        return "simulated"
    if settings.upstream == "delayed" or "delayed." in settings.upstream_url:
        return "delayed"
    return "live"


class Feed:
    """Owns the upstream client, the per-symbol states and the two ZeroMQ sockets."""

    def __init__(self, settings: Settings, *, sync_delay: float = 0.2, heartbeat_interval: float = 1.0,
                 healthy_after: float | None = None, stall_timeout: float | None = None,
                 auth_retry_delay: float = 300.0, busy_retry_delay: float = 60.0,
                 reconnect_attempts: int | None = None, backfill: bool = True, sndhwm: int = SNDHWM,
                 backfill_retry: tuple[float, float] = (1.0, 30.0), store: HistoryStore | None = None,
                 store_flush_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic,
                 wall_ms: Callable[[], int] = lambda: int(time.time() * 1000)) -> None:
        self.settings = settings
        self.heartbeat_interval = heartbeat_interval
        self.backfill_enabled = backfill
        self.clock, self.wall_ms = clock, wall_ms
        self.epoch = wall_ms()
        self.pid = os.getpid()
        self.started = clock()
        self.protocol = settings.upstream_protocol
        self.core = make_core(self.protocol, settings.api_key.get(), settings.channels)
        self.states: dict[str, FeedSymbol] = {}
        self.seq_base: dict[str, int] = {}        # seq survives a symbol being dropped and re-added
        self.sockets = FeedSockets(settings, sndhwm)
        self.publisher = Publisher(self.core, self.states, self.epoch, clock)
        self.counters: Counter[str] = self.publisher.counters
        self.client = PolygonWebSocketClient(
            upstream_template(settings), self.core, handle_frames=self.publisher.handle_frames,
            on_state=self._on_state, on_errors=self.publisher.report, client_id=settings.client_id,
            reconnect_delay=settings.reconnect_delay, max_reconnect_delay=settings.max_reconnect_delay,
            max_reconnect_attempts=(settings.max_reconnect_attempts if reconnect_attempts is None
                                    else reconnect_attempts),
            healthy_after=healthy_after if healthy_after is not None else max(10.0, settings.max_reconnect_delay),
            stall_timeout=stall_timeout if stall_timeout is not None else settings.no_data_threshold,
            auth_retry_delay=auth_retry_delay, busy_retry_delay=busy_retry_delay, clock=clock, wall_ms=wall_ms,
            transport=settings.upstream_transport,
        )
        self.union = UpstreamUnion(self._on_union, sync_delay)
        base = history.rest_base_url(self.client.url, settings.rest_url)
        self.limiter = RestLimiter(*default_rate(settings.rest_rate, base), clock=clock)
        self.store = store
        self.store_flush_s = store_flush_s
        self.store_sync = StoreSync(store, settings.history_days, settings.max_bars) if store is not None else None
        self.backfiller = Backfiller(
            protocol=self.protocol, base=base, api_key=settings.api_key.get(), max_bars=settings.max_bars,
            states=self.states, data_clock=self.client.data_clock_ms, has_data=lambda: self.client.has_data,
            resync=self.publisher.resync, retry=backfill_retry, limiter=self.limiter, store=self.store_sync,
            source=self.store_key, history_days=settings.history_days)
        self.summaries = Summaries(self.states, lambda: self.union.summaries, self.publisher.publish)
        self.alerts = AlertService(self, settings.alerts_file)
        self.supervisor: dict[str, Any] | None = None
        self._tasks: list[asyncio.Task] = []
        self._stopped = False

    # ------------------------------------------------------------ lifecycle

    @property
    def control_endpoint(self) -> str:
        return self.sockets.control_endpoint

    @property
    def data_endpoint(self) -> str:
        return self.sockets.data_endpoint

    def bind(self) -> None:
        """Bind the control ROUTER and the data XPUB (raises FeedError with a one-line reason)."""
        self.sockets.bind()
        self.publisher.xpub = self.sockets.xpub
        self.publisher.after_send = self._after_send

    async def start(self) -> None:
        if self.sockets.ctx is None:
            self.bind()
        s = self.sockets
        loop = asyncio.get_running_loop()
        loop.add_reader(s.router.getsockopt(zmq.FD), self._drain_control)
        loop.add_reader(s.xpub.getsockopt(zmq.FD), self._drain_xpub)
        loop.add_reader(s.monitor.getsockopt(zmq.FD), s.drain_monitor)
        self.client.connect_to_server()
        self._tasks.append(loop.create_task(self._heartbeat_loop(), name="heartbeat"))
        if self.store_sync is not None:
            self._tasks.append(loop.create_task(self._store_loop(), name="history-store"))
        self._tasks.append(loop.create_task(self.summaries.run(), name="summaries"))
        self.alerts.start()
        # Messages that arrived before the readers were attached produced no edge.
        self._drain_control()
        self._drain_xpub()

    async def stop(self) -> None:
        """Clean stop: unsubscribe upstream, close frame, final status, sockets closed."""
        if self._stopped:
            return
        self._stopped = True
        for t in self._tasks:
            t.cancel()
        self.union.cancel()
        await self.client.disconnect()
        self._publish_sys(wire.STATUS)
        await self.backfiller.close()
        if self.store_sync is not None:
            self.store_sync.flush(self.states)
            self.store_sync.store.close()
        loop = asyncio.get_running_loop()
        for sock in (self.sockets.router, self.sockets.xpub, self.sockets.monitor):
            try:
                loop.remove_reader(sock.getsockopt(zmq.FD))
            except (zmq.ZMQError, ValueError, OSError, AttributeError):
                pass
        self._close_sockets()

    def _close_sockets(self) -> None:
        self.sockets.close()

    # ------------------------------------------------------------ wiring

    def _drain_control(self) -> None:
        control.drain(self)

    def _drain_xpub(self) -> None:
        xpub = self.sockets.xpub
        if xpub is not None:
            self.union.drain(xpub)

    def _after_send(self) -> None:
        # a send can swallow the edge of a pending subscription: look again
        xpub = self.sockets.xpub
        if xpub is not None and not xpub.closed and xpub.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            self._drain_xpub()

    def _on_union(self, added: list[str], removed: list[str]) -> None:
        for sym in added:
            st = self.states[sym] = FeedSymbol(sym, self.settings.max_bars, self.seq_base.get(sym, 0))
            self.alerts.on_state(st)
            if self.backfill_enabled:
                self.backfiller.start(st)
        for sym in removed:
            st = self.states.pop(sym, None)
            if st is not None:
                self.seq_base[sym] = st.seq
                if self.store_sync is not None:
                    self.store_sync.flush({sym: st})  # its last finished bars, before the state goes
        if removed:
            log.info("unsubscribing upstream: %s", ",".join(removed))
            self.client.unsubscribe(removed)
        if added:
            log.info("subscribing upstream: %s", ",".join(added))
            self.client.subscribe(added)

    def store_key(self) -> tuple[str, str]:
        """The history store's source: the upstream's label and what it is (never mixed)."""
        return self.upstream_info()["source"], upstream_target(self.settings)

    async def _store_loop(self) -> None:
        sync = self.store_sync
        assert sync is not None
        while True:
            if sync.prune_due(self.clock()):
                sync.prune(self.clock())
            await asyncio.sleep(self.store_flush_s)
            sync.flush(self.states)

    def _on_state(self, state: str, message: str) -> None:
        self._publish_sys(wire.STATUS)

    # ------------------------------------------------------------ what is going on

    def upstream_info(self) -> dict:
        c = self.client
        return {"state": c.state, "kind": upstream_kind(self.settings), "protocol": self.protocol,
                "source": c.source or default_source(self.settings), "session": c.session_label,
                "target": upstream_target(self.settings), "url": c.public_url, "attempts": c.attempts,
                "connects": c.connects, "restarts": c.restarts, "message": c.message, "since_ms": c.since_ms}

    def all_counters(self) -> dict[str, int]:
        out = Counter(self.core.counters)
        out.update(self.counters)
        out["frames"] = self.client.frames
        return dict(out)

    def _sys_body(self, kind: str) -> Any:
        symbols = {s: {"seq": st.seq, "last_ms": st.last_ms, "backfill": st.backfill_info()}
                   for s, st in self.states.items()}
        return wire.heartbeat(self.epoch, self.pid, self.upstream_info(), symbols, self.all_counters(),
                              self.wall_ms(), kind)

    def _publish_sys(self, kind: str) -> None:
        if self.sockets.open:
            self.publisher.publish(wire.SYS_TOPIC, self._sys_body(kind))

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            self._publish_sys(wire.HEARTBEAT)
            # Safety net for edge-triggered FDs: never trust that an edge was seen.
            self._drain_xpub()
            self._drain_control()
            self.sockets.drain_monitor()

    @property
    def subscribers(self) -> int:
        return self.sockets.subscribers

    def status(self, rid: Any = None) -> m.StatusReply:
        """The status reply (``shared.models.messages.StatusReply``: its keys are declared there)."""
        return m.StatusReply(
            v=1, id=rid, pid=self.pid, epoch=self.epoch, uptime_s=round(self.clock() - self.started, 1),
            control=self.control_endpoint, data=self.data_endpoint, upstream=self.upstream_info(),
            symbols={s: m.SymbolStatus(seq=st.seq, last_ms=st.last_ms, events=st.events, bars=len(st.bars),
                                       backfill=st.backfill, backfill_ahead=st.backfill_ahead, stored=st.stored,
                                       day_bars=len(st.days)) for s, st in sorted(self.states.items())},
            subscribers=self.subscribers, counters=self.all_counters(), supervisor=self.supervisor,
            rest=self.limiter.status(), store=self.store_sync.status() if self.store_sync is not None else None)
