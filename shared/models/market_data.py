"""Market data models: the seed's public dicts, and the one normaliser.

Why this module looks the way it does
-------------------------------------
The seed module's dicts (TradeData, QuoteData, AggregateData,
TickerCalculationData) are the public format: code written against the original
module reads these keys, so they are kept exactly, as ``TypedDict``s (plain
dicts at run time, no per-event object cost).

Upstreams speak two spellings: Polygon/Massive wire fields (``ev, sym, p, s,
t ...``) and the seed relay's standard fields (``event_type, symbol, price,
size, timestamp ...``). :func:`normalize` accepts either and returns the seed
dict, or raises :class:`InvalidEvent` with a short machine-readable ``kind``
and a human reason. Nothing here does I/O; the feed counts the ``kind``s.

Timestamps are epoch milliseconds everywhere. A crossed quote (bid > ask) is
*kept* - real markets print them - and reported by :func:`quote_is_crossed` so
the feed can count it.
"""

# No ``from __future__ import annotations`` here: on Python 3.11 it hides
# ``NotRequired`` from TypedDict, and ``__optional_keys__`` would come out empty.
import math
import re
from typing import Any, Literal, NotRequired, TypedDict

__all__ = [
    "TradeData",
    "QuoteData",
    "AggregateData",
    "TickerCalculationData",
    "MarketEvent",
    "InvalidEvent",
    "EXCHANGES",
    "exchange_name",
    "normalize",
    "quote_is_crossed",
    "valid_symbol",
    "normalize_symbol",
    "TICKER_KEYS",
    "TRADE_KEYS",
    "QUOTE_KEYS",
    "AGGREGATE_KEYS",
]


class TradeData(TypedDict):
    event_type: Literal["trade"]
    symbol: str
    timestamp: int  # epoch ms
    price: float
    size: int
    conditions: list[int]
    exchange: NotRequired[str | None]


class QuoteData(TypedDict):
    event_type: Literal["quote"]
    symbol: str
    timestamp: int
    bid_price: float
    bid_size: int
    ask_price: float
    ask_size: int
    exchange: NotRequired[str | None]


class AggregateData(TypedDict):
    event_type: Literal["aggregate"]
    symbol: str
    timestamp: int  # bar start, epoch ms
    open: float
    high: float
    low: float
    close: float
    volume: int
    vwap: NotRequired[float | None]
    transactions: NotRequired[int | None]


class TickerCalculationData(TypedDict):
    last_price: float
    bid: float
    ask: float
    spread: float
    mid_price: float
    volume: int
    change: NotRequired[float | None]
    change_percent: NotRequired[float | None]
    day_high: NotRequired[float | None]
    day_low: NotRequired[float | None]
    day_open: NotRequired[float | None]
    last_update: str  # HH:MM:SS America/New_York
    market_state: Literal["open", "closed", "pre", "post"]


MarketEvent = TradeData | QuoteData | AggregateData

TRADE_KEYS = frozenset(TradeData.__annotations__)
QUOTE_KEYS = frozenset(QuoteData.__annotations__)
AGGREGATE_KEYS = frozenset(AggregateData.__annotations__)
TICKER_KEYS = frozenset(TickerCalculationData.__annotations__)

# Polygon/Massive stock exchange ids (GET /v3/reference/exchanges?asset_class=stocks).
# Id 4 is shared by the FINRA trade reporting facilities (off-exchange prints).
EXCHANGES: dict[int, str] = {
    1: "NYSE American",
    2: "Nasdaq BX",
    3: "NYSE National",
    4: "FINRA TRF",
    5: "UTP SIP",
    6: "ISE",
    7: "Cboe EDGA",
    8: "Cboe EDGX",
    9: "NYSE Chicago",
    10: "NYSE",
    11: "NYSE Arca",
    12: "NASDAQ",
    13: "CTA",
    14: "LTSE",
    15: "IEX",
    16: "Cboe",
    17: "Nasdaq PSX",
    18: "Cboe BYX",
    19: "Cboe BZX",
    20: "MIAX Pearl",
    21: "MEMX",
    22: "24X",
    62: "OTC",
}
_EXCHANGE_IDS = {v: k for k, v in EXCHANGES.items()}


def exchange_name(x: Any) -> str | None:
    """Exchange id (or an already-named exchange) to its display name."""
    if x is None:
        return None
    if isinstance(x, int) and not isinstance(x, bool):
        return EXCHANGES.get(x, f"EX{x}")
    if isinstance(x, str):
        return x or None
    return None


def exchange_id(name: str | int | None) -> int | None:
    """Inverse of :func:`exchange_name`, for writing Polygon-format records."""
    if name is None or isinstance(name, int):
        return name
    if name.startswith("EX") and name[2:].isdigit():
        return int(name[2:])
    return _EXCHANGE_IDS.get(name)


class InvalidEvent(ValueError):
    """An upstream event that cannot be used. ``kind`` is a short counter key."""

    def __init__(self, kind: str, reason: str):
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


# Tickers: letters, digits, and the share-class/when-issued punctuation real
# feeds use (BRK.B, BF.B, also BRK/B in some vendors). Indices (I:SPX) are not
# stocks and are refused.
_SYMBOL_RE = re.compile(r"^[A-Z][A-Z0-9]{0,9}(?:[./-][A-Z0-9]{1,4})?$")


def valid_symbol(symbol: Any) -> bool:
    return isinstance(symbol, str) and _SYMBOL_RE.match(symbol) is not None


def normalize_symbol(symbol: Any) -> str:
    """Upper-case and check a user-typed symbol; raise ValueError with a reason."""
    if not isinstance(symbol, str):
        raise ValueError(f"symbol must be text, got {type(symbol).__name__}")
    s = symbol.strip().upper()
    if not s:
        raise ValueError("symbol is empty")
    if not valid_symbol(s):
        raise ValueError(f"'{symbol.strip()}' is not a valid ticker (letters, digits, and one . / - class suffix)")
    return s


_EVENT_TYPES = {
    "T": "trade",
    "trade": "trade",
    "Q": "quote",
    "quote": "quote",
    "AM": "aggregate",
    "A": "aggregate",
    "aggregate": "aggregate",
}


def _finite(v: int | float) -> bool:
    try:
        return math.isfinite(v)
    except OverflowError:  # an int beyond float range (Python's json parses any size)
        return False


# Timestamps past 2200-01-01 are garbage, not data (and would break datetime).
_MAX_TS_MS = 7_258_118_400_000


def _num(d: dict, kind: str, *names: str, positive: bool = False, required: bool = True) -> float | None:
    for n in names:
        if n in d:
            v = d[n]
            break
    else:
        if required:
            raise InvalidEvent("missing_field", f"missing field {names[0]!r}")
        return None
    if v is None:
        if required:
            raise InvalidEvent("missing_field", f"field {names[0]!r} is null")
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InvalidEvent("wrong_type", f"{kind} {names[0]!r} must be a number, got {type(v).__name__}")
    if not _finite(v):
        raise InvalidEvent("non_finite", f"{kind} {names[0]!r} is not finite ({str(v)[:24]})")
    if positive and v <= 0:
        raise InvalidEvent("non_positive_price", f"{kind} {names[0]!r} must be > 0, got {v}")
    return float(v)


def _size(d: dict, kind: str, *names: str, required: bool = True) -> int | None:
    v = _num(d, kind, *names, required=required)
    if v is None:
        return None
    if v < 0:
        raise InvalidEvent("negative_size", f"{kind} {names[0]!r} must be >= 0, got {v}")
    return int(v)


def _ts(d: dict, *names: str) -> int:
    for n in names:
        if n in d and d[n] is not None:
            v = d[n]
            break
    else:
        raise InvalidEvent("missing_timestamp", "missing timestamp")
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InvalidEvent("wrong_type", f"timestamp must be a number, got {type(v).__name__}")
    if not _finite(v) or v <= 0:
        raise InvalidEvent("bad_timestamp", f"timestamp out of range ({str(v)[:24]})")
    v = int(v)
    # Accept seconds / micro / nanoseconds from sloppy relays; store milliseconds.
    if v < 10**11:
        v *= 1000
    elif v > 10**17:
        v //= 1_000_000
    elif v > 10**14:
        v //= 1000
    if v > _MAX_TS_MS:
        raise InvalidEvent("bad_timestamp", f"timestamp out of range ({str(v)[:24]})")
    return v


def _conditions(v: Any) -> list[int]:
    if v is None:
        return []
    if isinstance(v, list) and all(isinstance(c, int) and not isinstance(c, bool) for c in v):
        return v
    raise InvalidEvent("wrong_type", "trade conditions must be a list of integers")


def normalize(raw: Any) -> MarketEvent:
    """One upstream event (either spelling) -> the seed dict. Raises InvalidEvent."""
    if not isinstance(raw, dict):
        raise InvalidEvent("wrong_type", f"event must be an object, got {type(raw).__name__}")
    ev = raw.get("ev", raw.get("event_type"))
    kind = _EVENT_TYPES.get(ev) if isinstance(ev, str) else None
    if kind is None:
        raise InvalidEvent("unknown_event", f"unknown event type {ev!r}")
    sym = raw.get("sym", raw.get("symbol"))
    if sym is None or sym == "":
        raise InvalidEvent("missing_symbol", "missing symbol")
    if not isinstance(sym, str):
        raise InvalidEvent("wrong_type", f"symbol must be text, got {type(sym).__name__}")
    if not valid_symbol(sym):
        raise InvalidEvent("bad_symbol", f"bad symbol {sym[:16]!r}")

    if kind == "trade":
        return {
            "event_type": "trade",
            "symbol": sym,
            "timestamp": _ts(raw, "t", "timestamp"),
            "price": _num(raw, "trade", "p", "price", positive=True),
            "size": _size(raw, "trade", "s", "size"),
            "conditions": _conditions(raw.get("c", raw.get("conditions"))),
            "exchange": exchange_name(raw.get("x", raw.get("exchange"))),
        }
    if kind == "quote":
        return {
            "event_type": "quote",
            "symbol": sym,
            "timestamp": _ts(raw, "t", "timestamp"),
            "bid_price": _num(raw, "quote", "bp", "bid_price", positive=True),
            "bid_size": _size(raw, "quote", "bs", "bid_size"),
            "ask_price": _num(raw, "quote", "ap", "ask_price", positive=True),
            "ask_size": _size(raw, "quote", "as", "ask_size"),
            "exchange": exchange_name(raw.get("bx", raw.get("exchange"))),
        }
    # aggregate: Polygon 'c' is the close; in the standard spelling it is 'close'.
    o = _num(raw, "aggregate", "o", "open", positive=True)
    h = _num(raw, "aggregate", "h", "high", positive=True)
    lo = _num(raw, "aggregate", "l", "low", positive=True)
    c = _num(raw, "aggregate", "c" if "ev" in raw else "close", "close", positive=True)
    if lo > h or not (lo <= o <= h and lo <= c <= h):
        raise InvalidEvent("inconsistent_bar", f"bar OHLC inconsistent (o={o} h={h} l={lo} c={c})")
    vwap = _num(raw, "aggregate", "vw", "vwap", positive=True, required=False)
    if "ev" in raw:
        # Polygon: 's' is the bar start. Its 'z' is the *average trade size*
        # (2119 shares / 51 trades -> z=41 in the AAPL replay), not a count,
        # so the transaction count is unknown for streamed bars.
        ts = _ts(raw, "s", "t", "timestamp")
        n = _size(raw, "aggregate", "n", required=False)
    else:
        ts = _ts(raw, "timestamp", "t", "s")
        n = _size(raw, "aggregate", "transactions", "n", required=False)
    return {
        "event_type": "aggregate",
        "symbol": sym,
        "timestamp": ts,
        "open": o,
        "high": h,
        "low": lo,
        "close": c,
        "volume": _size(raw, "aggregate", "v", "volume"),
        "vwap": vwap,
        "transactions": n,
    }


def quote_is_crossed(q: QuoteData) -> bool:
    """True for a crossed market (bid > ask). Kept, but worth counting."""
    return q["bid_price"] > q["ask_price"]


def to_polygon(ev: MarketEvent) -> dict:
    """Seed dict -> Polygon wire dict (used by recording and the simulator)."""
    et = ev["event_type"]
    if et == "trade":
        return {"ev": "T", "sym": ev["symbol"], "x": exchange_id(ev.get("exchange")), "p": ev["price"],
                "s": ev["size"], "c": list(ev.get("conditions") or []), "t": ev["timestamp"]}
    if et == "quote":
        return {"ev": "Q", "sym": ev["symbol"], "bx": exchange_id(ev.get("exchange")), "bp": ev["bid_price"],
                "bs": ev["bid_size"], "ap": ev["ask_price"], "as": ev["ask_size"], "t": ev["timestamp"]}
    return {"ev": "AM", "sym": ev["symbol"], "v": ev["volume"], "vw": ev.get("vwap"), "o": ev["open"],
            "c": ev["close"], "h": ev["high"], "l": ev["low"], "n": ev.get("transactions"),
            "s": ev["timestamp"], "e": ev["timestamp"] + 60_000}
