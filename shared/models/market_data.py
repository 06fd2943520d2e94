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
and a human reason. It applies the feed's own rules (``shared.models.events``,
the one declaration), so what the feed accepts and what ``normalize`` accepts
cannot drift apart. Nothing here does I/O; the feed counts the ``kind``s.
This module also owns the one ticker rule (:func:`valid_symbol`).

Timestamps are epoch milliseconds everywhere. A crossed quote (bid > ask) is
*kept* - real markets print them - and reported by :func:`quote_is_crossed` so
the feed can count it.
"""

# No ``from __future__ import annotations`` here: on Python 3.11 it hides
# ``NotRequired`` from TypedDict, and ``__optional_keys__`` would come out empty.
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
    if type(x) is int:  # the common case first: once per trade and twice per quote a seed dict is made
        name = EXCHANGES.get(x)
        return name if name is not None else f"EX{x}"
    if x is None:
        return None
    if isinstance(x, int) and not isinstance(x, bool):
        return EXCHANGES.get(x) or f"EX{x}"
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


# Tickers (the spec's stock tickers, as real feeds spell them): an upper-case letter, then letters
# (lower case too: preferreds such as BACpL), digits, and one share-class / when-issued suffix
# (BRK.B, BF.B, BRK/B in some vendors, NTEST.Q in the spec's NOI example). Indices (I:SPX) are not
# stocks and are refused. This is the one rule: the feed, the simulator and the UI all call it.
_SYMBOL_RE = re.compile(r"^[A-Z][A-Za-z0-9]{0,9}(?:[./-][A-Za-z0-9]{1,4})?$")


def valid_symbol(symbol: Any) -> bool:
    return isinstance(symbol, str) and _SYMBOL_RE.match(symbol) is not None


def normalize_symbol(symbol: Any) -> str:
    """Check a user-typed symbol; raise ValueError with a reason.

    Typed all in lower case (``aapl``, ``brk.b``) it is upper-cased for convenience; a ticker with
    any upper-case letter is kept exactly, so ``BACpL`` (a preferred) never becomes ``BACPL``."""
    if not isinstance(symbol, str):
        raise ValueError(f"symbol must be text, got {type(symbol).__name__}")
    s = symbol.strip()
    if not s:
        raise ValueError("symbol is empty")
    if s == s.lower():
        s = s.upper()
    if not valid_symbol(s):
        raise ValueError(f"'{s}' is not a valid ticker (letters, digits, and one . / - class suffix)")
    return s


def normalize(raw: Any) -> dict:
    """One upstream event (either spelling) -> its seed dict; raises InvalidEvent(kind, reason).

    The rules are the feed's own (``shared.models.events``: one declaration for every path);
    the dict is ``wire.event_to_dict`` of the event's wire array, so it carries the seed's keys
    plus the added ones (docs/PROTOCOL.md)."""
    from .events import normalize as _normalize  # events imports this module: import at call time

    if not isinstance(raw, dict):
        raise InvalidEvent("wrong_type", f"event must be an object, got {type(raw).__name__}")
    return _normalize(raw)


def quote_is_crossed(q: QuoteData) -> bool:
    """True for a crossed market (bid > ask). Kept, but worth counting."""
    return q["bid_price"] > q["ask_price"]


def to_polygon(ev: dict) -> dict:
    """Seed dict (any kind) -> Polygon wire dict (``record`` writes these; the simulator replays them)."""
    from .spelling import to_polygon as _to_polygon  # spelling imports this module: import at call time

    return _to_polygon(ev)
