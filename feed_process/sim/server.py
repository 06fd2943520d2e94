"""``live-monitor sim``: the aiohttp adapter - sockets, tasks, queues; no protocol rules here.

Why aiohttp: it serves WebSocket and HTTP on one port (the relay's and
Polygon's history live beside their streams), is maintained, and sends
pre-encoded bytes as text frames (``send_frame``): the replay path never
re-encodes. What is said and how it is framed lives in the sans-I/O modules -
:mod:`.polygon` / :mod:`.relay` (sessions: replies and data framing),
:mod:`.rest` (history), :mod:`.inject` (scripted events), :mod:`.faults`
(what goes wrong), :mod:`.tapes` (which events are due), :mod:`.clock`;
this module moves their bytes.

Data flow: a pump task ticks every ``tick`` seconds, asks the tape for the
events due at the sim clock's now (encoded once), and queues each
connection's share as its session frames it. A writer task per connection
sends its queue and applies faults. ``--max`` replay bypasses the pump: each
connection gets its own writer that streams the pre-joined chunks as fast as
the socket drains. Queues are bounded: a client ``max_backlog`` frames behind
gets ``slow_consumer`` and is closed (the server never buffers without limit).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from aiohttp import WSMsgType, web

from .clock import VIRTUAL, SimClock
from .config import SimConfig, config_from_args  # noqa: F401  (re-exported: the stable import path)
from .faults import CLOSE_1011, DROP, STALL, ConnFaults, FaultState, parse_fault
from .endpoints import Endpoints
from .inject import InjectError  # noqa: F401  (re-exported)
from .listen import start_site, warm
from .polygon import PolygonSession
from .relay import RelaySession
from .replay import ReplayData, load_replay
from .sessions import GENERATED, Payload, Reply, Session
from .tapes import ReplayPacer, SyntheticTape

log = logging.getLogger(__name__)

MAX_INBOUND = 64 * 1024  # client messages are small: bound them
DEFAULT_HINT = ("AAPL", "MSFT", "NVDA", "TSLA", "SPY")


class Conn:
    """One WebSocket client: its protocol session, fault counters and send queue."""

    ids = itertools.count(1)

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, session: Session, now: float):
        self.id = next(Conn.ids)
        self.kind = session.kind
        self.ws = ws
        self.request = request
        self.session = session
        self.subs = session.subs
        self.faults = ConnFaults(self.kind, now)
        self.queue: deque[tuple[Payload, int]] = deque()
        self.wake = asyncio.Event()
        self.closed = False
        self.streaming: asyncio.Task | None = None  # --max replay writer


class SimServer:
    """The simulator as an async context manager: ``async with SimServer(cfg) as srv: srv.port``."""

    def __init__(self, cfg: SimConfig):
        self.cfg = cfg
        self.source = cfg.source
        self.faults = FaultState()
        for spec in cfg.faults:
            self.faults.set(parse_fault(spec, time.monotonic()))
        self.conns: dict[int, Conn] = {}
        self.accepted = {"relay": 0, "polygon": 0}
        self.counts = {"sent": 0, "errors": 0, "bad_requests": 0, "slow_consumers": 0, "injected": 0,
                       "malformed_sent": 0, "dropped": 0, "closed_1011": 0}
        self._bad_logged_at = 0.0
        replay: ReplayData | None = cfg.replay_data
        if replay is None and cfg.replay:
            replay = load_replay(cfg.replay, keep_time=cfg.keep_time)
        self.replay = replay = replay.framed(cfg.frame_events) if replay is not None else None
        self.tape: SyntheticTape | None = None
        self.pacer: ReplayPacer | None = None
        if replay is not None:
            self.seed: int | None = None
            self.session = VIRTUAL  # the file's own clock
            self.clock = SimClock(replay.times[0], cfg.speed, cfg.mono)
            self.pacer = ReplayPacer(replay, cfg.loop)
        else:
            plan = cfg.clock_plan()
            self.seed, self.session = cfg.resolved_seed(), plan.session
            self.clock = SimClock(plan.start_ms, plan.speed, cfg.mono)
            self.tape = SyntheticTape(self.seed, self._rate_fn(plan.start_ms) if cfg.rate else None)
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._pump_task: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()

    # ---- lifecycle ------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_INBOUND)
        app.add_routes([
            web.get("/ws/{client_id}", self._relay_ws),
            web.get("/stocks", self._polygon_ws),
            *Endpoints(self).routes(),
        ])
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), handle_signals=False, access_log=None)
        await self._runner.setup()
        try:
            self.port = await start_site(self._runner, self.cfg)  # an inherited socket or host:port
        except OSError:
            await self._runner.cleanup()
            raise
        warm(self.tape, self.cfg.warm, self.clock.now_ms())  # the desktop's charts, before they ask
        if not (self.replay is not None and self.cfg.max):
            self._pump_task = asyncio.create_task(self._pump(), name="sim-pump")

    async def stop(self) -> None:
        if self._pump_task:
            self._pump_task.cancel()
        for c in list(self.conns.values()):
            c.closed = True
            c.wake.set()
            if c.streaming:
                c.streaming.cancel()
        if self._runner:
            await self._runner.cleanup()
        for t in list(self._tasks):
            t.cancel()

    async def __aenter__(self) -> "SimServer":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        return f"ws://{self.cfg.host}:{self.port}"

    def _rate_fn(self, start_ms: int):
        """``--rate``: events/s (real) split over the streamed symbols, from the clock's start on."""
        rate = float(self.cfg.rate or 0)

        def fn(t: int) -> float | None:
            if t < start_ms or self.tape is None:
                return None
            return rate / max(1, len(self.tape.live)) / max(self.clock.speed, 1e-9)
        fn.start_ms = start_ms  # type: ignore[attr-defined]  # where the tape's intensity jumps
        return fn

    # ---- WebSocket handlers ---------------------------------------------
    def _too_many(self, kind: str) -> bool:
        limit = self.faults.max_connections(kind)
        return limit is not None and sum(1 for c in self.conns.values() if c.kind == kind) >= limit

    async def _polygon_ws(self, request: web.Request) -> web.WebSocketResponse:
        return await self._serve(request, PolygonSession(self.source, self.session, self.cfg.key, self._too_many(
            "polygon"), self.cfg.frame_events))

    async def _relay_ws(self, request: web.Request) -> web.WebSocketResponse:
        return await self._serve(request, RelaySession(request.match_info["client_id"], self.source, self.session))

    async def _serve(self, request: web.Request, session: Session) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False, max_msg_size=MAX_INBOUND, heartbeat=None, autoping=True)
        await ws.prepare(request)
        self.accepted[session.kind] += 1
        if isinstance(session, RelaySession) and self._too_many("relay"):
            await self._answer(ws, session.refuse_busy())
            return ws
        conn = Conn(ws, request, session, time.monotonic())
        for m in session.greeting():
            await ws.send_frame(m, WSMsgType.TEXT)
        self.conns[conn.id] = conn
        writer = asyncio.create_task(self._writer(conn), name=f"sim-writer-{conn.id}")
        log.info("%s client %d connected from %s", conn.kind, conn.id, request.remote)
        try:
            async for msg in ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                had = bool(conn.subs)
                reply = session.handle(msg.data)
                if reply.error:
                    self._bad_request(conn, reply.error)
                if reply.close or not self.faults.stalled(conn.faults):
                    if await self._answer(ws, reply):
                        break
                if conn.subs and not had and self.replay is not None and self.cfg.max and conn.streaming is None:
                    conn.streaming = asyncio.create_task(self._max_stream(conn), name=f"sim-max-{conn.id}")
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            conn.closed = True
            conn.wake.set()
            writer.cancel()
            if conn.streaming:
                conn.streaming.cancel()
                await asyncio.gather(conn.streaming, return_exceptions=True)
            self.conns.pop(conn.id, None)
            log.info("%s client %d disconnected", conn.kind, conn.id)
        return ws

    @staticmethod
    async def _answer(ws: web.WebSocketResponse, reply: Reply) -> bool:
        """Send a reply; True when it closed the connection."""
        for m in reply.messages:
            await ws.send_frame(m, WSMsgType.TEXT)
        if reply.close:
            await ws.close(code=reply.close[0], message=reply.close[1].encode())
            return True
        return False

    def _bad_request(self, conn: Conn, message: str) -> None:
        """Count every bad client message; log at most one line a second (a client loop can't flood the log)."""
        self.counts["bad_requests"] += 1
        now = time.monotonic()
        if now - self._bad_logged_at >= 1.0:
            self._bad_logged_at = now
            log.warning("bad request from %s client %d: %s (%d so far)", conn.kind, conn.id, message,
                        self.counts["bad_requests"])

    # ---- sending --------------------------------------------------------
    async def _send(self, conn: Conn, payload: Payload, n: int) -> bool:
        """Send one queued item carrying ``n`` events, applying faults; False when the connection is finished."""
        if conn.closed or conn.ws.closed:
            return False
        action = self.faults.before_send(conn.faults, time.monotonic())
        if action == STALL:
            return True
        if action == DROP:
            log.info("fault: dropping %s client %d", conn.kind, conn.id)
            self.counts["dropped"] += 1
            self._abort(conn)
            return False
        if action == CLOSE_1011:
            log.info("fault: closing %s client %d with 1011", conn.kind, conn.id)
            self.counts["closed_1011"] += 1
            conn.closed = True
            await conn.ws.close(code=1011, message=b"simulated server error")
            return False
        ws, cf = conn.ws, conn.faults
        for m in (payload if isinstance(payload, list) else (payload,)):
            extra = self.faults.malformed(cf)
            if extra is not None:
                await ws.send_frame(extra, WSMsgType.TEXT)
                self.counts["malformed_sent"] += 1
            await ws.send_frame(m, WSMsgType.TEXT)
            cf.frames += 1
        cf.events += n
        self.counts["sent"] += n
        return True

    def _abort(self, conn: Conn) -> None:
        conn.closed = True
        transport = conn.request.transport
        if transport is not None:
            transport.abort()

    async def _writer(self, conn: Conn) -> None:
        try:
            while not conn.closed:
                try:
                    await asyncio.wait_for(conn.wake.wait(), 0.1)
                except asyncio.TimeoutError:
                    pass
                conn.wake.clear()
                if self.faults.on_time(conn.faults, time.monotonic()) == DROP:
                    log.info("fault: dropping %s client %d (every)", conn.kind, conn.id)
                    self.counts["dropped"] += 1
                    self._abort(conn)
                    return
                while conn.queue and not conn.closed:
                    payload, n = conn.queue.popleft()
                    if not await self._send(conn, payload, n):
                        return
        except (ConnectionError, asyncio.CancelledError):
            pass
        except Exception:  # a bug must not kill the server; the client reconnects
            log.exception("writer for %s client %d failed", conn.kind, conn.id)
            self._abort(conn)

    def _enqueue(self, conn: Conn, payload: Payload, n: int) -> None:
        if len(conn.queue) < self.cfg.max_backlog:
            conn.queue.append((payload, n))
            conn.wake.set()
            return
        log.warning("%s client %d is a slow consumer (%d frames behind): closing", conn.kind, conn.id,
                    len(conn.queue))
        conn.queue.clear()
        conn.closed = True
        self.counts["slow_consumers"] += 1
        t = asyncio.create_task(self._close_slow(conn))
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    async def _close_slow(self, conn: Conn) -> None:
        try:
            await self._answer(conn.ws, Reply(conn.session.slow_consumer(), None, (1008, "slow consumer")))
        except Exception:
            self._abort(conn)

    def distribute(self, keys: list[tuple[str, str]], encoded: list[bytes]) -> None:
        """Queue the events each connection subscribed to, framed by its session (one encode, shared)."""
        if not encoded:
            return
        for conn in list(self.conns.values()):
            subs = conn.subs
            if not subs or conn.closed or conn.streaming is not None:
                continue
            sel = [e for k, e in zip(keys, encoded) if subs.wants(k[0], k[1])]
            if sel:
                for payload, n in conn.session.frame(sel):
                    self._enqueue(conn, payload, n)

    # ---- the pump -------------------------------------------------------
    def _wanted(self) -> tuple[set[str], set[str]]:
        """(symbols to generate, symbols whose A bars someone wants)."""
        syms: set[str] = set()
        seconds: set[str] = set()
        wild: set[str] = set()
        for c in self.conns.values():
            syms |= c.subs.symbols(GENERATED)
            seconds |= c.subs.symbols(frozenset("A"))
            wild |= c.subs.wildcard & GENERATED
        if wild:
            hint = set(self.cfg.symbols_hint or DEFAULT_HINT)
            syms |= hint
            if "A" in wild:
                seconds |= hint
        return syms, seconds

    async def _pump(self) -> None:
        while True:
            try:
                now = self.clock.now_ms()
                if self.tape is not None:
                    self.distribute(*self.tape.advance(now, *self._wanted()))
                elif self.pacer is not None:
                    self.distribute(*self.pacer.advance(now))
            except Exception:
                self.counts["errors"] += 1
                log.exception("sim pump failed (continuing)")
            await asyncio.sleep(self.cfg.tick)

    async def _max_stream(self, conn: Conn) -> None:
        """``--max`` replay to one connection: pre-joined chunks, as fast as the socket drains."""
        r = self.replay
        assert r is not None
        await asyncio.sleep(0)  # let a burst of subscribe messages land first
        try:
            while True:
                for ci, chunk in enumerate(r.chunks):
                    subs = conn.subs
                    lo, hi = ci * r.chunk, min(len(r), (ci + 1) * r.chunk)
                    if conn.session.prejoined and (chunk.keys <= subs.pairs or
                                                   all(subs.wants(e, s) for e, s in chunk.keys)):
                        if not await self._send(conn, chunk.frame, hi - lo):  # the common case: pre-joined
                            return
                    else:
                        sel = [e for k, e in zip(r.keys[lo:hi], r.encoded[lo:hi]) if subs.wants(k[0], k[1])]
                        for payload, n in conn.session.frame(sel) if sel else ():
                            if not await self._send(conn, payload, n):
                                return
                    # send_frame only suspends when the socket buffer is full: yield once per
                    # chunk so other clients, control requests and close frames are served.
                    await asyncio.sleep(0)
                if not self.cfg.loop:
                    log.info("replay to %s client %d finished (%d events sent)", conn.kind, conn.id,
                             conn.faults.events)
                    return
        except (ConnectionError, asyncio.CancelledError):
            pass
        except Exception:
            log.exception("replay stream to client %d failed", conn.id)
            self._abort(conn)
    def status(self) -> dict:
        conns = {"relay": 0, "polygon": 0}
        subs: dict[str, dict[str, int]] = {"relay": {}, "polygon": {}}
        for c in self.conns.values():
            conns[c.kind] += 1
            for t in c.subs.topics():
                subs[c.kind][t] = subs[c.kind].get(t, 0) + 1
        return {"source": self.source, "session": self.session, "seed": self.seed, "connections": conns,
                "accepted": dict(self.accepted), "subscriptions": subs, "clock_ms": self.clock.now_ms(),
                "speed": self.clock.speed, "faults": self.faults.as_list(), **self.counts}


def run_sim(args, settings=None) -> int:
    """``live-monitor sim`` (the entry point shared/cli.py names); see :mod:`.main`."""
    from .main import run_sim as _run

    return _run(args, settings)

