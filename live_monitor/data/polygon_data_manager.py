"""The seed's ``live_monitor.data.polygon_data_manager`` path: the one implementation, re-exported.

Its records are logged under this module's name (``live_monitor.data.polygon_data_manager``),
as the seed's were, whichever path imported it.
"""

from ui_process.polygon_data_manager import PolygonDataManager, logger  # noqa: F401

__all__ = ["PolygonDataManager"]
