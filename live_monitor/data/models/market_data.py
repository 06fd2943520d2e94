"""The seed's market data models: re-exported from ``shared.models.market_data`` (one definition)."""

from shared.models.market_data import AggregateData, QuoteData, TickerCalculationData, TradeData  # noqa: F401

__all__ = ["TradeData", "QuoteData", "AggregateData", "TickerCalculationData"]
