"""The original module's import path (``live_monitor.data``), kept for code written against it.

Why it exists: the seed was used as ``from live_monitor.data import PolygonDataManager``.
This package is a thin facade: every name is the implementation in ``ui_process`` /
``shared`` (no second copy), so fixes reach both import paths at once.
"""
