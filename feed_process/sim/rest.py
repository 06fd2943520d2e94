"""The simulator's REST history: parse the request, shape the answer - no HTTP here.

Why separate (and why not ``history``: :mod:`feed_process.history` is the
feed's backfill *client*; this is the server side): both history dialects
(the relay's ``POST /api/v1/bars`` and Polygon's ``GET /v2/aggs/...``) reduce
to "bars of SYMBOL between two times"; the parsing rules and the response
shapes are unit-tested here and the server only fetches the bars and wires
these functions to aiohttp. Bad parameters raise :class:`HistoryError`
(-> HTTP 400 with a JSON error), never a 500.

Dates: ``YYYY-MM-DD`` (a New York day; as an end date it includes the whole
day), ISO date-times (naive = New York), or epoch milliseconds.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from shared.market_hours import NY

from .sessions import ticker

MAX_LIMIT = 50_000


class HistoryError(ValueError):
    """A bad history request; the message is returned to the client."""


def parse_time(v: Any, name: str, end: bool = False) -> int:
    """Epoch ms from a date, a date-time or epoch ms (int or digits)."""
    if isinstance(v, bool) or v is None:
        raise HistoryError(f"'{name}' is required (YYYY-MM-DD, ISO date-time or epoch ms)")
    if isinstance(v, (int, float)):
        return int(v)
    if not isinstance(v, str) or not v.strip():
        raise HistoryError(f"'{name}' must be YYYY-MM-DD, an ISO date-time or epoch ms")
    s = v.strip()
    if s.isdigit():
        return int(s)
    try:
        if len(s) == 10:
            d = dt.date.fromisoformat(s)
            if end:
                d += dt.timedelta(days=1)
            return int(dt.datetime.combine(d, dt.time(0, 0), NY).timestamp() * 1000) - (1 if end else 0)
        t = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise HistoryError(f"'{name}' is not a date: {s!r}") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=NY)
    return int(t.timestamp() * 1000)


def symbol(v: Any) -> str:
    s = ticker(v)
    if s is None:
        raise HistoryError(f"invalid symbol: {v!r}")
    return s


def _limit(v: Any, default: int) -> int:
    if v is None or v == "":
        return default
    try:
        n = int(v)
    except (TypeError, ValueError):
        raise HistoryError(f"'limit' must be a whole number, got {v!r}") from None
    if n < 1:
        raise HistoryError("'limit' must be >= 1")
    return min(n, MAX_LIMIT)


def parse_relay_request(body: Any) -> tuple[str, str, int, int, int]:
    """(symbol, timeframe '1min'|'1day', start_ms, end_ms, limit) from the relay's JSON body."""
    if not isinstance(body, dict):
        raise HistoryError("expected a JSON object {symbol, timeframe, start_date, end_date, limit}")
    sym = symbol(body.get("symbol"))
    tf = body.get("timeframe", "1min")
    if tf not in ("1min", "1day"):
        raise HistoryError(f"unsupported timeframe {tf!r} (1min or 1day)")
    start = parse_time(body.get("start_date"), "start_date")
    end = parse_time(body.get("end_date"), "end_date", end=True) if body.get("end_date") is not None else 2**62
    if end < start:
        raise HistoryError("end_date is before start_date")
    return sym, tf, start, end, _limit(body.get("limit"), 2000)


def parse_polygon_range(sym: str, multiplier: str, timespan: str, frm: str, to: str,
                        query: dict) -> tuple[str, str, int, int, int, bool]:
    """(symbol, '1min'|'1day', from_ms, to_ms, limit, descending) for ``/v2/aggs/.../range/...``."""
    sym = symbol(sym)
    if multiplier != "1" or timespan not in ("minute", "day"):
        raise HistoryError(f"unsupported range {multiplier}/{timespan} (this server serves 1/minute and 1/day)")
    start = parse_time(frm, "from")
    end = parse_time(to, "to", end=True)
    if end < start:
        raise HistoryError("'to' is before 'from'")
    sort = query.get("sort", "asc")
    if sort not in ("asc", "desc"):
        raise HistoryError("'sort' must be asc or desc")
    return sym, "1min" if timespan == "minute" else "1day", start, end, _limit(query.get("limit"), 5000), sort == "desc"


def select(bars: list[dict], start: int, end: int, limit: int, key: str = "s", latest: bool = True) -> list[dict]:
    """Bars with ``start <= bar[key] <= end``, oldest first: the latest ``limit`` of them (the relay;
    what a chart wants), or the earliest (``latest=False``: Polygon's ``sort=asc`` + ``limit``)."""
    chosen = [b for b in bars if start <= b[key] <= end]
    return chosen[-limit:] if latest else chosen[:limit]


def am_to_polygon(b: dict) -> dict:
    return {"v": b["v"], "vw": b["vw"], "o": b["o"], "c": b["c"], "h": b["h"], "l": b["l"], "t": b["s"],
            "n": b.get("n", 0)}


def am_to_relay(b: dict) -> dict:
    return {"timestamp": b["s"], "open": b["o"], "high": b["h"], "low": b["l"], "close": b["c"],
            "volume": b["v"], "vwap": b["vw"], "transactions": b.get("n", 0)}


def daily_to_relay(b: dict) -> dict:
    return {"timestamp": b["t"], "open": b["o"], "high": b["h"], "low": b["l"], "close": b["c"],
            "volume": b["v"], "vwap": b["vw"], "transactions": b.get("n", 0)}


def polygon_response(sym: str, results: list[dict], request_id: str = "sim") -> dict:
    return {"ticker": sym, "queryCount": len(results), "resultsCount": len(results), "adjusted": True,
            "results": results, "status": "OK", "request_id": request_id, "count": len(results)}


# ---- answers (the server passes the bars it holds) -------------------------
def relay_answer(sym: str, tf: str, start: int, end: int, limit: int, bars: list[dict], source: str) -> dict:
    """``POST /api/v1/bars``: minute bars (``s`` keyed) or daily bars (``t`` keyed), the latest ``limit``."""
    if tf == "1min":
        data = [am_to_relay(b) for b in select(bars, start, end, limit)]
    else:
        data = [daily_to_relay(b) for b in select(bars, start, end, limit, key="t")]
    return {"data": data, "symbol": sym, "timeframe": tf, "source": source}


def polygon_range_answer(sym: str, tf: str, start: int, end: int, limit: int, desc: bool,
                         bars: list[dict]) -> dict:
    """``/v2/aggs/.../range``: ``sort=asc`` + limit = the earliest bars; ``sort=desc`` = the latest, newest first."""
    if tf == "1min":
        res = [am_to_polygon(b) for b in select(bars, start, end, limit, latest=desc)]
    else:
        res = select(bars, start, end, limit, key="t", latest=desc)
    if desc:
        res.reverse()
    return polygon_response(sym, res)


def prev_answer(sym: str, days: list[dict]) -> dict:
    """``/v2/aggs/ticker/{sym}/prev``: the previous session's daily bar (none in a replay)."""
    return polygon_response(sym, [dict(days[-1], T=sym)] if days else [])


def key_ok(expected: str | None, query: dict, headers: dict) -> bool:
    """Polygon REST auth: ``apiKey`` in the query or a Bearer token; anything goes without ``--key``."""
    if expected is None:
        return True
    got = query.get("apiKey") or headers.get("Authorization", "").removeprefix("Bearer ")
    return got == expected


def error_body(message: str) -> dict:
    return {"status": "ERROR", "error": message}
