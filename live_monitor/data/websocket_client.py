"""The seed's ``live_monitor.data.websocket_client`` path: the one implementation, re-exported.

Logs under ``live_monitor.data.websocket_client``, as the seed did. Prefer
``PolygonDataManager`` (the feed process) for more than one window or symbol:
see ``ui_process.qt_websocket_client``.
"""

from ui_process.qt_websocket_client import PolygonWebSocketClient, logger  # noqa: F401

__all__ = ["PolygonWebSocketClient"]
