"""The seed's model names (``live_monitor.data.models``), defined once in ``shared.models``."""

from .market_data import AggregateData, QuoteData, TickerCalculationData, TradeData  # noqa: F401
from .signals import EntrySignal, ExitSignal  # noqa: F401

__all__ = ["TradeData", "QuoteData", "AggregateData", "TickerCalculationData", "EntrySignal", "ExitSignal"]
