"""The seed's data models and the feed<->UI wire codec."""

from .market_data import (  # noqa: F401
    AggregateData,
    InvalidEvent,
    MarketEvent,
    QuoteData,
    TickerCalculationData,
    TradeData,
    exchange_name,
    normalize,
    normalize_symbol,
    quote_is_crossed,
    valid_symbol,
)
from .signals import EntrySignal, ExitSignal, make_entry, make_exit  # noqa: F401
