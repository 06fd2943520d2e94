"""The simulator's configuration: one dataclass, built from the flags or by tests in-process.

Why apart from the server: tests build a :class:`SimConfig` directly (with an
injected wall clock and monotonic source, so a test behaves the same at 03:00
and at 11:00), the command line builds it from flags (:func:`config_from_args`),
and both then hand it to :class:`~feed_process.sim.server.SimServer`.

Two choices are made here, once per launch, and announced (log, ``/sim/status``):

* the seed: ``seed=None`` (no ``--seed``) draws a fresh one, so two launches
  show two different days; the seed used is logged and shown so a run can be
  reproduced with ``--seed N``;
* the clock (:mod:`.clock`): wall while the market is open, else virtual.
"""

from __future__ import annotations

import argparse
import secrets
import time
from dataclasses import dataclass, field
from typing import Callable

from .clock import ClockPlan, plan_clock
from .replay import ReplayData
from .sessions import FRAME_EVENTS

MAX_BACKLOG = 5000  # frames queued per connection before it is a slow consumer


@dataclass
class SimConfig:
    host: str = "127.0.0.1"
    port: int = 8200
    seed: int | None = None  # None: a fresh seed for this launch
    replay: str | None = None
    speed: float = 1.0
    max: bool = False
    loop: bool = False
    keep_time: bool = False
    key: str | None = None
    clock: str = "auto"  # auto | wall | virtual (also the older real | sim)
    start: str | None = None  # virtual session start, HH:MM New York (default 10:00)
    rate: float | None = None
    symbols_hint: list[str] = field(default_factory=list)
    frame_events: int = FRAME_EVENTS  # events per Polygon data frame (at most)
    tick: float = 0.02
    max_backlog: int = MAX_BACKLOG
    faults: list[dict] = field(default_factory=list)  # initial faults (from flags)
    replay_data: ReplayData | None = None  # pre-loaded (tests share one load)
    wall_time: Callable[[], float] = time.time  # injected by tests: "now" for the clock decision
    mono: Callable[[], float] = time.monotonic  # what the sim clock runs on
    listen_fd: int | None = None  # a listening socket inherited from the supervisor (:mod:`.listen`)
    warm: list[str] = field(default_factory=list)  # symbols caught up before anyone asks (:mod:`.listen`)

    @property
    def source(self) -> str:
        return "replay" if (self.replay or self.replay_data) else "simulated"

    def resolved_seed(self) -> int:
        return self.seed if self.seed is not None else secrets.randbelow(2**31)

    def clock_plan(self) -> ClockPlan:
        return plan_clock(self.clock, int(self.wall_time() * 1000), self.speed, self.start)


def config_from_args(args: argparse.Namespace) -> SimConfig:
    faults: list[dict] = []
    if getattr(args, "drop_after", None) is not None:
        faults.append({"kind": "drop", "after": args.drop_after})
    elif getattr(args, "drop_every", None) is not None:
        faults.append({"kind": "drop", "every": args.drop_every})
    if getattr(args, "stall_after", None) is not None:
        faults.append({"kind": "stall", "after": args.stall_after})
    if getattr(args, "malformed_every", None) is not None:
        faults.append({"kind": "malformed", "every": args.malformed_every})
    if getattr(args, "max_connections", None) is not None:
        faults.append({"kind": "max_connections", "limit": args.max_connections})
    if getattr(args, "close_1011_after", None) is not None:
        faults.append({"kind": "close_1011", "after": args.close_1011_after})
    hint = [s for part in (args.symbols_hint or []) for s in part.split(",") if s]  # normalised by the flag
    return SimConfig(host=args.host, port=args.port, seed=args.seed, replay=args.replay,
                     speed=args.speed, max=args.max, loop=args.loop, keep_time=args.keep_time,
                     key=args.key, clock=args.clock, start=args.start, rate=args.rate,
                     symbols_hint=hint, faults=faults,
                     frame_events=getattr(args, "frame_events", None) or FRAME_EVENTS,
                     listen_fd=getattr(args, "listen_fd", None),
                     warm=[s for s in (getattr(args, "warm", None) or "").split(",") if s])
