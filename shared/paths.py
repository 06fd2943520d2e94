"""Where Live Monitor keeps its per-user files: one rule for every part.

Why one module: the history store, the relay's installation id and the alert
book all live in the user data directory, and the config file in the user
config directory. Each used to ask platformdirs on its own, so a test (or a
user) that moved one left the others in the real home. ``$LIVE_MONITOR_DATA_DIR``
moves all the data files at once; platformdirs is imported only when needed,
so a process that never touches these files starts without it.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "live-monitor"
DATA_DIR_ENV = "LIVE_MONITOR_DATA_DIR"


def data_dir() -> Path:
    """The per-user data directory: ``$LIVE_MONITOR_DATA_DIR``, else the platform's place."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME))


def config_dir() -> Path:
    """The per-user config directory (the platform's place; ``--config`` / ``LIVE_MONITOR_CONFIG`` name a file)."""
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME))
