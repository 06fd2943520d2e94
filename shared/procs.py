"""The child-process model of the supervisor: specs, restart policy, shutdown order.

Why it looks like this
----------------------
* **Sans-I/O.** Nothing here starts a process or sleeps. ``RestartTracker``
  takes "the child started at t" / "the child exited at t with code c" and
  answers with a :class:`Decision` (restart after d seconds, done, give up).
  The clock is whatever the caller passes, so backoff, the healthy-period
  reset and the crash-loop guard are unit-tested without waiting.
* **One policy, two restart modes.** The feed and the simulator restart on
  *any* exit (``Restart.ALWAYS``): the desk depends on them. A window restarts
  only when it crashed (``Restart.ON_CRASH``): exit status 0 means the user
  closed it, and a closed window must stay closed.
* **Backoff** (``shared.backoff``, the project's one) doubles from 0.5 s to 30 s with +-20 % jitter (so restarts of
  several children don't line up), and starts again at 0.5 s once a child has
  run healthy for 60 s. **Crash-loop guard:** the 5th crash inside 60 s gives
  up on that child instead of burning CPU forever; the caller shows the
  ``Decision.message`` to the user in one line.
* The process-level helpers at the bottom (parent-death signal, resource
  sampling) are thin and Linux-aware; they hold no policy.

No Qt here (the daemon path imports this module).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import enum
import os
import random
import signal
import sys
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Mapping, Sequence

from .backoff import Backoff
from .parent_watch import PARENT_PID_ENV  # noqa: F401 - declared with its reader (import-light)

if TYPE_CHECKING:
    import psutil


class Restart(enum.Enum):
    ALWAYS = "always"      # feed, simulator: restart on any exit
    ON_CRASH = "on_crash"  # windows: exit 0 = closed by the user, not restarted


@dataclass
class ChildSpec:
    """How to run one child. ``argv`` may be changed between restarts
    (the simulator is pinned to the port it got on its first start)."""

    name: str                      # unique, used as the log prefix: "sim", "feed", "ui-AAPL"
    role: str                      # "sim" | "feed" | "ui" (shutdown order, reports)
    argv: list[str]
    restart: Restart = Restart.ALWAYS
    ready_prefix: str | None = None  # a stdout line starting with this marks the child ready
    ready_timeout: float = 20.0
    env: Mapping[str, str] = field(default_factory=dict)  # added to the supervisor's environment
    symbol: str | None = None      # a window's first symbol (it reports changes itself)
    pass_fds: tuple[int, ...] = ()  # descriptors the child inherits (the simulator's listening socket)


@dataclass(frozen=True)
class RestartPolicy:
    initial_delay: float = 0.5
    max_delay: float = 30.0
    factor: float = 2.0
    jitter: float = 0.2            # +- fraction of the delay
    healthy_after: float = 60.0    # a run this long resets the backoff
    crash_limit: int = 5           # this many crashes ...
    crash_window: float = 60.0     # ... inside this many seconds -> give up


@dataclass(frozen=True)
class Decision:
    action: str                    # "restart" | "done" | "give_up"
    delay: float = 0.0
    message: str = ""


def describe_exit(returncode: int | None) -> str:
    """``exit 0`` / ``exit 3`` / ``killed by SIGKILL`` (asyncio/Popen: -N = signal N)."""
    if returncode is None:
        return "running"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit {returncode}"


def is_crash(returncode: int) -> bool:
    """Non-zero exit or death by a signal. Exit 0 is a deliberate, clean end."""
    return returncode != 0


class RestartTracker:
    """Restart bookkeeping of one child (sans-I/O; times are seconds on any clock)."""

    def __init__(self, name: str, mode: Restart, policy: RestartPolicy | None = None,
                 rng: Callable[[], float] | None = None):
        self.name = name
        self.mode = mode
        self.policy = policy or RestartPolicy()
        self._rng = rng or random.random
        self.failures = 0              # consecutive unhealthy exits (drives the backoff)
        self.restarts = 0              # restarts done, for reports
        self.crashes: deque[float] = deque()
        self.started_at: float | None = None
        self.last_exit: str = ""

    def on_start(self, now: float) -> None:
        self.started_at = now

    def backoff(self) -> float:
        """The delay before the next restart, from the consecutive failures so far."""
        p = self.policy
        return Backoff(p.initial_delay, p.max_delay, p.factor, center=1.0, spread=p.jitter,
                       rng=self._rng).delay(self.failures - 1)

    def on_exit(self, now: float, returncode: int) -> Decision:
        p = self.policy
        ran = now - self.started_at if self.started_at is not None else 0.0
        self.started_at = None
        self.last_exit = describe_exit(returncode)
        if self.mode is Restart.ON_CRASH and not is_crash(returncode):
            return Decision("done", message=f"{self.name} closed ({self.last_exit})")
        if ran >= p.healthy_after:
            self.failures = 0
        self.failures += 1
        self.crashes.append(now)
        while self.crashes and now - self.crashes[0] > p.crash_window:
            self.crashes.popleft()
        if len(self.crashes) >= p.crash_limit:
            return Decision("give_up", message=(
                f"{self.name} crashed {len(self.crashes)} times in {p.crash_window:g} s "
                f"(last: {self.last_exit}); giving up on it"))
        delay = self.backoff()
        self.restarts += 1
        return Decision("restart", delay, f"{self.name} stopped ({self.last_exit}); restarting in {delay:.1f} s")


class LineBudget:
    """Token bucket for re-logging a child's output (sans-I/O, times on any clock).

    A child in a logging storm must neither flood the supervisor's log nor - by
    the supervisor falling behind and its pipe filling up - block on its own
    writes. Lines over the budget are counted; ``take_suppressed`` hands the
    count over once, for a single "N lines not logged" line."""

    def __init__(self, rate: float, burst: int, now: float):
        self.rate = rate
        self.burst = float(burst)
        self._tokens = float(burst)
        self._at = now
        self._suppressed = 0

    def allow(self, now: float) -> bool:
        self._tokens = min(self.burst, self._tokens + max(0.0, now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1.0:
            self._suppressed += 1
            return False
        self._tokens -= 1.0
        return True

    def take_suppressed(self) -> int:
        n, self._suppressed = self._suppressed, 0
        return n


# ---------------------------------------------------------------- ordering

START_ORDER = ("sim", "feed", "ui")


def shutdown_groups(specs: Iterable[ChildSpec]) -> list[list[ChildSpec]]:
    """Stop in reverse start order: windows first (so they don't flash
    "reconnecting" at a dying feed), then the feed, then the simulator."""
    by_role: dict[str, list[ChildSpec]] = {}
    for s in specs:
        by_role.setdefault(s.role, []).append(s)
    order = [r for r in reversed(START_ORDER)] + sorted(set(by_role) - set(START_ORDER))
    return [by_role[r] for r in order if r in by_role]


# ---------------------------------------------------------------- process helpers (thin I/O)

_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl
    except (OSError, AttributeError):
        return None


# Loaded once in the parent: the pre-exec hook must not load libraries after fork.
_PRCTL = _load_prctl()


def child_preexec(parent_pid: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the kernel SIGTERM the child when the
    supervisor dies (even by SIGKILL). Closes the race where the parent died
    between fork and prctl by checking the parent pid afterwards. ``None``
    off Linux: the children's parent watch (shared/parent_watch.py) covers it."""
    prctl = _PRCTL
    if prctl is None:
        return None

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent_pid:
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def child_env(base: Mapping[str, str], extra: Mapping[str, str], parent_pid: int) -> dict[str, str]:
    env = dict(base)
    env.update(extra)
    env[PARENT_PID_ENV] = str(parent_pid)
    env["PYTHONUNBUFFERED"] = "1"  # child logs reach the supervisor's log as they happen
    # Children run the installed code, never modules in the user's current directory:
    # no cwd as sys.path[0] (also for their own children, e.g. a window's "New window"),
    # and no empty / "." PYTHONPATH entries, which mean the cwd too.
    env["PYTHONSAFEPATH"] = "1"
    if "PYTHONPATH" in env:
        kept = [p for p in env["PYTHONPATH"].split(os.pathsep) if p not in ("", ".", "./")]
        if kept:
            env["PYTHONPATH"] = os.pathsep.join(kept)
        else:
            del env["PYTHONPATH"]
    return env


_DOWN = {"alive": False, "cpu_percent": None, "rss_bytes": None, "rss_mb": None}


def sample(proc: "psutil.Process | None") -> dict:
    """Liveness, CPU% (since the previous call on this psutil.Process) and RSS."""
    import psutil

    if proc is None:
        return dict(_DOWN)
    try:
        with proc.oneshot():
            if proc.status() == psutil.STATUS_ZOMBIE:
                return dict(_DOWN)
            rss = int(proc.memory_info().rss)
            return {"alive": True, "cpu_percent": round(proc.cpu_percent(None), 1),
                    "rss_bytes": rss, "rss_mb": round(rss / 1e6, 1)}
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return dict(_DOWN)


def format_report(children: Sequence[Mapping]) -> str:
    """One log line: ``feed pid 12 cpu 3.0% rss 45.1 MB restarts 0; ui-AAPL ...``."""
    parts = []
    for c in children:
        if not c.get("alive"):
            parts.append(f"{c['name']} {c.get('state', 'down')}")
            continue
        rss = c.get("rss_bytes") or 0
        parts.append(f"{c['name']} pid {c['pid']} cpu {c.get('cpu_percent') or 0:.1f}% "
                     f"rss {rss / 1e6:.1f} MB restarts {c.get('restarts', 0)}")
    return "; ".join(parts) if parts else "no children"
