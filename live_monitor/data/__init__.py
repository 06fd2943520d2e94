"""``live_monitor.data``: the seed module's public names (a facade over ui_process and shared).

Why a facade: code written for the original module keeps its imports; the one
implementation lives in ``ui_process.polygon_data_manager`` (over the feed
process) and ``ui_process.qt_websocket_client`` (one direct upstream connection).
"""

from .models import (AggregateData, EntrySignal, ExitSignal, QuoteData, TickerCalculationData,  # noqa: F401
                     TradeData)
from .polygon_data_manager import PolygonDataManager  # noqa: F401
from .websocket_client import PolygonWebSocketClient  # noqa: F401

__all__ = ["PolygonDataManager", "PolygonWebSocketClient", "TradeData", "QuoteData", "AggregateData",
           "TickerCalculationData", "EntrySignal", "ExitSignal"]
