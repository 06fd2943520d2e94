"""The simulator's HTTP endpoints: history (both dialects) and control (status, faults, inject).

Why apart from :mod:`.server`: these are plain request -> JSON handlers with
no connection state; the rules (parameters, shapes, errors) live in
:mod:`.rest`, :mod:`.faults` and :mod:`.inject` and this adapter only reads
the request, fetches the bars or applies the change on the server, and
answers. Every error is a JSON ``{"status": "ERROR", "error"}`` with 400 (or
401 for a wrong Polygon key), never a 500.

* ``POST /api/v1/bars`` (relay), ``GET /v2/aggs/ticker/{sym}/range/1/{minute|day}/{from}/{to}``
  and ``GET /v2/aggs/ticker/{sym}/prev`` (Polygon; ``apiKey`` checked only with ``--key``);
* ``GET /sim/status`` (+ ``history``: requests per endpoint and the last ones with their
  symbol, timeframe and from/to in epoch ms), ``POST /sim/fault`` (:mod:`.faults`), ``POST /sim/inject`` (:mod:`.inject`).
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from . import rest
from .faults import parse_fault
from .inject import event_key, parse_inject

if TYPE_CHECKING:
    from .server import SimServer

log = logging.getLogger(__name__)

HISTORY_LOG = 1000  # history requests remembered for /sim/status


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(obj), status=status, content_type="application/json")


def _bad(message: str, status: int = 400) -> web.Response:
    return _json(rest.error_body(message), status)


class Endpoints:
    def __init__(self, srv: "SimServer"):
        self.srv = srv
        # Every valid history request, for tests and `/sim/status` (``history``): which
        # endpoint, symbol, timeframe and range (epoch ms) a client asked for.
        self.history_counts: Counter[str] = Counter()
        self.history_log: deque[dict] = deque(maxlen=HISTORY_LOG)

    def _count(self, endpoint: str, sym: str, tf: str, start: int | None, end: int | None) -> None:
        self.history_counts[endpoint] += 1
        self.history_log.append({"endpoint": endpoint, "symbol": sym, "timeframe": tf, "from": start,
                                 "to": end if end is None or end < 2**62 else None, "at_ms": int(time.time() * 1000)})

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/v1/bars", self.relay_bars),
            web.get("/v2/aggs/ticker/{sym}/range/{mult}/{span}/{frm}/{to}", self.polygon_range),
            web.get("/v2/aggs/ticker/{sym}/prev", self.polygon_prev),
            web.get("/sim/status", self.status),
            web.post("/sim/fault", self.fault),
            web.post("/sim/inject", self.inject),
        ]

    # ---- history --------------------------------------------------------
    async def _bars(self, sym: str, tf: str) -> list[dict]:
        srv = self.srv
        now = srv.clock.now_ms()
        if srv.tape is not None:
            return await srv.tape.minute_bars(sym, now) if tf == "1min" else srv.tape.daily_bars(sym, now)
        assert srv.pacer is not None
        return srv.pacer.minute_bars(sym, now, srv.cfg.max) if tf == "1min" else []

    async def relay_bars(self, request: web.Request) -> web.Response:
        try:
            body = await request.json(loads=orjson.loads)
        except (ValueError, orjson.JSONDecodeError):
            return _bad("invalid JSON body")
        try:
            sym, tf, start, end, limit = rest.parse_relay_request(body)
        except rest.HistoryError as e:
            return _bad(str(e))
        self._count("relay_bars", sym, tf, start, end)
        return _json(rest.relay_answer(sym, tf, start, end, limit, await self._bars(sym, tf), self.srv.source))

    async def polygon_range(self, request: web.Request) -> web.Response:
        if not rest.key_ok(self.srv.cfg.key, request.query, request.headers):
            return _bad("unknown API key", 401)
        mi = request.match_info
        try:
            sym, tf, start, end, limit, desc = rest.parse_polygon_range(
                mi["sym"], mi["mult"], mi["span"], mi["frm"], mi["to"], dict(request.query))
        except rest.HistoryError as e:
            return _bad(str(e))
        self._count("polygon_range", sym, tf, start, end)
        return _json(rest.polygon_range_answer(sym, tf, start, end, limit, desc, await self._bars(sym, tf)))

    async def polygon_prev(self, request: web.Request) -> web.Response:
        srv = self.srv
        if not rest.key_ok(srv.cfg.key, request.query, request.headers):
            return _bad("unknown API key", 401)
        try:
            sym = rest.symbol(request.match_info["sym"])
        except rest.HistoryError as e:
            return _bad(str(e))
        self._count("polygon_prev", sym, "1day", None, None)
        days = srv.tape.daily_bars(sym, srv.clock.now_ms(), with_today=False) if srv.tape is not None else []
        return _json(rest.prev_answer(sym, days))

    # ---- control --------------------------------------------------------
    async def status(self, request: web.Request) -> web.Response:
        return _json(self.srv.status() | {"history": {"counts": dict(self.history_counts),
                                                      "requests": list(self.history_log)}})

    async def fault(self, request: web.Request) -> web.Response:
        try:
            f = parse_fault(await request.json(loads=orjson.loads), time.monotonic())
        except (ValueError, orjson.JSONDecodeError) as e:
            return _bad(str(e) or "invalid JSON body")
        srv = self.srv
        srv.faults.set(f)
        log.warning("fault injection: %s", f.as_dict() if f else "clear")
        for c in srv.conns.values():
            c.wake.set()
        return _json({"ok": True, "faults": srv.faults.as_list()})

    async def inject(self, request: web.Request) -> web.Response:
        srv = self.srv
        now = srv.clock.now_ms()

        def price_of(sym: str) -> float | None:
            if srv.tape is not None:
                return srv.tape.price(sym, now)
            return srv.pacer.price(sym, now) if srv.pacer is not None else None
        try:
            events = parse_inject(await request.json(loads=orjson.loads), now, price_of)
        except (ValueError, orjson.JSONDecodeError) as e:  # InjectError is a ValueError
            return _bad(str(e) or "invalid JSON body")
        srv.distribute([event_key(e) for e in events], [orjson.dumps(e) for e in events])
        srv.counts["injected"] += len(events)
        log.info("injected %d events (%s)", len(events), ", ".join(sorted({e["ev"] for e in events})))
        return _json({"ok": True, "events": events})
