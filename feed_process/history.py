"""Minute-bar history from the upstream's REST endpoint (the backfill on first subscribe).

Why: a window opened at 11:00 should show the morning, not an empty chart.
Two upstream dialects, one result shape (``[start, o, h, l, c, v, vwap, n]``
lists, oldest first, plus the previous session's close when known):

* relay / simulator: ``POST {base}/api/v1/bars`` with
  ``{symbol, timeframe: "1min", start_date, end_date, limit, validate: false}`` (the relay
  answers HTTP 500 for fewer than 10 bars - a young session - unless told not to validate) ->
  ``{"data": [{timestamp, open, high, low, close, volume, vwap, transactions}]}``
* Polygon/Massive: ``GET {base}/v2/aggs/ticker/{sym}/range/1/minute/{from}/{to}``
  (newest first, so ``limit`` keeps the latest bars) and
  ``GET {base}/v2/aggs/ticker/{sym}/prev`` for the previous close. The key
  travels in the ``Authorization`` header, never in the URL, so no error
  message or log line (aiohttp puts the URL in its exceptions) can carry it.

The REST base derives from the WebSocket URL (``ws://h:p/...`` -> ``http://h:p``,
``wss://socket.massive.com`` -> ``https://api.massive.com``) unless
``settings.rest_url`` names it. aiohttp does the HTTP.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp

from shared import market_hours
from shared.config import POLYGON_REST_URL

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 32 * 1024 * 1024


class HistoryError(Exception):
    """History could not be loaded; the message is safe to show (no key, no query)."""


def rest_base_url(ws_url: str, override: str = "") -> str:
    if override:
        return override.rstrip("/")
    u = urlsplit(ws_url)
    host = u.hostname or "localhost"
    if host.endswith("massive.com") or host.endswith("polygon.io"):
        return POLYGON_REST_URL
    scheme = "https" if u.scheme == "wss" else "http"
    port = f":{u.port}" if u.port else ""
    return f"{scheme}://{host}{port}"


def _pos(v: Any) -> bool:
    return type(v) in (int, float) and 0 < v < math.inf


def _bar(start: Any, o: Any, h: Any, lo: Any, c: Any, v: Any, vw: Any, n: Any) -> list | None:
    if type(start) is not int or start <= 0 or not (_pos(o) and _pos(h) and _pos(lo) and _pos(c)):
        return None
    if not (lo <= o <= h and lo <= c <= h) or type(v) not in (int, float) or not 0 <= v < math.inf:
        return None
    return [start, o, h, lo, c, int(v), vw if _pos(vw) else None, n if type(n) is int else None]


def date_range(data_ms: int) -> tuple[dt.date, dt.date]:
    """From the previous session (for the prior close) to the data clock's day."""
    day = market_hours.ny_date(data_ms)
    prev = market_hours.previous_session(day)
    return (prev.day if prev else day - dt.timedelta(days=4)), day


async def _json(session: aiohttp.ClientSession, method: str, url: str, what: str, **kw: Any) -> Any:
    try:
        async with session.request(method, url, **kw) as r:
            if r.status in (401, 403):
                raise HistoryError(f"{what}: not authorised (HTTP {r.status}); check the API key")
            if r.status != 200:
                raise HistoryError(f"{what}: HTTP {r.status}")
            if r.content_length and r.content_length > MAX_RESPONSE_BYTES:
                raise HistoryError(f"{what}: response too large")
            return await r.json(content_type=None)
    except HistoryError:
        raise
    except aiohttp.ClientError as e:
        raise HistoryError(f"{what}: {type(e).__name__}") from None
    except ValueError:
        raise HistoryError(f"{what}: response is not JSON") from None


async def fetch_relay_bars(session: aiohttp.ClientSession, base: str, symbol: str, data_ms: int,
                           limit: int) -> tuple[list[list], float | None]:
    start, end = date_range(data_ms)
    body = {"symbol": symbol, "timeframe": "1min", "start_date": start.isoformat(),
            "end_date": end.isoformat(), "limit": limit, "validate": False}
    doc = await _json(session, "POST", f"{base}/api/v1/bars", "history", json=body)
    rows = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(rows, list):
        raise HistoryError("history: response has no 'data' list")
    bars = []
    for r in rows:
        if isinstance(r, dict):
            ts = r.get("timestamp")
            if isinstance(ts, str):
                try:
                    ts = int(dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)
                except ValueError:
                    ts = None
            elif type(ts) is int and ts < 10**11:
                ts *= 1000  # seconds
            b = _bar(ts, r.get("open"), r.get("high"), r.get("low"), r.get("close"), r.get("volume"),
                     r.get("vwap"), r.get("transactions"))
            if b:
                bars.append(b)
    bars.sort(key=lambda b: b[0])
    return bars[-limit:], await _relay_prev_close(session, base, symbol, data_ms)


async def _relay_prev_close(session: aiohttp.ClientSession, base: str, symbol: str, data_ms: int) -> float | None:
    """The last daily close before the data clock's day (``timeframe: "1day"``), if the relay has it.

    Best effort: without it the state derives the close from the previous session's minute bars.
    """
    day = market_hours.ny_date(data_ms)
    body = {"symbol": symbol, "timeframe": "1day", "start_date": (day - dt.timedelta(days=14)).isoformat(),
            "end_date": day.isoformat(), "limit": 20, "validate": False}
    try:
        doc = await _json(session, "POST", f"{base}/api/v1/bars", "daily history", json=body)
    except HistoryError as e:
        log.debug("%s: no daily bars (%s)", symbol, e)
        return None
    rows = doc.get("data") if isinstance(doc, dict) else None
    best: tuple[int, float] | None = None
    for r in rows if isinstance(rows, list) else []:
        if not isinstance(r, dict):
            continue
        ts, c = r.get("timestamp"), r.get("close")
        if type(ts) is int and _pos(c) and market_hours.ny_date(ts if ts > 10**11 else ts * 1000) < day:
            if best is None or ts > best[0]:
                best = (ts, float(c))
    return best[1] if best else None


async def fetch_polygon_bars(session: aiohttp.ClientSession, base: str, key: str, symbol: str, data_ms: int,
                             limit: int) -> tuple[list[list], float | None]:
    start, end = date_range(data_ms)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    sym = quote(symbol, safe="")
    url = f"{base}/v2/aggs/ticker/{sym}/range/1/minute/{start.isoformat()}/{end.isoformat()}"
    doc = await _json(session, "GET", url, "history", headers=headers,
                      params={"adjusted": "true", "sort": "desc", "limit": str(min(limit, 50000))})
    rows = doc.get("results") if isinstance(doc, dict) else None
    if rows is None and isinstance(doc, dict) and doc.get("status") in ("OK", "DELAYED"):
        rows = []
    if not isinstance(rows, list):
        msg = doc.get("error") or doc.get("message") if isinstance(doc, dict) else None
        raise HistoryError(f"history: {str(msg)[:120] if msg else 'no results'}")
    bars = [b for r in rows if isinstance(r, dict)
            and (b := _bar(r.get("t"), r.get("o"), r.get("h"), r.get("l"), r.get("c"), r.get("v"), r.get("vw"),
                           r.get("n")))]
    bars.sort(key=lambda b: b[0])
    prev_close = None
    try:
        pdoc = await _json(session, "GET", f"{base}/v2/aggs/ticker/{sym}/prev", "previous close", headers=headers,
                           params={"adjusted": "true"})
        res = pdoc.get("results") if isinstance(pdoc, dict) else None
        if isinstance(res, list) and res and isinstance(res[0], dict) and _pos(res[0].get("c")):
            prev_close = float(res[0]["c"])
    except HistoryError as e:
        log.info("%s: previous close unavailable (%s); deriving it from the bars", symbol, e)
    return bars[-limit:], prev_close
