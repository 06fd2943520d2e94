"""Polygon wire dict -> compact wire array, validated event by event (the thorough path).

Why it exists beside the typed decoder: clean Polygon frames are decoded and
validated in C by msgspec (``protocols.py``), which refuses a whole frame at
the first bad field. Such a frame comes here, event by event, so its good
events are kept and each bad one is counted by *kind*. The relay's standard
spelling (``event_type, symbol, price ...``) is rare and goes through the
foundation's ``normalize()`` (one way for the slow path).

A bad event raises :class:`InvalidEvent` with a counter ``kind``; callers
count it and go on. NaN fails every ``>`` comparison, so ``not (0 < p < INF)``
refuses NaN, negatives, zero and infinity at once.
"""

from __future__ import annotations

from typing import Any

from shared.models.market_data import InvalidEvent, normalize
from shared.models.wire import event_to_wire

INF = float("inf")
_NUM = (int, float)


def _bad_num(v: Any) -> bool:
    t = type(v)
    return (t is not float and t is not int) or not (0 < v < INF)


def _bad_size(v: Any) -> bool:
    t = type(v)
    return (t is not int and t is not float) or not (0 <= v < INF)


def _bad_ts(v: Any) -> bool:
    return type(v) is not int or v <= 0


def trade_array(d: dict) -> list:
    """Polygon ``T``: ``sym,x,i,z,p,s,c,t,q`` -> ``["T", t, p, s, x, c, i]``."""
    try:
        p = d["p"]
        s = d["s"]
        t = d["t"]
    except KeyError as e:
        raise InvalidEvent("missing_field", f"trade without {e.args[0]!r}") from None
    if _bad_num(p):
        raise InvalidEvent("bad_value", f"trade price {p!r} is not a positive number")
    if _bad_size(s):
        raise InvalidEvent("bad_value", f"trade size {s!r} is not a size")
    if _bad_ts(t):
        raise InvalidEvent("bad_timestamp", f"trade timestamp {t!r} is not epoch ms")
    c = d.get("c")
    if c is not None:
        if type(c) is not list:
            raise InvalidEvent("wrong_type", "trade conditions must be a list")
        for k in c:
            if type(k) is not int:
                raise InvalidEvent("wrong_type", "trade conditions must be integers")
    x = d.get("x")
    if x is not None and type(x) is not int:
        x = None
    i = d.get("i")
    if i is not None and type(i) is not str:
        i = str(i) if type(i) is int else None
    return ["T", t, p, s if type(s) is int else int(s), x, c or [], i]


def quote_array(d: dict) -> list:
    """Polygon ``Q``: ``sym,bx,bp,bs,ax,ap,as,c,i,t,q,z`` -> ``["Q", t, bp, bs, ap, as, bx, ax]``."""
    try:
        bp = d["bp"]
        ap = d["ap"]
        t = d["t"]
        bs = d.get("bs", 0)
        as_ = d.get("as", 0)
    except KeyError as e:
        raise InvalidEvent("missing_field", f"quote without {e.args[0]!r}") from None
    # A one-sided quote has bp or ap 0: kept (real books go one-sided); NaN/neg refused.
    if not (type(bp) in _NUM and type(ap) in _NUM and 0 <= bp < INF and 0 <= ap < INF):
        raise InvalidEvent("bad_value", f"quote prices {bp!r}/{ap!r} are not prices")
    if _bad_size(bs) or _bad_size(as_):
        raise InvalidEvent("bad_value", f"quote sizes {bs!r}/{as_!r} are not sizes")
    if _bad_ts(t):
        raise InvalidEvent("bad_timestamp", f"quote timestamp {t!r} is not epoch ms")
    bx = d.get("bx")
    ax = d.get("ax")
    return ["Q", t, bp, int(bs), ap, int(as_), bx if type(bx) is int else None, ax if type(ax) is int else None]


def bar_array(d: dict) -> list:
    """Polygon ``AM``/``A``: ``sym,v,av,op,vw,o,c,h,l,a,z,s,e`` -> ``["AM", s, o, h, l, c, v, vw, n]``.

    ``z`` is the average trade size, not a count, so transactions are None
    unless the upstream sends ``n``.
    """
    try:
        o, h, lo, c, v, s = d["o"], d["h"], d["l"], d["c"], d["v"], d["s"]
    except KeyError as e:
        raise InvalidEvent("missing_field", f"bar without {e.args[0]!r}") from None
    if _bad_num(o) or _bad_num(h) or _bad_num(lo) or _bad_num(c):
        raise InvalidEvent("bad_value", "bar prices are not positive numbers")
    if _bad_size(v):
        raise InvalidEvent("bad_value", f"bar volume {v!r} is not a size")
    if _bad_ts(s):
        raise InvalidEvent("bad_timestamp", f"bar start {s!r} is not epoch ms")
    if not (lo <= o <= h and lo <= c <= h):
        raise InvalidEvent("inconsistent_bar", f"bar OHLC inconsistent (o={o} h={h} l={lo} c={c})")
    vw = d.get("vw")
    if vw is not None and _bad_num(vw):
        vw = None
    n = d.get("n")
    if n is not None and type(n) is not int:
        n = None
    return ["AM", s, o, h, lo, c, int(v), vw, n]


_CONVERT = {"T": trade_array, "Q": quote_array, "AM": bar_array, "A": bar_array}


def polygon_array(d: dict) -> list:
    """Any Polygon-spelled market event -> its wire array (``A`` travels as ``AM``)."""
    conv = _CONVERT.get(d.get("ev"))
    if conv is None:
        raise InvalidEvent("unknown_event", f"unknown event type {str(d.get('ev'))[:20]!r}")
    return conv(d)


def standard_array(d: dict) -> tuple[str, list]:
    """The relay's standard spelling (``event_type, symbol, price ...``): the slow, thorough path."""
    ev = normalize(d)
    return ev["symbol"], event_to_wire(ev)
