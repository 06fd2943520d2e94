"""LULD indicator codes: which of Polygon's LULD indicators mean a halt, a resumption, a limit state.

Why here (Qt-free): the window's banner (``ui_process.window.luld``) and the
feed's halt/resume alerts (``feed_process.alerts``) read the same event and
must agree on what it means; the reasons for each code are in the banner's
module doc.
"""

from __future__ import annotations

HALT = frozenset({15})                        # Suspended during Trading Halt or Trading Pause
RESUME = frozenset({16})                      # Re-Opening Update
LIMIT_ENTERED = frozenset({21, 23, 25, 27, 28})
LIMIT_EXITED = frozenset({22, 24, 26})
AT_UPPER = frozenset({5, 7})
AT_LOWER = frozenset({6, 8})


def halt_state(indicators) -> str | None:
    """``"halt"``, ``"resume"`` or None for a LULD event's indicator list."""
    codes = set(indicators or ())
    if codes & HALT:
        return "halt"
    if codes & RESUME:
        return "resume"
    return None
