"""A stand-in for the real FastAPI relay, quirks included, on a real loopback port (tests only).

Why: the simulator's relay is well-behaved; the real one is not, and the feed
must cope with exactly these three habits (the seed's relay, as observed):

* **It keeps every callback a client id ever registered.** Each ``subscribe``
  adds a callback under the path's client id; nothing ever removes one
  (``unsubscribe`` is acknowledged and ignored, a closed socket leaves its
  callbacks behind). Callbacks write to the client id's *current* socket, so
  after a re-subscribe, or a reconnect under the same id, each event is sent
  2x, 3x ...
* **History validates**: ``POST /api/v1/bars`` answers HTTP 500 when fewer than
  10 bars exist, unless the body says ``"validate": false``.
* **Subscribes fail while "its upstream is not ready"** (``ready = False``):
  ``{"type": "error", "message": "upstream not ready"}``.

Plus test knobs: ``history_failures`` (the next N history requests get 500),
``bars`` (finished minute bars it has per symbol), ``paused`` (no events).

    with StandinRelay(bars=3) as relay:
        relay.url  # ws://127.0.0.1:PORT/ws/{client_id}
        relay.copies_sent   # extra copies of events it sent (callbacks beyond the first)

It runs an aiohttp app on its own event loop in a daemon thread; the knobs
are plain attributes read by that loop (ints/bools: safe to set from the test).
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import Counter
from typing import Any

import orjson
from aiohttp import WSMsgType, web

M = 60_000


class StandinRelay:
    def __init__(self, *, bars: int = 30, ready: bool = True, interval: float = 0.01) -> None:
        self.bars = bars
        self.ready = ready
        self.interval = interval
        self.history_failures = 0
        self.paused = False
        self.callbacks: dict[str, list[set[str]]] = {}  # client id -> one symbol set per subscribe, forever
        self.sockets: dict[str, web.WebSocketResponse] = {}  # client id -> its current socket
        self.client_ids: list[str] = []                 # every id that connected, in order
        self.history_requests: list[dict] = []
        self.history_500 = 0
        self.sub_errors = 0
        self.events = 0          # distinct events generated (while someone wanted them)
        self.copies_sent = 0     # copies beyond the first of an event to one socket
        self.sent: Counter[str] = Counter()  # trade id -> times sent (to any socket)
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ------------------------------------------------------------ lifecycle

    def __enter__(self) -> "StandinRelay":
        started = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(started,), daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("stand-in relay did not start")
        return self

    def __exit__(self, *exc: Any) -> None:
        loop = self._loop
        if loop is not None:
            asyncio.run_coroutine_threadsafe(self._stop(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
        self._thread.join(10)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/{{client_id}}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self, started: threading.Event) -> None:
        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        app = web.Application()
        app.add_routes([web.get("/ws/{client_id}", self._ws), web.post("/api/v1/bars", self._bars)])
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._pump_task = loop.create_task(self._pump())
        started.set()
        loop.run_forever()
        loop.close()

    async def _stop(self) -> None:
        self._pump_task.cancel()
        for ws in list(self.sockets.values()):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------ websocket

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        cid = request.match_info["client_id"]
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets[cid] = ws  # the id's callbacks now write here
        self.client_ids.append(cid)
        await ws.send_str(orjson.dumps({"type": "connected", "client_id": cid}).decode())
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                req = orjson.loads(msg.data)
            except orjson.JSONDecodeError:
                await ws.send_str('{"type":"error","message":"invalid JSON"}')
                continue
            action = req.get("action")
            syms = [s for s in req.get("symbols") or [] if isinstance(s, str)]
            if action == "subscribe":
                if not self.ready:
                    self.sub_errors += 1
                    await ws.send_str('{"type":"error","message":"upstream not ready"}')
                    continue
                self.callbacks.setdefault(cid, []).append(set(syms))
                await ws.send_str(orjson.dumps({"type": "subscribed", "symbols": syms}).decode())
            elif action == "unsubscribe":  # acknowledged, and ignored: the callbacks stay
                await ws.send_str(orjson.dumps({"type": "unsubscribed", "symbols": syms}).decode())
            elif action == "ping":
                await ws.send_str('{"type":"pong"}')
        return ws

    async def _pump(self) -> None:
        """A trade per wanted symbol per interval, written once per registered callback."""
        q = itertools.count(1)
        while True:
            await asyncio.sleep(self.interval)
            if self.paused:
                continue
            now = int(time.time() * 1000)
            wanted = {s for sets in self.callbacks.values() for syms in sets for s in syms}
            for sym in sorted(wanted):
                n = next(q)
                tid = f"{sym}-{n}"
                ev = {"ev": "T", "sym": sym, "p": 100.0 + (n % 50) / 100, "s": 100, "t": now, "i": tid, "q": n,
                      "x": 4, "c": []}
                text = orjson.dumps({"type": "market_data", "data": ev}).decode()
                self.events += 1
                for cid, sets in self.callbacks.items():
                    ws = self.sockets.get(cid)
                    copies = sum(1 for syms in sets if sym in syms)
                    if ws is None or ws.closed or not copies:
                        continue
                    for _ in range(copies):
                        try:
                            await ws.send_str(text)
                        except (ConnectionError, RuntimeError):
                            break
                        self.sent[tid] += 1
                    self.copies_sent += copies - 1

    # ------------------------------------------------------------ history

    async def _bars(self, request: web.Request) -> web.Response:
        body = await request.json(loads=orjson.loads)
        self.history_requests.append(body)
        if self.history_failures > 0 and body.get("timeframe") == "1min":
            self.history_failures -= 1
            self.history_500 += 1
            return web.json_response({"detail": "internal error"}, status=500)
        n = self.bars if body.get("timeframe") == "1min" else 0
        if n < 10 and body.get("validate") is not False:
            self.history_500 += 1
            return web.json_response({"detail": "not enough bars to validate"}, status=500)
        now = int(time.time() * 1000)
        start = now - now % M
        rows = [{"timestamp": start - (n - i) * M, "open": 100.0, "high": 101.0, "low": 99.0, "close": 100.5,
                 "volume": 1000, "vwap": 100.2, "transactions": 10} for i in range(n)]
        return web.json_response({"data": rows[-int(body.get("limit") or n):] if n else []})
