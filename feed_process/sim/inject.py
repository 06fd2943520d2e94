"""``POST /sim/inject``: script events the tape does not make (LULD bands, imbalances, odd prints).

Why: halts and limit bands are rare on a real tape and absent from the
synthetic one, yet the feed and the window must show them; a test (or a demo)
scripts them here and they reach every connection subscribed to their
channel and symbol, framed like any other event. Sans-I/O: the server parses
the body with :func:`parse_inject` and distributes the result.

Body (JSON), one of:

* ``{"events": [{...}, ...]}`` - raw Polygon events sent as given (each an
  object with ``ev`` and a ticker in ``sym``, or ``T`` as LULD/NOI carry it;
  ``t`` defaults to the sim clock's now). Channel = ``ev``.
* ``{"luld": {"sym": "AAPL", "pct": 5, "i": [21], "h": ..., "l": ...}}`` - a
  LULD band event (spec StockLULDEvent: ``T h l i z t q``); without ``h``/``l``
  the band is the symbol's current price +- ``pct`` percent (default 5).
"""

from __future__ import annotations

import itertools
from typing import Any, Callable

from .sessions import ticker

MAX_EVENTS = 10_000
_seq = itertools.count(1)


class InjectError(ValueError):
    """A bad inject body; the message goes back to the client (HTTP 400)."""


def event_key(ev: dict) -> tuple[str, str]:
    """(channel, symbol) an event is routed by: ``sym`` on T/Q/A/AM, ``T`` on LULD/NOI."""
    return ev["ev"], ev.get("sym") if isinstance(ev.get("sym"), str) else ev["T"]


def _raw(ev: Any, now_ms: int) -> dict:
    if not isinstance(ev, dict) or not isinstance(ev.get("ev"), str) or not ev["ev"]:
        raise InjectError("each event must be an object with 'ev'")
    name = ev.get("sym") if isinstance(ev.get("sym"), str) else ev.get("T")
    if not isinstance(name, str) or ticker(name) != name:
        raise InjectError(f"event needs a valid ticker in 'sym' or 'T', got {name!r}")
    out = dict(ev)
    if ev["ev"] not in ("A", "AM"):  # aggregates are timed by s/e, everything else by t
        out.setdefault("t", now_ms)
    return out


def _luld(spec: Any, now_ms: int, price_of: Callable[[str], float | None]) -> dict:
    if not isinstance(spec, dict):
        raise InjectError("'luld' must be an object {sym, pct?, i?, h?, l?}")
    sym = ticker(spec.get("sym"))
    if sym is None:
        raise InjectError(f"luld: invalid symbol {spec.get('sym')!r}")
    hi, lo = spec.get("h"), spec.get("l")
    if hi is None or lo is None:
        pct = spec.get("pct", 5)
        if isinstance(pct, bool) or not isinstance(pct, (int, float)) or not 0 < pct < 100:
            raise InjectError("luld: 'pct' must be a number between 0 and 100")
        price = price_of(sym)
        if price is None:
            raise InjectError(f"luld: no price known for {sym}: give 'h' and 'l'")
        hi, lo = round(price * (1 + pct / 100), 2), round(price * (1 - pct / 100), 2)
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0 for x in (hi, lo)) or lo >= hi:
        raise InjectError("luld: 'h' and 'l' must be prices with l < h")
    ind = spec.get("i", [])
    if not isinstance(ind, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in ind):
        raise InjectError("luld: 'i' must be a list of indicator codes")
    return {"ev": "LULD", "T": sym, "h": hi, "l": lo, "i": ind, "z": spec.get("z", 3), "t": now_ms,
            "q": next(_seq)}


def parse_inject(body: Any, now_ms: int, price_of: Callable[[str], float | None]) -> list[dict]:
    """The events to send, validated; raises :class:`InjectError`."""
    if not isinstance(body, dict) or not ({"events", "luld"} & body.keys()):
        raise InjectError("expected {\"events\": [...]} or {\"luld\": {\"sym\": ...}}")
    out: list[dict] = []
    if "luld" in body:
        out.append(_luld(body["luld"], now_ms, price_of))
    if "events" in body:
        evs = body["events"]
        if not isinstance(evs, list) or len(evs) > MAX_EVENTS:
            raise InjectError(f"'events' must be a list of at most {MAX_EVENTS} events")
        out.extend(_raw(e, now_ms) for e in evs)
    return out
