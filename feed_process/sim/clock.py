"""Which clock the simulator follows: the wall clock while the market is open, a virtual session otherwise.

Why: during market hours a user compares the sim with the real world (the
time in the window's title, the session state, the stall watchdog), so the
sim follows the wall clock then ("wall"). At 03:00 or on a Sunday a wall-clock
sim would be silent, so it plays a *virtual* session instead: ``--start``
(default 10:00 New York) on the latest NYSE session day, at ``--speed``.
The choice is made once at launch (a clock that jumps mid-run would look like
a data fault to the feed) and announced to every client as ``"session":
"wall" | "virtual"`` in the first message (docs: CONTRACTS "Simulator first
message") and in ``/sim/status``.

``--clock auto`` (the default) decides from the NYSE calendar
(:mod:`shared.market_hours`); asking for a speed other than 1 or for a start
time asks for a virtual session. ``--clock wall`` / ``--clock virtual`` force
one (``real`` / ``sim`` are the older spellings). Every function takes the wall
time as an argument and :class:`SimClock` takes its monotonic source, so tests
inject both and pass at any hour of the day.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Callable, NamedTuple

from shared.market_hours import NY, latest_session_on_or_before, market_state

WALL, VIRTUAL = "wall", "virtual"
MODES = ("auto", WALL, VIRTUAL)
ALIASES = {"real": WALL, "sim": VIRTUAL}
DEFAULT_START = "10:00"


class ClockPlan(NamedTuple):
    session: str  # "wall" | "virtual"
    start_ms: int  # sim time at launch, epoch ms
    speed: float


def virtual_start_ms(wall_ms: int, start: str = DEFAULT_START) -> int:
    """``start`` (HH:MM New York) on the latest NYSE session day on or before the wall clock's day."""
    today = dt.datetime.fromtimestamp(wall_ms / 1000, NY).date()
    s = latest_session_on_or_before(today)
    if s is None:
        raise ValueError("no NYSE session found in the last two weeks")
    hh, mm = (int(x) for x in start.split(":"))
    return int(dt.datetime.combine(s.day, dt.time(hh, mm), NY).timestamp() * 1000)


def plan_clock(mode: str, wall_ms: int, speed: float = 1.0, start: str | None = None) -> ClockPlan:
    """Decide the clock for ``mode`` (auto | wall | virtual, or an alias) at wall time ``wall_ms``."""
    mode = ALIASES.get(mode, mode)
    if mode not in MODES:
        raise ValueError(f"unknown clock {mode!r} (auto, wall or virtual)")
    if mode == "auto":
        asked_virtual = start is not None or speed != 1.0
        mode = WALL if not asked_virtual and market_state(wall_ms) == "open" else VIRTUAL
    if mode == WALL:
        return ClockPlan(WALL, wall_ms, 1.0)
    return ClockPlan(VIRTUAL, virtual_start_ms(wall_ms, start or DEFAULT_START), speed)


class SimClock:
    """Sim time in epoch ms: ``start`` + elapsed monotonic time x ``speed``."""

    def __init__(self, start_ms: int, speed: float, mono: Callable[[], float] = time.monotonic):
        self.start_ms = start_ms
        self.speed = speed
        self._mono = mono
        self._t0 = mono()

    def now_ms(self) -> int:
        return self.start_ms + int((self._mono() - self._t0) * 1000 * self.speed)
