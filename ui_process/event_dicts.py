"""Dicts for the events the seed never had: LULD bands and second aggregates (CONTRACTS.md).

Why it looks like this: the feed passes ``A`` and ``LULD`` wire arrays through
to subscribers untouched; the window shows them, but they must never reach the
minute-bar pipeline (an ``A`` bar is not a minute bar). The seed dicts of
CONTRACTS.md are made by ``shared.models.wire.event_to_dict`` (the proto
helper's); until that covers these two codes, :func:`_provisional` reads the
contract's array layout. Delete it when ``event_to_dict`` returns
``event_type`` ``'luld'`` / ``'second_aggregate'``.
"""

from __future__ import annotations

from typing import Any

from shared.models import wire

EXTRA_TYPES = ("luld", "second_aggregate")


def extra_event_dict(symbol: str, a: Any) -> dict | None:
    """The seed-style dict of an ``A`` / ``LULD`` array; None for anything else or a malformed one."""
    if not isinstance(a, (list, tuple)) or not a or a[0] not in ("A", "LULD"):
        return None
    try:
        d = wire.event_to_dict(symbol, a)
        if d.get("event_type") in EXTRA_TYPES:
            return dict(d)
    except wire.WireError:
        pass
    return _provisional(symbol, a)


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf")


def _at(a: Any, i: int) -> Any:
    return a[i] if len(a) > i else None


def _provisional(symbol: str, a: Any) -> dict | None:  # provisional: proto's event_to_dict will own this
    t = _at(a, 1)
    if type(t) is not int or t <= 0:
        return None
    if a[0] == "LULD":
        up, down = _at(a, 2), _at(a, 3)
        if not (_num(up) and _num(down)):
            return None
        ind = _at(a, 4)
        return {"event_type": "luld", "symbol": symbol, "timestamp": t, "limit_up": float(up),
                "limit_down": float(down), "indicators": list(ind) if isinstance(ind, list) else [],
                "tape": _at(a, 5), "sequence": _at(a, 6)}
    o, h, lo, c, v = (_at(a, i) for i in range(2, 7))
    if not all(_num(x) for x in (o, h, lo, c, v)):
        return None
    vw = _at(a, 7)
    return {"event_type": "second_aggregate", "symbol": symbol, "timestamp": t, "open": float(o), "high": float(h),
            "low": float(lo), "close": float(c), "volume": int(v), "vwap": float(vw) if _num(vw) else None,
            "transactions": _at(a, 8), "accumulated_volume": _at(a, 9), "official_open": _at(a, 10),
            "day_vwap": _at(a, 11), "end_timestamp": _at(a, 12), "timeframe": "1s"}
