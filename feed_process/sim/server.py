"""``live-monitor sim``: one aiohttp server, two WebSocket protocols, history, control.

Why aiohttp: it serves WebSocket and HTTP on one port (the relay's and
Polygon's history live beside their streams), is maintained, and lets us send
pre-encoded bytes as text frames (``send_frame``) - the replay path never
re-encodes. The protocol rules live in :mod:`.protocol`, the tape in
:mod:`.market` / :mod:`.replay`, faults in :mod:`.faults`, history parsing in
:mod:`.history`; this module only moves bytes.

Data flow: a pump task ticks every ``tick`` seconds, moves the sim clock,
advances the tapes of the union of subscribed symbols, encodes each event
once and queues per-connection frames (Polygon: one JSON array per tick, at
most ``FRAME_EVENTS`` events; relay: one ``market_data`` message per event).
A writer task per connection sends its queue and applies faults. ``--max``
replay bypasses the pump: each connection gets its own writer that streams
the pre-joined chunks as fast as the socket drains. Queues are bounded: a
client that falls ``max_backlog`` frames behind gets ``slow_consumer`` and is
closed (the server never buffers without limit).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import logging
import signal
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

import orjson
from aiohttp import WSMsgType, web

from shared.market_hours import NY, latest_session_on_or_before

from . import history as hist
from .faults import CLOSE_1011, DROP, STALL, ConnFaults, FaultState, parse_fault
from .market import SyntheticMarket, session_on_or_before
from .protocol import PolygonSession, RelaySession, Subscriptions
from .replay import CHUNK, ReplayData, load_replay, shift_event

log = logging.getLogger(__name__)

FRAME_EVENTS = 1000
MAX_BACKLOG = 5000  # frames queued per connection before it is a slow consumer
MAX_INBOUND = 64 * 1024  # client messages are small: bound them
DEFAULT_HINT = ("AAPL", "MSFT", "NVDA", "TSLA", "SPY")


@dataclass
class SimConfig:
    host: str = "127.0.0.1"
    port: int = 8200
    seed: int = 1
    replay: str | None = None
    speed: float = 1.0
    max: bool = False
    loop: bool = False
    keep_time: bool = False
    key: str | None = None
    clock: str = "sim"  # sim | real
    start: str = "10:00"  # sim clock start (New York time on the session day)
    rate: float | None = None
    symbols_hint: list[str] = field(default_factory=list)
    tick: float = 0.02
    max_backlog: int = MAX_BACKLOG  # frames queued per connection before it is a slow consumer
    faults: list[dict] = field(default_factory=list)  # initial faults (from flags)
    replay_data: ReplayData | None = None  # pre-loaded (tests share one load)

    @property
    def source(self) -> str:
        return "replay" if (self.replay or self.replay_data) else "simulated"


class SimClock:
    """Sim time in epoch ms: ``start`` + elapsed real time x ``speed`` (monotonic based)."""

    def __init__(self, start_ms: int, speed: float, mono: Callable[[], float] = time.monotonic):
        self.start_ms = start_ms
        self.speed = speed
        self._mono = mono
        self._t0 = mono()

    def now_ms(self) -> int:
        return self.start_ms + int((self._mono() - self._t0) * 1000 * self.speed)


def sim_start_ms(cfg: SimConfig, wall_ms: int | None = None) -> int:
    """Where the sim clock starts: ``--start`` (default 10:00 ET) on the latest session day, or now."""
    wall_ms = wall_ms if wall_ms is not None else int(time.time() * 1000)
    if cfg.clock == "real":
        return wall_ms
    today = dt.datetime.fromtimestamp(wall_ms / 1000, NY).date()
    s = latest_session_on_or_before(today)
    if s is None:
        raise ValueError("no NYSE session found in the last two weeks")
    hh, mm = (int(x) for x in cfg.start.split(":"))
    return int(dt.datetime.combine(s.day, dt.time(hh, mm), NY).timestamp() * 1000)


class Conn:
    """One WebSocket client: its protocol session, fault counters and send queue."""

    ids = itertools.count(1)

    def __init__(self, kind: str, ws: web.WebSocketResponse, request: web.Request, session, now: float):
        self.id = next(Conn.ids)
        self.kind = kind
        self.ws = ws
        self.request = request
        self.session = session
        self.faults = ConnFaults(kind, now)
        self.queue: deque[tuple[bytes | list[bytes], int]] = deque()
        self.wake = asyncio.Event()
        self.closed = False
        self.streaming: asyncio.Task | None = None  # --max replay writer
        self.start_tape_ms: int | None = None

    @property
    def subs(self) -> Subscriptions:
        return self.session.subs


class SimServer:
    """The simulator as an async context manager: ``async with SimServer(cfg) as srv: srv.port``."""

    def __init__(self, cfg: SimConfig):
        self.cfg = cfg
        self.source = cfg.source
        self.faults = FaultState()
        now = time.monotonic()
        for spec in cfg.faults:
            self.faults.set(parse_fault(spec, now))
        self.conns: dict[int, Conn] = {}
        self.accepted = {"relay": 0, "polygon": 0}
        self.sent = 0
        self.errors = 0
        self.bad_requests = 0
        self.injected = {"malformed_sent": 0, "dropped": 0, "closed_1011": 0}  # faults actually applied
        self.slow_consumers = 0
        self._bad_logged_at = 0.0
        self.replay: ReplayData | None = cfg.replay_data
        if self.replay is None and cfg.replay:
            self.replay = load_replay(cfg.replay, keep_time=cfg.keep_time)
        self.market: SyntheticMarket | None = None
        self._live: set[str] = set()  # symbols the pump keeps current
        self._catchups: dict[str, asyncio.Future] = {}  # symbols being brought up to now, off the loop
        if self.replay is not None:
            t0 = self.replay.times[0]
            self.clock = SimClock(t0, cfg.speed)
            self._rpos = 0
            self._rloop = 0
        else:
            start = sim_start_ms(cfg)
            self.clock = SimClock(start, 1.0 if cfg.clock == "real" else cfg.speed)
            self.market = SyntheticMarket(cfg.seed, session_on_or_before,
                                          self._rate_fn(start) if cfg.rate else None)
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
            web.post("/api/v1/bars", self._relay_bars),
            web.get("/v2/aggs/ticker/{sym}/range/{mult}/{span}/{frm}/{to}", self._polygon_range),
            web.get("/v2/aggs/ticker/{sym}/prev", self._polygon_prev),
            web.get("/sim/status", self._status),
            web.post("/sim/fault", self._fault),
        ])
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.cfg.host, self.cfg.port, reuse_address=True)
        try:
            await site.start()
        except OSError:
            await self._runner.cleanup()
            raise
        sock = site._server.sockets[0]  # type: ignore[union-attr]
        self.port = sock.getsockname()[1]
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
        """``--rate``: events/s (real) split over the subscribed symbols, from the clock's start on."""
        rate = float(self.cfg.rate or 0)

        def fn(t: int) -> float | None:
            if t < start_ms:
                return None
            n = max(1, len(self._live))
            return rate / n / max(self.clock.speed, 1e-9)
        return fn

    # ---- WebSocket handlers ---------------------------------------------
    async def _open_ws(self, request: web.Request, kind: str) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False, max_msg_size=MAX_INBOUND, heartbeat=None, autoping=True)
        await ws.prepare(request)
        self.accepted[kind] += 1
        return ws

    def _too_many(self, kind: str) -> bool:
        limit = self.faults.max_connections(kind)
        return limit is not None and sum(1 for c in self.conns.values() if c.kind == kind) >= limit

    async def _polygon_ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = await self._open_ws(request, "polygon")
        session = PolygonSession(self.source, self.cfg.key, over_limit=self._too_many("polygon"))
        conn = Conn("polygon", ws, request, session, time.monotonic())
        await ws.send_str(orjson.dumps(session.greeting()).decode())
        return await self._serve(conn)

    async def _relay_ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = await self._open_ws(request, "relay")
        session = RelaySession(request.match_info["client_id"], self.source)
        if self._too_many("relay"):
            await ws.send_str(orjson.dumps({"type": "error", "message": "max_connections: too many connections"}).decode())
            await ws.close(code=1008, message=b"max_connections")
            return ws
        conn = Conn("relay", ws, request, session, time.monotonic())
        await ws.send_str(orjson.dumps(session.greeting()).decode())
        return await self._serve(conn)

    async def _serve(self, conn: Conn) -> web.WebSocketResponse:
        self.conns[conn.id] = conn
        writer = asyncio.create_task(self._writer(conn), name=f"sim-writer-{conn.id}")
        log.info("%s client %d connected from %s", conn.kind, conn.id, conn.request.remote)
        try:
            async for msg in conn.ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                had = bool(conn.subs)
                replies = conn.session.handle(msg.data)
                if any(r.get("status") == "error" or r.get("type") == "error" for r in replies):
                    self._bad_request(conn, replies)
                if not self.faults.stalled(conn.faults):
                    await self._reply(conn, replies)
                closing = getattr(conn.session, "closing", None)
                if closing:
                    await conn.ws.close(code=closing[0], message=closing[1].encode())
                    break
                if conn.subs and not had:
                    self._on_first_subscribe(conn)
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
        return conn.ws

    async def _reply(self, conn: Conn, replies: list[dict]) -> None:
        if not replies:
            return
        if conn.kind == "polygon":
            await conn.ws.send_str(orjson.dumps(replies).decode())
        else:
            for r in replies:
                await conn.ws.send_str(orjson.dumps(r).decode())

    def _bad_request(self, conn: Conn, replies: list[dict]) -> None:
        """Count every bad client message; log at most one line a second (a client loop can't flood the log)."""
        self.bad_requests += 1
        now = time.monotonic()
        if now - self._bad_logged_at >= 1.0:
            self._bad_logged_at = now
            msg = next(r.get("message") for r in replies if r.get("status") == "error" or r.get("type") == "error")
            log.warning("bad request from %s client %d: %s (%d so far)", conn.kind, conn.id, msg, self.bad_requests)

    def _on_first_subscribe(self, conn: Conn) -> None:
        if self.replay is not None and self.cfg.max and conn.streaming is None:
            conn.streaming = asyncio.create_task(self._max_stream(conn), name=f"sim-max-{conn.id}")

    # ---- sending --------------------------------------------------------
    async def _send(self, conn: Conn, payload: bytes | list[bytes], n: int) -> bool:
        """Send one frame (Polygon) or a list of messages (relay) carrying ``n`` events, applying faults.

        Returns False when the connection is finished."""
        if conn.closed or conn.ws.closed:
            return False
        action = self.faults.before_send(conn.faults, time.monotonic())
        if action == STALL:
            return True
        if action == DROP:
            log.info("fault: dropping %s client %d", conn.kind, conn.id)
            self.injected["dropped"] += 1
            self._abort(conn)
            return False
        if action == CLOSE_1011:
            log.info("fault: closing %s client %d with 1011", conn.kind, conn.id)
            self.injected["closed_1011"] += 1
            conn.closed = True
            await conn.ws.close(code=1011, message=b"simulated server error")
            return False
        ws = conn.ws
        cf = conn.faults
        for m in (payload if isinstance(payload, list) else (payload,)):
            extra = self.faults.malformed(cf)
            if extra is not None:
                await ws.send_frame(extra, WSMsgType.TEXT)
                self.injected["malformed_sent"] += 1
            await ws.send_frame(m, WSMsgType.TEXT)
            cf.frames += 1
        conn.faults.events += n
        self.sent += n
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
                    self.injected["dropped"] += 1
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

    def _enqueue(self, conn: Conn, payload: bytes | list[bytes], n: int) -> None:
        if len(conn.queue) >= self.cfg.max_backlog:
            log.warning("%s client %d is a slow consumer (%d frames behind): closing", conn.kind, conn.id,
                        len(conn.queue))
            conn.queue.clear()
            conn.closed = True
            self.slow_consumers += 1
            t = asyncio.create_task(self._close_slow(conn))
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)
            return
        conn.queue.append((payload, n))
        conn.wake.set()

    async def _close_slow(self, conn: Conn) -> None:
        try:
            if conn.kind == "polygon":
                await conn.ws.send_str(orjson.dumps([{"ev": "status", "status": "slow_consumer",
                                                      "message": "client is too slow: disconnecting"}]).decode())
            await conn.ws.close(code=1008, message=b"slow consumer")
        except Exception:
            self._abort(conn)

    def _distribute(self, keys: list[tuple[str, str]], encoded: list[bytes]) -> None:
        """Queue the events each connection subscribed to (one encode, shared)."""
        for conn in list(self.conns.values()):
            subs = conn.subs
            if not subs or conn.closed or conn.streaming is not None:
                continue
            sel = [e for k, e in zip(keys, encoded) if subs.wants(k[0], k[1])]
            if not sel:
                continue
            if conn.kind == "polygon":
                for i in range(0, len(sel), FRAME_EVENTS):
                    part = sel[i:i + FRAME_EVENTS]
                    self._enqueue(conn, b"[" + b",".join(part) + b"]", len(part))
            else:
                self._enqueue(conn, [b'{"type":"market_data","data":' + e + b"}" for e in sel], len(sel))

    # ---- the pump -------------------------------------------------------
    def _wanted_symbols(self) -> set[str]:
        syms: set[str] = set()
        wild = False
        for c in self.conns.values():
            syms |= c.subs.symbols()
            wild = wild or bool(c.subs.wildcard)
        if wild:
            syms |= set(self.cfg.symbols_hint or DEFAULT_HINT)
        return syms

    def _catch_up(self, sym: str) -> asyncio.Future:
        """Bring a symbol nobody listened to up to now, silently, in a worker thread.

        A fresh tape is hours of events (04:00 to the clock); generating them on
        the loop would freeze every other client for a second. The pump leaves
        the symbol alone until this is done (one writer per tape at a time)."""
        fut = self._catchups.get(sym)
        if fut is None:
            assert self.market is not None
            m = self.market.get(sym, self.clock.now_ms())
            fut = asyncio.ensure_future(asyncio.to_thread(m.advance, self.clock.now_ms(), None))
            self._catchups[sym] = fut
        return fut

    def _advance_synthetic(self, now: int) -> None:
        assert self.market is not None
        wanted = self._wanted_symbols()
        live = set()
        for sym in wanted:
            if sym in self._live:
                live.add(sym)
                continue
            fut = self._catch_up(sym)
            if fut.done():
                del self._catchups[sym]
                fut.result()
                # The clock moved on while the thread worked: close that small gap silently too,
                # so a new subscriber starts at "now" instead of with a burst of older events.
                self.market.get(sym, now).advance(now, None)
                live.add(sym)
        self._live = live
        events: list[dict] = []
        self.market.advance(sorted(live), now, events)
        if events:
            if len(live) > 1:
                events.sort(key=_tape_time)
            dumps = orjson.dumps
            self._distribute([(e["ev"], e["sym"]) for e in events], [dumps(e) for e in events])

    def _advance_replay(self, now: int) -> None:
        r = self.replay
        assert r is not None
        span = r.span_ms + 60_000 - r.span_ms % 60_000  # loops stay minute-aligned
        offset = self._rloop * span
        start = self._rpos
        times = r.times
        end = start
        n = len(times)
        while end < n and times[end] + offset <= now:
            end += 1
        if end > start:
            if offset == 0:
                enc = r.encoded[start:end]
            else:  # later loops: re-stamp (paced rates, so the cost is small)
                enc = [orjson.dumps(shift_event(orjson.loads(b), offset)) for b in r.encoded[start:end]]
            self._distribute(r.keys[start:end], enc)
        self._rpos = end
        if end >= n and self.cfg.loop:
            self._rpos = 0
            self._rloop += 1

    async def _pump(self) -> None:
        tick = self.cfg.tick
        while True:
            try:
                now = self.clock.now_ms()
                if self.market is not None:
                    self._advance_synthetic(now)
                else:
                    self._advance_replay(now)
            except Exception:
                self.errors += 1
                log.exception("sim pump failed (continuing)")
            await asyncio.sleep(tick)

    async def _max_stream(self, conn: Conn) -> None:
        """``--max`` replay to one connection: pre-joined chunks, as fast as the socket drains."""
        r = self.replay
        assert r is not None
        await asyncio.sleep(0)  # let a burst of subscribe messages land first
        try:
            while True:
                for ci, chunk in enumerate(r.chunks):
                    subs = conn.subs
                    lo, hi = ci * CHUNK, min(len(r), (ci + 1) * CHUNK)
                    if conn.kind == "polygon" and (chunk.keys <= subs.pairs or
                                                   all(subs.wants(e, s) for e, s in chunk.keys)):
                        ok = await self._send(conn, chunk.frame, hi - lo)  # the common case: pre-joined
                    else:
                        sel = [e for k, e in zip(r.keys[lo:hi], r.encoded[lo:hi]) if subs.wants(k[0], k[1])]
                        if not sel:
                            await asyncio.sleep(0)
                            continue
                        payload = (b"[" + b",".join(sel) + b"]" if conn.kind == "polygon"
                                   else [b'{"type":"market_data","data":' + e + b"}" for e in sel])
                        ok = await self._send(conn, payload, len(sel))
                    if not ok:
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

    # ---- history --------------------------------------------------------
    async def _minute_bars(self, sym: str) -> list[dict]:
        now = self.clock.now_ms()
        if self.market is not None:
            if sym not in self._live:
                fut = self._catch_up(sym)  # nobody streams it: bring it up to now
                await asyncio.shield(fut)
                if self._catchups.get(sym) is fut:
                    del self._catchups[sym]
            return list(self.market.get(sym, now).minute_bars())
        r = self.replay
        assert r is not None
        bars = r.bars.get(sym, [])
        if self.cfg.max:
            return []  # everything arrives on the stream
        return [b for b in bars if b["e"] <= now]

    def _daily_bars(self, sym: str) -> list[dict]:
        if self.market is None:
            return []
        m = self.market.get(sym, self.clock.now_ms())
        days = list(m.daily_bars())
        today = m.today_daily_bar()
        if today:
            days.append(today)
        return days

    async def _relay_bars(self, request: web.Request) -> web.Response:
        try:
            body = await request.json(loads=orjson.loads)
        except (ValueError, orjson.JSONDecodeError):
            return _bad("invalid JSON body")
        try:
            sym, tf, start, end, limit = hist.parse_relay_request(body)
        except hist.HistoryError as e:
            return _bad(str(e))
        if tf == "1min":
            data = [hist.am_to_relay(b) for b in hist.select(await self._minute_bars(sym), start, end, limit)]
        else:
            data = [hist.daily_to_relay(b) for b in hist.select(self._daily_bars(sym), start, end, limit, key="t")]
        return web.json_response({"data": data, "symbol": sym, "timeframe": tf, "source": self.source},
                                 dumps=_dumps)

    async def _polygon_range(self, request: web.Request) -> web.Response:
        if (err := self._check_key(request)) is not None:
            return err
        mi = request.match_info
        try:
            sym, tf, start, end, limit, desc = hist.parse_polygon_range(
                mi["sym"], mi["mult"], mi["span"], mi["frm"], mi["to"], dict(request.query))
        except hist.HistoryError as e:
            return _bad(str(e))
        # Polygon: sort=asc + limit -> the earliest bars of the range; sort=desc -> the latest, newest first
        if tf == "1min":
            res = [hist.am_to_polygon(b) for b in hist.select(await self._minute_bars(sym), start, end, limit,
                                                               latest=desc)]
        else:
            res = hist.select(self._daily_bars(sym), start, end, limit, key="t", latest=desc)
        if desc:
            res.reverse()
        return web.json_response(hist.polygon_response(sym, res), dumps=_dumps)

    async def _polygon_prev(self, request: web.Request) -> web.Response:
        if (err := self._check_key(request)) is not None:
            return err
        try:
            sym = hist._symbol(request.match_info["sym"])
        except hist.HistoryError as e:
            return _bad(str(e))
        days = self.market.get(sym, self.clock.now_ms()).daily_bars() if self.market is not None else []
        res = [dict(days[-1], T=sym)] if days else []
        return web.json_response(hist.polygon_response(sym, res), dumps=_dumps)

    def _check_key(self, request: web.Request) -> web.Response | None:
        if self.cfg.key is None:
            return None
        got = request.query.get("apiKey") or request.headers.get("Authorization", "").removeprefix("Bearer ")
        if got != self.cfg.key:
            return web.json_response({"status": "ERROR", "error": "unknown API key"}, status=401, dumps=_dumps)
        return None

    # ---- control --------------------------------------------------------
    def status(self) -> dict:
        conns = {"relay": 0, "polygon": 0}
        subs: dict[str, dict[str, int]] = {"relay": {}, "polygon": {}}
        for c in self.conns.values():
            conns[c.kind] += 1
            for t in c.subs.topics():
                subs[c.kind][t] = subs[c.kind].get(t, 0) + 1
        return {"source": self.source, "connections": conns, "accepted": dict(self.accepted),
                "subscriptions": subs, "sent": self.sent, "clock_ms": self.clock.now_ms(),
                "speed": self.clock.speed, "faults": self.faults.as_list(), "errors": self.errors,
                "bad_requests": self.bad_requests, "slow_consumers": self.slow_consumers, **self.injected}

    async def _status(self, request: web.Request) -> web.Response:
        return web.json_response(self.status(), dumps=_dumps)

    async def _fault(self, request: web.Request) -> web.Response:
        try:
            spec = await request.json(loads=orjson.loads)
            f = parse_fault(spec, time.monotonic())
        except (ValueError, orjson.JSONDecodeError) as e:
            return _bad(str(e) or "invalid JSON body")
        self.faults.set(f)
        log.warning("fault injection: %s", f.as_dict() if f else "clear")
        for c in self.conns.values():
            c.wake.set()
        return web.json_response({"ok": True, "faults": self.faults.as_list()}, dumps=_dumps)


def _tape_time(e: dict) -> int:
    t = e.get("t")
    return t if t is not None else e["e"]


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def _bad(message: str, status: int = 400) -> web.Response:
    return web.json_response({"status": "ERROR", "error": message}, status=status, dumps=_dumps)


# ---- command line -------------------------------------------------------
def config_from_args(args: argparse.Namespace) -> SimConfig:
    faults: list[dict] = []
    if getattr(args, "drop_after", None) is not None:
        faults.append({"kind": "drop", "after": args.drop_after})
    elif getattr(args, "drop_every", None) is not None:
        faults.append({"kind": "drop", "every": args.drop_every})
    if getattr(args, "stall_after", None) is not None:
        faults.append({"kind": "stall", "after": args.stall_after})
    if getattr(args, "malformed_every", None) is not None:
        faults.append({"kind": "malformed", "every": args.malformed_every})
    if getattr(args, "max_connections", None) is not None:
        faults.append({"kind": "max_connections", "limit": args.max_connections})
    if getattr(args, "close_1011_after", None) is not None:
        faults.append({"kind": "close_1011", "after": args.close_1011_after})
    hint = [s.upper() for part in (args.symbols_hint or []) for s in part.split(",") if s]
    return SimConfig(host=args.host, port=args.port, seed=args.seed, replay=args.replay,
                     speed=args.speed, max=args.max, loop=args.loop, keep_time=args.keep_time,
                     key=args.key, clock=args.clock, start=args.start, rate=args.rate,
                     symbols_hint=hint, faults=faults)


async def serve(cfg: SimConfig, ready: Callable[[SimServer], None] | None = None) -> int:
    """Run until SIGTERM/SIGINT; ``ready`` is called once listening."""
    from shared.cli import UserError

    try:
        srv = SimServer(cfg)
    except ValueError as e:
        raise UserError(str(e)) from None
    try:
        await srv.start()
    except OSError as e:
        raise UserError(f"cannot listen on {cfg.host}:{cfg.port}: {e.strerror or e}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
    try:
        if ready:
            ready(srv)
        await stop.wait()
    finally:
        await srv.stop()
    log.info("simulator stopped")
    return 0


def run_sim(args: argparse.Namespace, settings=None) -> int:
    """``live-monitor sim``: prints ``LISTENING ws://HOST:PORT source=...`` when ready."""
    cfg = config_from_args(args)
    if cfg.clock == "real" and cfg.speed != 1.0:
        log.warning("--speed is ignored with --clock real (the wall clock runs at 1x)")

    def ready(srv: SimServer) -> None:
        print(f"LISTENING {srv.url} source={srv.source}", flush=True)
        log.info("simulator listening on %s (source=%s, %s)", srv.url, srv.source,
                 f"replay {cfg.replay}" if cfg.replay else f"seed {cfg.seed}, clock {cfg.clock}, speed {cfg.speed}")

    return asyncio.run(serve(cfg, ready))
