"""One supervised child process: spawn, relay its output, wait for readiness, restart.

Why it looks like this
----------------------
* **A narrow interface.** A runner needs a clock, the restart policy, the
  environment additions, the stop signal and one callback for what the owner
  must hear about (ready / closed by the user / given up). That is all it gets:
  a :class:`RunContext` and an ``on_event`` function. It never sees the
  :class:`supervisor.core.Supervisor`, so it can be reasoned about (and
  driven) on its own, and the owner's bookkeeping stays in one place.
* **Readiness is the child's own word**: a stdout line starting with
  ``spec.ready_prefix`` (the simulator's and feed's ``LISTENING ...``). A child
  that exits or stays silent past ``ready_timeout`` is a :class:`StartFailed`
  whose message carries the child's last output line (its own one-line error).
* **Output never blocks a child**: each line is read as it comes and re-logged
  as ``NAME| line`` under a token bucket (``shared.procs.LineBudget``); lines
  over the budget are counted, so a logging storm cannot fill the pipe.
* **The restart decisions are sans-I/O** (``shared.procs.RestartTracker``): this
  module only does what a :class:`shared.procs.Decision` says.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import subprocess
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, MutableMapping

from shared.procs import (
    ChildSpec,
    LineBudget,
    RestartPolicy,
    RestartTracker,
    child_env,
    child_preexec,
    describe_exit,
    sample,
)

log = logging.getLogger("supervisor")  # not __name__: one logger name for the whole supervisor
child_log = logging.getLogger("supervisor.child")

LINE_LIMIT = 1 << 20          # longest child output line read as a line (longer ones are skipped)
TAIL_LINES = 20               # last lines kept per child, for start-failure messages
LOG_LINES_PER_S = 200         # child output re-logged per child and second; the rest is counted
LOG_BURST = 1000              # ... after a burst of this many lines

# States a runner is in; the last four are final.
LIVE_STATES = ("new", "starting", "running", "backoff")
FINAL_STATES = ("closed", "given_up", "failed", "stopped")


class StartFailed(Exception):
    """A child did not come up (one line for the user)."""


class Stopping(Exception):
    """The supervisor was asked to stop while it waited."""


@dataclass
class RunContext:
    """What every runner of one supervisor shares."""

    stop: asyncio.Event
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    clock: Callable[[], float] = time.monotonic
    rng: Callable[[], float] | None = None
    env: MutableMapping[str, str] = field(default_factory=dict)  # added to every child's environment
    pdeathsig: bool = True  # False only in tests of the parent-watch fallback

    async def sleep_or_stop(self, delay: float) -> bool:
        """Sleep ``delay`` s; True if a stop was requested meanwhile."""
        try:
            await asyncio.wait_for(self.stop.wait(), timeout=delay)
            return True
        except asyncio.TimeoutError:
            return self.stop.is_set()


# on_event(runner, kind, text): kind is "ready" (text = the ready line), "closed" or "given_up" (text = message)
EventFn = Callable[["ChildRunner", str, str], None]


class ChildRunner:
    """One supervised child."""

    def __init__(self, ctx: RunContext, spec: ChildSpec, on_event: EventFn):
        self.ctx = ctx
        self.spec = spec
        self.on_event = on_event
        self.tracker = RestartTracker(spec.name, spec.restart, ctx.policy, ctx.rng)
        self.proc: asyncio.subprocess.Process | None = None
        self.ps = None  # psutil.Process of the current run
        self.state = "new"  # starting | running | backoff | closed | given_up | stopped | failed
        self.symbol: str | None = spec.symbol  # a window's symbol, as it last reported it
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.ready_line: str | None = None
        self._ready: asyncio.Future | None = None
        self.reader: asyncio.Task | None = None
        self.task: asyncio.Task | None = None
        self.started_wall = 0.0
        self.first_chart: float | None = None  # s from spawn to a window's first painted chart
        self._budget = LineBudget(LOG_LINES_PER_S, LOG_BURST, ctx.clock())

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    # ---- one run
    async def spawn(self) -> None:
        import psutil

        loop = asyncio.get_running_loop()
        self._ready = loop.create_future() if self.spec.ready_prefix else None
        self.ready_line = None
        self.state = "starting"
        self.proc = await asyncio.create_subprocess_exec(
            *self.spec.argv,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=child_env(os.environ, {**self.ctx.env, **self.spec.env}, os.getpid()),
            start_new_session=True, preexec_fn=child_preexec(os.getpid()) if self.ctx.pdeathsig else None,
            pass_fds=self.spec.pass_fds, limit=LINE_LIMIT)
        self.tracker.on_start(self.ctx.clock())
        self.started_wall = time.time()
        self.first_chart = None
        try:
            self.ps = psutil.Process(self.proc.pid)
            self.ps.cpu_percent(None)  # prime: the next call measures since now
        except psutil.Error:
            self.ps = None
        log.info("started %s (pid %d): %s", self.name, self.proc.pid, " ".join(self.spec.argv[1:]))
        self.reader = asyncio.create_task(self._read(self.proc), name=f"read-{self.name}")
        if self._ready is None:
            self.state = "running"

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while True:
            try:
                raw = await proc.stdout.readline()
            except ValueError:  # a line beyond LINE_LIMIT: asyncio dropped it; keep reading
                child_log.warning("%s| (an output line over %d bytes was skipped)", self.name, LINE_LIMIT)
                continue
            if not raw:
                self._log_suppressed()
                break
            line = raw.decode("utf-8", "replace").rstrip()
            if not line:
                continue
            self.tail.append(line)
            if self._budget.allow(self.ctx.clock()):
                self._log_suppressed()
                child_log.info("%s| %s", self.name, line)
            ready = self._ready
            if ready is not None and not ready.done() and line.startswith(self.spec.ready_prefix or "\0"):
                self.ready_line = line
                self.state = "running"
                ready.set_result(line)

    def _log_suppressed(self) -> None:
        n = self._budget.take_suppressed()
        if n:
            child_log.warning("%s| (%d output lines not logged: over %d lines/s)", self.name, n, LOG_LINES_PER_S)

    async def wait_ready(self) -> str:
        """The child's ready line ("" without a ready prefix); :class:`StartFailed` if it
        exits or times out first, :class:`Stopping` if a stop is requested meanwhile."""
        assert self.proc is not None
        if self._ready is None:
            return ""
        exited = asyncio.ensure_future(self.proc.wait())
        stop = asyncio.ensure_future(self.ctx.stop.wait())
        try:
            done, _ = await asyncio.wait({self._ready, exited, stop}, timeout=self.spec.ready_timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            exited.cancel()
            stop.cancel()
        if self._ready in done:
            return self._ready.result()
        if self.ctx.stop.is_set():
            raise Stopping()
        if self.proc.returncode is None:  # hung: timed out without a ready line
            self.signal(signal.SIGKILL)
            await self.proc.wait()
            why = f"not ready after {self.spec.ready_timeout:g} s"
        else:
            await self.wait_reader()  # let the last lines (the error) arrive
            why = describe_exit(self.proc.returncode)
        last = next((ln for ln in reversed(self.tail) if ln.strip()), "")
        raise StartFailed(f"{self.name} could not start ({why})" + (f": {strip_log_prefix(last)}" if last else ""))

    async def wait_reader(self, timeout: float = 1.0) -> None:
        if self.reader is not None and not self.reader.done():
            await asyncio.wait({self.reader}, timeout=timeout)

    def signal(self, sig: int) -> None:
        """Signal the child's whole process group (it leads its own session)."""
        if not self.alive:
            return
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass

    async def first_start(self) -> str:
        """Spawn and wait for readiness; then supervise in a task. Raises StartFailed / Stopping."""
        try:
            await self.spawn()
        except OSError as e:
            self.state = "failed"
            raise StartFailed(f"{self.name} could not start: {e}") from None
        try:
            line = await self.wait_ready()
        except StartFailed:
            self.state = "failed"
            raise
        if line:
            self.on_event(self, "ready", line)
        self.task = asyncio.create_task(self.supervise(), name=f"supervise-{self.name}")
        return line

    # ---- the restart loop
    async def supervise(self) -> None:
        """Watch the running child; restart it per the policy until stopped."""
        while True:
            assert self.proc is not None
            rc = await self.proc.wait()
            await self.wait_reader()
            if self.ctx.stop.is_set():
                self.state = "stopped"
                return
            d = self.tracker.on_exit(self.ctx.clock(), rc)
            while True:  # until a new process runs (or we stop / give up)
                if d.action == "done":
                    self.state = "closed"
                    log.info("%s", d.message)
                    self.on_event(self, "closed", d.message)
                    return
                if d.action == "give_up":
                    self.state = "given_up"
                    self.on_event(self, "given_up", d.message)
                    return
                self.state = "backoff"
                log.warning("%s", d.message)
                if await self.ctx.sleep_or_stop(d.delay):
                    self.state = "stopped"
                    return
                try:
                    await self.spawn()
                    break
                except OSError as e:  # could not even exec: an immediate crash
                    log.error("cannot start %s: %s", self.name, e)
                    self.tracker.on_start(self.ctx.clock())
                    d = self.tracker.on_exit(self.ctx.clock(), 127)
            try:
                line = await self.wait_ready()
                if line:
                    self.on_event(self, "ready", line)
            except Stopping:
                continue  # the next turn sees the stop once the shutdown has stopped the child
            except StartFailed as e:  # the process has exited: the next turn counts it as a crash
                log.warning("%s", e)

    def report(self) -> dict:
        s = sample(self.ps) if self.alive else sample(None)
        out = {"name": self.name, "role": self.spec.role, "pid": self.pid, "state": self.state,
               "restarts": self.tracker.restarts, "last_exit": self.tracker.last_exit,
               "started_at": round(self.started_wall, 3) if self.alive else None, **s}
        if self.spec.role == "ui":
            out["symbol"] = self.symbol
        return out


def strip_log_prefix(line: str) -> str:
    """``2026-01-01 12:00:00,000 ERROR   x[12]: message`` -> ``message`` (for one-line errors)."""
    m = re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ \w+\s+\S+: (.*)$", line)
    return m.group(1) if m else line
