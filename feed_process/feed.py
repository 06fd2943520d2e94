"""The feed: one upstream connection fanned out to any number of ZeroMQ subscribers.

Why it looks like this
----------------------
* **One asyncio loop, plain (sync) pyzmq sockets driven by ``add_reader``.**
  ZMQ's FD is edge-triggered, so every readable callback drains while
  ``EVENTS & POLLIN`` and every publish re-checks the XPUB afterwards (a send
  can swallow the edge of a pending subscription). Sends never block: the
  XPUB drops at its high-water mark for a slow subscriber, which then sees a
  sequence gap and re-snapshots (docs/PROTOCOL.md, the zguide Clone pattern).
* **Subscriptions drive the upstream.** Without ``XPUB_VERBOSE`` libzmq
  ref-counts topics: the feed hears the first subscribe and the last
  unsubscribe of each ``md|SYM|``, including the unsubscribes of a subscriber
  whose TCP connection died (SIGKILL). The upstream follows that union,
  debounced (``sync_delay``) so a window switching symbols costs one exchange.
* **Per frame, not per event.** The upstream client hands a whole frame's
  events; each is folded into its symbol's state and appended to that symbol's
  batch, and each batch goes out as one message with the sequence number of its
  first event. Snapshots are served between frames on the same loop, so a
  snapshot's ``seq`` is exactly the last event it contains.
* **Bad input is counted, logged at a limited rate and published** on
  ``sys|`` as ``error`` events (at most one per kind per second); nothing an
  upstream or a client sends can end the loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import aiohttp
import msgpack
import zmq

from shared.config import Settings
from shared.models import wire
from shared.models.market_data import valid_symbol

from . import history
from .protocols import make_core
from .state import FeedSymbol
from .websocket_client import PolygonWebSocketClient, redact_url

log = logging.getLogger(__name__)

SNDHWM = 1_000           # data messages (batches, ~1-500 events) queued per subscriber before dropping
MAX_BATCH = 10_000       # events per data message
CONTROL_BUDGET = 200     # control requests served per wake-up before yielding
BACKFILL_CLOCK_WAIT = 20  # x 0.1 s: how long a backfill waits for the stream to reveal its data clock
LOOPBACK = ("127.", "localhost", "[::1]", "::1")
# Input-error kinds that are counted in status but neither logged nor published: events of a
# symbol just unsubscribed keep arriving for a moment, and real relays may ignore unsubscribe.
QUIET_KINDS = frozenset({"unknown_symbol"})


class FeedError(Exception):
    """A start-up problem to show the user in one line (taken port, bad address, no CURVE keys)."""


def endpoint_host(endpoint: str) -> str:
    if endpoint.startswith("ipc://"):
        return "localhost"
    rest = endpoint.split("://", 1)[-1]
    return rest.rsplit(":", 1)[0]


def is_loopback(endpoint: str) -> bool:
    return endpoint_host(endpoint).startswith(LOOPBACK)


class RateLimitedLog:
    """At most one log line per kind per ``period`` seconds, with the count since the last one."""

    def __init__(self, logger: logging.Logger, period: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self.logger, self.period, self.clock = logger, period, clock
        self._last: dict[str, float] = {}
        self._held: Counter[str] = Counter()

    def __call__(self, kind: str, message: str) -> bool:
        now = self.clock()
        self._held[kind] += 1
        if now - self._last.get(kind, -1e18) < self.period:
            return False
        n = self._held.pop(kind)
        self._last[kind] = now
        self.logger.warning("bad input (%s)%s: %s", kind, f" x{n}" if n > 1 else "", message)
        return True


def upstream_kind(settings: Settings) -> str:
    return settings.upstream if settings.upstream in ("sim", "relay", "polygon", "delayed") else "url"


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
                 reconnect_attempts: int | None = None, backfill: bool = True, sndhwm: int = SNDHWM) -> None:
        self.settings = settings
        self.sync_delay = sync_delay
        self.heartbeat_interval = heartbeat_interval
        self.backfill_enabled = backfill
        self.sndhwm = sndhwm
        self.epoch = int(time.time() * 1000)
        self.pid = os.getpid()
        self.started = time.monotonic()
        self.protocol = settings.upstream_protocol
        self.url = settings.upstream_url
        self.core = make_core(self.protocol, settings.api_key.get())
        self.client = PolygonWebSocketClient(
            self.url, self.core, on_events=self._on_events, on_state=self._on_state, on_errors=self._on_errors,
            reconnect_delay=settings.reconnect_delay, max_reconnect_delay=settings.max_reconnect_delay,
            max_reconnect_attempts=(settings.max_reconnect_attempts if reconnect_attempts is None
                                    else reconnect_attempts),
            healthy_after=healthy_after if healthy_after is not None else max(10.0, settings.max_reconnect_delay),
            stall_timeout=stall_timeout if stall_timeout is not None else settings.no_data_threshold,
            auth_retry_delay=auth_retry_delay, busy_retry_delay=busy_retry_delay,
        )
        self.states: dict[str, FeedSymbol] = {}
        self._seq_base: dict[str, int] = {}        # seq survives a symbol being dropped and re-added
        self._xpub_topics: set[str] = set()        # symbols with at least one SUB (libzmq's ref-count)
        self._upstream: set[str] = set()           # symbols subscribed upstream
        self._sync_handle: asyncio.TimerHandle | None = None
        self.counters: Counter[str] = Counter()
        self._error_published: dict[str, float] = {}
        self._log_bad = RateLimitedLog(log)
        self.supervisor: dict[str, Any] | None = None
        self.subscribers = 0
        self._tasks: list[asyncio.Task] = []
        self._http: aiohttp.ClientSession | None = None
        self._packer = msgpack.Packer(use_bin_type=True)
        self.ctx: zmq.Context | None = None
        self.control_endpoint = settings.feed
        self.data_endpoint = ""
        self._stopped = False

    # ------------------------------------------------------------ lifecycle

    def bind(self) -> None:
        """Bind the control ROUTER and the data XPUB (raises FeedError with a one-line reason)."""
        ctx = self.ctx = zmq.Context()
        try:
            secure = self._curve_setup()
        except FeedError:
            self._close_sockets()
            raise
        self.router = ctx.socket(zmq.ROUTER)
        self.xpub = ctx.socket(zmq.XPUB)
        for sock in (self.router, self.xpub):
            sock.setsockopt(zmq.LINGER, 0)
            if secure:
                sock.curve_secretkey, sock.curve_publickey = secure
                sock.curve_server = True
        self.xpub.setsockopt(zmq.SNDHWM, self.sndhwm)
        self.router.setsockopt(zmq.SNDHWM, 1000)
        self.router.setsockopt(zmq.RCVHWM, 1000)
        # Bounded input: a peer cannot make the feed allocate more than this per message.
        self.router.setsockopt(zmq.MAXMSGSIZE, 1 << 20)
        self.xpub.setsockopt(zmq.MAXMSGSIZE, 1 << 16)
        try:
            self.router.bind(self.control_endpoint)
        except zmq.ZMQError as e:
            self._close_sockets()
            if e.errno == zmq.EADDRINUSE:
                raise FeedError(f"{self.control_endpoint} is already in use (is another feed running?)") from None
            raise FeedError(f"cannot bind {self.control_endpoint}: {e.strerror}") from None
        if self.control_endpoint.startswith("ipc://"):
            data_ep = self.control_endpoint + ".data"
        else:
            data_ep = f"tcp://{endpoint_host(self.control_endpoint)}:*"
        try:
            self.xpub.bind(data_ep)
        except zmq.ZMQError as e:
            self._close_sockets()
            raise FeedError(f"cannot bind the data socket {data_ep}: {e.strerror}") from None
        self.data_endpoint = self.xpub.getsockopt_string(zmq.LAST_ENDPOINT)
        if not self.control_endpoint.startswith("ipc://"):
            port = self.control_endpoint.rsplit(":", 1)[1]
            if port in ("0", "*"):
                self.control_endpoint = self.router.getsockopt_string(zmq.LAST_ENDPOINT)
        self.monitor = self.xpub.get_monitor_socket(zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED)

    def _curve_setup(self) -> tuple[bytes, bytes] | None:
        s = self.settings
        if is_loopback(self.control_endpoint):
            return None
        keys = Path(s.curve_dir) / "server.key_secret" if s.curve_dir else None
        if keys is not None and keys.exists():
            import zmq.auth
            from zmq.auth.thread import ThreadAuthenticator

            public, secret = zmq.auth.load_certificate(str(keys))
            if secret is None:
                raise FeedError(f"{keys} holds no secret key")
            # ZAP works per context: the authenticator must live in the sockets' context.
            auth = ThreadAuthenticator(self.ctx)
            auth.start()
            clients = Path(s.curve_dir) / "authorized_clients"
            auth.configure_curve(domain="*", location=str(clients if clients.is_dir() else s.curve_dir))
            self._auth = auth
            log.info("CURVE enabled with keys from %s", s.curve_dir)
            return secret, public
        if s.insecure:
            log.warning("binding %s without encryption or authentication (--insecure)", self.control_endpoint)
            return None
        raise FeedError(f"binding {endpoint_host(self.control_endpoint)} (not loopback) needs CURVE keys: "
                        "put server.key_secret in curve_dir (zmq.auth.create_certificates), or pass --insecure")

    async def start(self) -> None:
        if self.ctx is None:
            self.bind()
        loop = asyncio.get_running_loop()
        loop.add_reader(self.router.getsockopt(zmq.FD), self._drain_control)
        loop.add_reader(self.xpub.getsockopt(zmq.FD), self._drain_xpub)
        loop.add_reader(self.monitor.getsockopt(zmq.FD), self._drain_monitor)
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        self.client.connect_to_server()
        self._tasks.append(loop.create_task(self._heartbeat_loop(), name="heartbeat"))
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
        if self._sync_handle is not None:
            self._sync_handle.cancel()
        await self.client.disconnect()
        self._publish_sys(wire.STATUS)
        if self._http is not None:
            await self._http.close()
        loop = asyncio.get_running_loop()
        for sock in (self.router, self.xpub, self.monitor):
            try:
                loop.remove_reader(sock.getsockopt(zmq.FD))
            except (zmq.ZMQError, ValueError, OSError):
                pass
        self._close_sockets()

    def _close_sockets(self) -> None:
        for name in ("monitor", "router", "xpub"):
            sock = getattr(self, name, None)
            if sock is not None and not sock.closed:
                # a short linger on the data socket lets the final "stopped" status out
                sock.close(linger=200 if name == "xpub" else 0)
        auth = getattr(self, "_auth", None)
        if auth is not None:
            auth.stop()
            self._auth = None
        if self.ctx is not None:
            self.ctx.term()
            self.ctx = None

    # ------------------------------------------------------------ upstream -> subscribers

    def _on_events(self, batches: dict[str, list[list]]) -> None:
        """One upstream frame's events, per symbol: fold into state, publish one batch each."""
        states = self.states
        send = self.xpub.send_multipart
        pack = self._packer.pack
        epoch = self.epoch
        n = 0
        for sym, lst in batches.items():
            st = states.get(sym)
            if st is None:
                continue  # unsubscribed a moment ago; the core already filters most of these
            st.apply_batch(lst)
            n += len(lst)
            topic = wire.topic_for(sym)
            for i in range(0, len(lst), MAX_BATCH):
                chunk = lst[i:i + MAX_BATCH] if len(lst) > MAX_BATCH else lst
                seq = st.seq + 1
                st.seq += len(chunk)
                try:
                    send([topic, pack({"v": 1, "type": "batch", "sym": sym, "epoch": epoch, "seq": seq,
                                       "ev": chunk})], zmq.NOBLOCK)
                except zmq.Again:
                    self.counters["dropped_batches"] += 1
                self.counters["batches"] += 1
        self.counters["events"] += n
        if self.xpub.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            self._drain_xpub()

    def _on_state(self, state: str, message: str) -> None:
        self._publish_sys(wire.STATUS)

    def _on_errors(self, errors: list[tuple[str, str]]) -> None:
        now = time.monotonic()
        for kind, message in errors:
            if kind in QUIET_KINDS:
                continue  # counted only: a relay that ignores unsubscribe is normal, not news
            self._log_bad(kind, message)
            if now - self._error_published.get(kind, -1e18) >= 1.0:
                self._error_published[kind] = now
                self._publish(wire.SYS_TOPIC, {"v": 1, "type": wire.ERROR, "kind": kind,
                                               "message": message[:200], "count": self._count(kind)})

    def _count(self, kind: str) -> int:
        return self.core.counters.get(kind, 0) + self.counters.get(kind, 0)

    def _publish(self, topic: bytes, msg: dict) -> None:
        try:
            self.xpub.send_multipart([topic, self._packer.pack(msg)], zmq.NOBLOCK)
        except zmq.Again:
            self.counters["dropped_batches"] += 1
        except zmq.ZMQError:
            pass  # closing

    def upstream_info(self) -> dict:
        c = self.client
        return {"state": c.state, "kind": upstream_kind(self.settings), "protocol": self.protocol,
                "source": c.source or default_source(self.settings), "url": c.public_url, "attempts": c.attempts,
                "connects": c.connects, "message": c.message, "since_ms": c.since_ms}

    def all_counters(self) -> dict[str, int]:
        out = Counter(self.core.counters)
        out.update(self.counters)
        out["frames"] = self.client.frames
        return dict(out)

    def _sys_body(self, kind: str) -> dict:
        symbols = {s: {"seq": st.seq, "last_ms": st.last_ms} for s, st in self.states.items()}
        return wire.heartbeat(self.epoch, self.pid, self.upstream_info(), symbols, self.all_counters(),
                              int(time.time() * 1000)) | {"type": kind}

    def _publish_sys(self, kind: str) -> None:
        if getattr(self, "xpub", None) is None or self.xpub.closed:
            return
        self._publish(wire.SYS_TOPIC, self._sys_body(kind))

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            self._publish_sys(wire.HEARTBEAT)
            # Safety net for edge-triggered FDs: never trust that an edge was seen.
            self._drain_xpub()
            self._drain_control()
            self._drain_monitor()  # the subscriber count came from this socket's (edge-triggered) events

    # ------------------------------------------------------------ subscriptions

    def _drain_xpub(self) -> None:
        xpub = self.xpub
        changed = False
        while not xpub.closed and xpub.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            try:
                msg = xpub.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            if not msg:
                continue
            sym = wire.symbol_from_topic(msg[1:])
            if sym is None:
                continue  # sys| and anything else: not an upstream symbol
            if msg[0] == 1:
                self._xpub_topics.add(sym)
            elif msg[0] == 0:
                self._xpub_topics.discard(sym)
            changed = True
        if changed and self._sync_handle is None:
            self._sync_handle = asyncio.get_running_loop().call_later(self.sync_delay, self._sync_upstream)

    def _sync_upstream(self) -> None:
        self._sync_handle = None
        want = set(self._xpub_topics)
        add = sorted(want - self._upstream)
        remove = sorted(self._upstream - want)
        for sym in add:
            st = self.states[sym] = FeedSymbol(sym, self.settings.max_bars, self._seq_base.get(sym, 0))
            if self.backfill_enabled:
                st.backfill = "pending"
                self._tasks.append(asyncio.get_running_loop().create_task(self._backfill(st)))
        for sym in remove:
            st = self.states.pop(sym, None)
            if st is not None:
                self._seq_base[sym] = st.seq
        self._upstream = want
        if remove:
            log.info("unsubscribing upstream: %s", ",".join(remove))
            self.client.unsubscribe(remove)
        if add:
            log.info("subscribing upstream: %s", ",".join(add))
            self.client.subscribe(add)
        self._tasks = [t for t in self._tasks if not t.done()]

    async def _backfill(self, st: FeedSymbol) -> None:
        sym = st.symbol
        base = history.rest_base_url(self.url, self.settings.rest_url)
        # History is asked for the *data* clock's day (a replay of a past session has its own
        # date): give the stream a moment to tell us the time if it hasn't yet.
        for _ in range(BACKFILL_CLOCK_WAIT):
            if self.client.has_data or self.states.get(sym) is not st:
                break
            await asyncio.sleep(0.1)
        data_ms = st.last_ms or self.client.data_clock_ms()
        try:
            assert self._http is not None
            if self.protocol == "polygon":
                bars, prev = await history.fetch_polygon_bars(self._http, base, self.settings.api_key.get(), sym,
                                                              data_ms, self.settings.max_bars)
            else:
                bars, prev = await history.fetch_relay_bars(self._http, base, sym, data_ms, self.settings.max_bars)
        except (history.HistoryError, asyncio.TimeoutError) as e:
            if self.states.get(sym) is st:
                st.backfill = "failed"
                st.backfill_message = str(e) if isinstance(e, history.HistoryError) else "history request timed out"
                log.warning("%s: backfill failed: %s (live bars keep flowing)", sym, st.backfill_message)
                self._publish(wire.topic_for(sym), {"v": 1, "type": wire.RESYNC, "sym": sym, "epoch": self.epoch,
                                                    "reason": "backfill_failed"})
            return
        if self.states.get(sym) is not st:
            return  # dropped while we waited
        st.backfill_count = st.merge_history(bars, prev)
        st.backfill = "done"
        st.backfill_message = f"{len(bars)} bars from {redact_url(base)}"
        log.info("%s: backfilled %d bars (%d merged)", sym, len(bars), st.backfill_count)
        self._publish(wire.topic_for(sym), {"v": 1, "type": wire.RESYNC, "sym": sym, "epoch": self.epoch,
                                            "reason": "backfill"})

    def _drain_monitor(self) -> None:
        from zmq.utils.monitor import recv_monitor_message

        while not self.monitor.closed and self.monitor.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            try:
                ev = recv_monitor_message(self.monitor, zmq.NOBLOCK)
            except zmq.Again:
                break
            if ev["event"] == zmq.EVENT_ACCEPTED:
                self.subscribers += 1
            elif ev["event"] == zmq.EVENT_DISCONNECTED:
                self.subscribers = max(0, self.subscribers - 1)

    # ------------------------------------------------------------ control

    def _drain_control(self) -> None:
        router = self.router
        for _ in range(CONTROL_BUDGET):
            if router.closed or not router.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                return
            try:
                frames = router.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            if len(frames) != 2:
                self.counters["bad_request"] += 1
                continue
            ident, payload = frames
            reply = self._handle_request(payload)
            try:
                router.send_multipart([ident, wire.pack(reply)], zmq.NOBLOCK)
            except zmq.Again:
                self.counters["dropped_replies"] += 1
            except wire.WireError as e:
                log.error("cannot encode a reply: %s", e)
        asyncio.get_running_loop().call_soon(self._drain_control)  # budget spent: yield, then continue

    def _handle_request(self, payload: bytes) -> dict:
        try:
            req = wire.unpack(payload)
        except wire.WireError as e:
            self.counters["bad_request"] += 1
            return wire.error_reply(None, str(e)[:200])
        rid = req.get("id")
        t = req["type"]
        if t == wire.HELLO:
            return {"type": wire.HELLO, "id": rid, "server": "live-monitor-feed", "protocol": wire.PROTOCOL_VERSION,
                    "epoch": self.epoch, "pid": self.pid, "data": self.data_endpoint,
                    "upstream": self.upstream_info()}
        if t == wire.SNAPSHOT:
            sym = req.get("symbol")
            if not valid_symbol(sym):
                self.counters["bad_request"] += 1
                return wire.error_reply(rid, f"bad symbol {str(sym)[:16]!r}", "bad_symbol")
            self.counters["snapshots"] += 1
            st = self.states.get(sym)
            if st is None:
                # Not (yet) subscribed upstream: an empty snapshot at the current seq; the
                # subscription that follows starts backfill and a resync asks for a new one.
                body = FeedSymbol(sym, self.settings.max_bars, self._seq_base.get(sym, 0)).snapshot()
            else:
                body = st.snapshot()
            return {"type": wire.SNAPSHOT, "id": rid, "epoch": self.epoch, **body,
                    "source": self.upstream_info()["source"], "upstream": self.upstream_info()}
        if t == wire.STATUS:
            return self.status(rid)
        if t == "ping":
            return {"type": "pong", "id": rid}
        if t == "command":
            cmd = req.get("cmd")
            if cmd == "supervisor_report":
                children = req.get("children")
                if not isinstance(children, list):
                    return wire.error_reply(rid, "supervisor_report needs a 'children' list")
                self.supervisor = {"children": children, "ts": int(time.time() * 1000)}
                return {"type": "ok", "id": rid}
            if cmd == "notice":
                # The supervisor's word to every window (a child crashed, restarted ...).
                text = req.get("message")
                if not isinstance(text, str):
                    return wire.error_reply(rid, "notice needs a 'message' text")
                self._publish(wire.SYS_TOPIC, {"v": 1, "type": wire.ERROR, "kind": "notice", "message": text[:300],
                                               "count": 1, "source": str(req.get("source", ""))[:40]})
                return {"type": "ok", "id": rid}
            return wire.error_reply(rid, f"unknown command {str(cmd)[:24]!r}", "unknown_command")
        self.counters["bad_request"] += 1
        return wire.error_reply(rid, f"unknown request type {t[:24]!r}", "unknown_type")

    def status(self, rid: Any = None) -> dict:
        return {"type": wire.STATUS, "id": rid, "pid": self.pid, "epoch": self.epoch,
                "uptime_s": round(time.monotonic() - self.started, 1), "control": self.control_endpoint,
                "data": self.data_endpoint, "upstream": self.upstream_info(),
                "symbols": {s: {"seq": st.seq, "last_ms": st.last_ms, "events": st.events, "bars": len(st.bars),
                                "backfill": st.backfill} for s, st in sorted(self.states.items())},
                "subscribers": self.subscribers, "counters": self.all_counters(), "supervisor": self.supervisor}
