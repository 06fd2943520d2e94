"""The last symbol the user looked at, shared by the window and the supervisor.

The window writes it on every symbol change; ``live-monitor`` with no
``--symbols`` opens that symbol again. A one-line text file in the user state
directory (platformdirs) keeps the supervisor free of Qt (QSettings would
import it on the daemon path). ``LIVE_MONITOR_STATE_DIR`` moves the directory
(tests never touch the user's real state).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .models.market_data import normalize_symbol

log = logging.getLogger(__name__)

STATE_DIR_ENV = "LIVE_MONITOR_STATE_DIR"
FILENAME = "last_symbol"
DEFAULT_SYMBOL = "AAPL"


def state_dir() -> Path:
    env = os.environ.get(STATE_DIR_ENV)
    if env:
        return Path(env)
    from platformdirs import user_state_dir

    return Path(user_state_dir("live-monitor"))


def read_last_symbol(default: str = DEFAULT_SYMBOL) -> str:
    """The stored symbol, or ``default`` when none is stored or it is unreadable."""
    path = state_dir() / FILENAME
    try:
        return normalize_symbol(path.read_text(encoding="utf-8").strip())
    except FileNotFoundError:
        return default
    except (OSError, ValueError) as e:
        log.warning("ignoring the last-symbol file %s: %s", path, e)
        return default


def write_last_symbol(symbol: str) -> None:
    """Store ``symbol`` atomically (write + rename). Errors are logged, never raised:
    remembering the symbol must not break a window."""
    try:
        sym = normalize_symbol(symbol)
        d = state_dir()
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / f".{FILENAME}.{os.getpid()}"
        tmp.write_text(sym + "\n", encoding="utf-8")
        os.replace(tmp, d / FILENAME)
    except (OSError, ValueError) as e:
        log.warning("could not store the last symbol %r: %s", symbol, e)
