"""The two spellings of a market event: the seed dicts' names and Polygon's.

Why a table: the relay's standard spelling (``event_type, symbol, price ...``,
the seed dicts of ``market_data.py`` and what ``wire.event_to_dict`` makes)
and Polygon's (``ev, sym, p ...``) name the same fields. One table per event
code maps one onto the other, so a standard-spelled event is renamed and then
checked by the very structs that check Polygon's (``shared.models.events``),
and ``to_polygon`` (``record``) is the same table read backwards.
"""

from __future__ import annotations

from typing import Any

from .market_data import exchange_id


def _short(v: Any, n: int = 24) -> str:
    s = repr(v)
    return s if len(s) <= n else s[: n - 3] + "..."


_STD_CODE = {"trade": "T", "quote": "Q", "aggregate": "AM", "second_aggregate": "A", "luld": "LULD",
             "imbalance": "NOI"}
_BAR = {"open": "o", "high": "h", "low": "l", "close": "c", "volume": "v", "vwap": "vw", "transactions": "n",
        "timestamp": "s", "accumulated_volume": "av", "official_open": "op", "day_vwap": "a",
        "end_timestamp": "e", "average_size": "z", "otc": "otc", "symbol": "sym"}
STANDARD = {  # seed-dict key -> Polygon key, per event code (wire.event_to_dict is the inverse)
    "T": {"symbol": "sym", "timestamp": "t", "price": "p", "size": "s", "conditions": "c", "exchange": "x",
          "id": "i", "tape": "z", "sequence": "q", "trf_id": "trfi", "trf_timestamp": "trft"},
    "Q": {"symbol": "sym", "timestamp": "t", "bid_price": "bp", "bid_size": "bs", "ask_price": "ap",
          "ask_size": "as", "exchange": "bx", "ask_exchange": "ax", "conditions": "c", "indicators": "i",
          "tape": "z", "sequence": "q"},
    "AM": _BAR,
    "A": _BAR,
    "LULD": {"symbol": "T", "timestamp": "t", "limit_up": "h", "limit_down": "l", "indicators": "i",
             "tape": "z", "sequence": "q"},
    "NOI": {"symbol": "T", "timestamp": "t", "auction_type": "a", "imbalance_quantity": "o", "exchange": "x",
            "paired_quantity": "p", "book_clearing_price": "b", "auction_time": "at", "sequence": "i"},
}
_EXCHANGE_KEYS = {"x", "bx", "ax"}


def from_standard(d: dict) -> dict | tuple[str, str]:
    """``{event_type, symbol, price ...}`` -> the Polygon spelling (then the same structs), or an error.

    Exchange names become ids (``NASDAQ`` -> 12, ``EX99`` -> 99; an unknown name -> None: the
    exchange is display information). A quote's ``conditions`` list holds its one condition."""
    et = d.get("event_type")
    code = _STD_CODE.get(et) if type(et) is str else None
    if code is None:
        return "unknown_event", f"unknown event_type {_short(et)}"
    names = STANDARD[code]
    out: dict[str, Any] = {"ev": code}
    for k, v in d.items():
        pk = names.get(k)
        if pk is None or v is None:
            continue
        if pk in _EXCHANGE_KEYS and type(v) is str:
            v = exchange_id(v)
        elif code == "Q" and pk == "c" and type(v) is list and len(v) <= 1:
            v = v[0] if v else None
        out[pk] = v
    return out




def to_polygon(ev: dict) -> dict:
    """Seed dict (any kind) -> Polygon wire dict (``record`` writes these; the simulator replays them)."""
    code = _STD_CODE.get(ev.get("event_type"), "AM")
    out: dict[str, Any] = {"ev": code}
    for k, pk in STANDARD[code].items():
        v = ev.get(k)
        if v is None or (code == "Q" and k == "conditions"):
            continue
        out[pk] = exchange_id(v) if k in ("exchange", "ask_exchange") else v
    if code == "Q" and ev.get("conditions"):
        out["c"] = ev["conditions"][0]
    if code in ("AM", "A") and "e" not in out:
        out["e"] = ev["timestamp"] + (1000 if code == "A" else 60_000)
    return out
