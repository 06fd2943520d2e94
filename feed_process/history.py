"""Minute and day bars from the upstream's REST endpoints (the backfill on first subscribe).

Why: a window opened at 11:00 should show the morning, not an empty chart, and
the chart's D timeframe and prior-day levels need the day aggregates. Two
upstream dialects, one result shape (``[start, o, h, l, c, v, vwap, n]`` lists,
oldest first); *which* range to ask for is decided here too (:func:`minute_range`,
:func:`day_range`: only what the history store does not hold):

* relay / simulator: ``POST {base}/api/v1/bars`` with
  ``{symbol, timeframe: "1min" | "1day", start_date, end_date, limit, validate: false}``
  (the relay answers HTTP 500 for fewer than 10 bars - a young session - unless
  told not to validate) -> ``{"data": [{timestamp, open, high, low, close, volume, vwap, transactions}]}``
* Polygon/Massive: ``GET {base}/v2/aggs/ticker/{sym}/range/1/minute/{from_ms}/{to_ms}``
  (newest first, so ``limit`` keeps the latest bars) and ``.../range/1/day/{from}/{to}``
  (the previous close is the last finished day's close). The key travels in the
  ``Authorization`` header, never in the URL, so no error message or log line
  (an HTTP client may put the URL in its exceptions) can carry it.

Every call here is made by :mod:`.backfill` after the one REST rate limiter
(:mod:`shared.rest_limit`) gave it a token.

The REST base derives from the WebSocket URL (``ws://h:p/...`` -> ``http://h:p``,
``wss://socket.massive.com`` -> ``https://api.massive.com``) unless
``settings.rest_url`` names it. :mod:`.rest_client` (stdlib http.client) does the HTTP.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from typing import Any
from urllib.parse import quote, urlsplit

import orjson

from shared import market_hours
from shared.config import POLYGON_REST_URL
from shared.market import MINUTE

from .rest_client import RestClient, RestError

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


def _ny_ms(d: dt.date) -> int:
    return int(dt.datetime.combine(d, dt.time(0), market_hours.NY).timestamp() * 1000)


def minute_range(data_ms: int, last_stored: int | None) -> tuple[int, int] | None:
    """The minutes to ask for, ``(from_ms, to_ms)`` inclusive, or None when the store has them all.

    Fresh: the previous session's day up to the end of the data clock's day. With
    stored bars: from the minute after the last stored one (never earlier than the
    fresh start). Nothing when that minute has not finished yet.
    """
    first, day = date_range(data_ms)
    lo, hi = _ny_ms(first), _ny_ms(day + dt.timedelta(days=1)) - 1
    if last_stored is not None:
        lo = max(lo, last_stored + MINUTE)
        if lo + MINUTE > data_ms:
            return None
    return lo, hi


def day_range(data_ms: int, days: int, last_stored_ms: int | None) -> tuple[dt.date, dt.date] | None:
    """The finished days to ask for: ``days`` calendar days before the data day (or after the last
    stored day) up to the previous session; None when the store already has the previous session."""
    day = market_hours.ny_date(data_ms)
    prev = market_hours.previous_session(day)
    end = prev.day if prev else day - dt.timedelta(days=1)
    lo = day - dt.timedelta(days=days)
    if last_stored_ms is not None:
        lo = max(lo, market_hours.ny_date(last_stored_ms) + dt.timedelta(days=1))
    return (lo, end) if lo <= end else None


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


async def _json(session: RestClient, method: str, url: str, what: str, **kw: Any) -> Any:
    try:
        status, body = await session.request(method, url, max_bytes=MAX_RESPONSE_BYTES, **kw)
    except RestError as e:
        raise HistoryError(f"{what}: {e}") from None
    if status in (401, 403):
        raise HistoryError(f"{what}: not authorised (HTTP {status}); check the API key")
    if status != 200:
        raise HistoryError(f"{what}: HTTP {status}")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise HistoryError(f"{what}: response is not JSON") from None


def _relay_rows(doc: Any, what: str) -> list[list]:
    rows = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(rows, list):
        raise HistoryError(f"{what}: response has no 'data' list")
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
    return bars


def _polygon_rows(doc: Any, what: str) -> list[list]:
    rows = doc.get("results") if isinstance(doc, dict) else None
    if rows is None and isinstance(doc, dict) and doc.get("status") in ("OK", "DELAYED"):
        rows = []
    if not isinstance(rows, list):
        msg = doc.get("error") or doc.get("message") if isinstance(doc, dict) else None
        raise HistoryError(f"{what}: {str(msg)[:120] if msg else 'no results'}")
    bars = [b for r in rows if isinstance(r, dict)
            and (b := _bar(r.get("t"), r.get("o"), r.get("h"), r.get("l"), r.get("c"), r.get("v"), r.get("vw"),
                           r.get("n")))]
    bars.sort(key=lambda b: b[0])
    return bars


async def fetch_minutes(session: RestClient, protocol: str, base: str, key: str, symbol: str,
                        span: tuple[int, int], limit: int) -> list[list]:
    """Minute bars in ``span`` (epoch ms, inclusive), oldest first, the latest ``limit``.

    Relay: ``start_date``/``end_date`` as ISO date-times (UTC). Polygon: ``from``/``to``
    as epoch milliseconds (its documented alternative to dates), ``sort=desc`` + ``limit``.
    """
    lo, hi = span
    if protocol == "polygon":
        url = f"{base}/v2/aggs/ticker/{quote(symbol, safe='')}/range/1/minute/{lo}/{hi}"
        doc = await _json(session, "GET", url, "history", headers=_auth(key),
                          params={"adjusted": "true", "sort": "desc", "limit": str(min(limit, 50000))})
        return _polygon_rows(doc, "history")[-limit:]
    body = {"symbol": symbol, "timeframe": "1min", "start_date": _iso(lo), "end_date": _iso(hi), "limit": limit,
            "validate": False}
    return _relay_rows(await _json(session, "POST", f"{base}/api/v1/bars", "history", json=body), "history")[-limit:]


async def fetch_days(session: RestClient, protocol: str, base: str, key: str, symbol: str,
                     span: tuple[dt.date, dt.date]) -> list[list]:
    """Day aggregates of the New York dates in ``span``, oldest first (Polygon ``range/1/day``,
    relay ``timeframe: "1day"``)."""
    lo, hi = span[0].isoformat(), span[1].isoformat()
    if protocol == "polygon":
        url = f"{base}/v2/aggs/ticker/{quote(symbol, safe='')}/range/1/day/{lo}/{hi}"
        doc = await _json(session, "GET", url, "day history", headers=_auth(key),
                          params={"adjusted": "true", "sort": "asc", "limit": "5000"})
        return _polygon_rows(doc, "day history")
    body = {"symbol": symbol, "timeframe": "1day", "start_date": lo, "end_date": hi, "limit": 5000,
            "validate": False}
    return _relay_rows(await _json(session, "POST", f"{base}/api/v1/bars", "day history", json=body),
                       "day history")


def _auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"} if key else {}
