"""Exponential backoff with jitter: the one delay policy of the project.

Why one class: the feed's reconnects, its backfill retries, the restart of a
crashed upstream task and the supervisor's child restarts all wait "a bit
longer each time, never in lock-step, start again once healthy". Two copies
of that arithmetic had drifted apart (different jitter, different reset
rules); this one is sans-I/O (no clock, no sleep: it only computes delays)
and the random source is injected so tests pin the jitter.

``delay(n)`` is the pure function (the n-th consecutive failure, from 0);
``next()`` / ``reset()`` keep the count for callers that want it kept.
Jitter: the delay ``d = min(cap, initial * factor**n)`` becomes
``d * center + d * spread * (2 * rng() - 1)``, clamped to ``[0, cap]``:
``center=0.75, spread=0.25`` spreads over ``[d/2, d]`` (the feed: never
later than the nominal delay), ``center=1, spread=0.2`` is +-20 %.
"""

from __future__ import annotations

import random
from typing import Callable


class Backoff:
    __slots__ = ("initial", "cap", "factor", "center", "spread", "rng", "failures")

    def __init__(self, initial: float = 1.0, cap: float = 30.0, factor: float = 2.0, *, center: float = 0.75,
                 spread: float = 0.25, rng: Callable[[], float] = random.random) -> None:
        self.initial, self.cap, self.factor = initial, cap, factor
        self.center, self.spread, self.rng = center, spread, rng
        self.failures = 0

    def delay(self, n: int) -> float:
        """The delay after the ``n``-th consecutive failure (0-based), jittered."""
        d = min(self.cap, self.initial * self.factor ** min(max(n, 0), 60))
        return max(0.0, min(self.cap, d * self.center + d * self.spread * (2.0 * self.rng() - 1.0)))

    def next(self) -> float:
        d = self.delay(self.failures)
        self.failures += 1
        return d

    def reset(self) -> None:
        self.failures = 0
