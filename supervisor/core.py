"""The supervisor: starts children in order, keeps them running, reports, and stops
them in order.

Why it looks like this
----------------------
* **One asyncio loop**: child output arrives on pipes read by stream tasks, exits
  by ``Process.wait()``, signals by ``loop.add_signal_handler``, reports go out on
  a non-blocking DEALER (``reporter``), windows' requests come in on a private
  ROUTER (``control``). Each child is a :class:`supervisor.runner.ChildRunner`
  that hears only a :class:`RunContext` and tells us what happened through one
  callback (:meth:`Supervisor._on_event`), so what the *app* does about it
  (a daemon without its feed exits 1; a desktop ends with its last window) is
  decided here and nowhere else.
* **Real OS processes, each in its own session**: a Ctrl-C in the terminal
  reaches only the supervisor, which stops windows, then the feed, then the
  simulator (``shared.procs.shutdown_groups``: SIGTERM, wait, SIGKILL). Children
  die with the supervisor even when it is SIGKILLed (parent-death signal plus
  the parent watch in every child).
* The restart policy and its clock are injected (``policy``, ``clock``,
  ``rng``), so the process tests run the real class with fast backoffs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import sys
import time
from typing import Awaitable, Callable

from shared.procs import ChildSpec, RestartPolicy, sample, shutdown_groups

from .control import WindowServer
from .reporter import FeedReporter
from .runner import ChildRunner, RunContext, StartFailed, Stopping

log = logging.getLogger("supervisor")


def launch_time() -> float:
    """Wall-clock start of this process (``live-monitor`` as the user typed it), for first-chart times."""
    import psutil

    try:
        return psutil.Process().create_time()
    except psutil.Error:
        return time.time()

REPORT_INTERVAL = 3.0         # seconds between resource samples / feed reports
STOP_GROUP_TIMEOUT = 3.0      # per shutdown group (windows, feed, sim) before SIGKILL
MAX_WINDOWS = 32              # "New window" requests beyond this are refused
SPARE_DELAY = 3.0             # s after the first chart before the spare window starts (the desk settles first)


class Supervisor:
    def __init__(self, feed_address: str | None, *, mode: str = "desktop", policy: RestartPolicy | None = None,
                 clock: Callable[[], float] = time.monotonic, rng: Callable[[], float] | None = None,
                 report_interval: float = REPORT_INTERVAL, stop_timeout: float = STOP_GROUP_TIMEOUT,
                 pdeathsig: bool = True, curve_dir: str | None = None):
        self.feed_address = feed_address
        self.mode = mode  # "desktop" | "daemon"
        self.stop_event = asyncio.Event()
        self.ctx = RunContext(self.stop_event, policy or RestartPolicy(), clock, rng, {}, pdeathsig)
        self.report_interval = report_interval
        self.stop_timeout = stop_timeout
        self.runners: list[ChildRunner] = []
        self.exit_code = 0
        self.reporter = FeedReporter(feed_address, curve_dir or "", mode) if feed_address else None
        self._windows: WindowServer | None = None
        self._tasks: list[asyncio.Task] = []
        self._me_ps = None  # psutil.Process of the supervisor itself
        self._spare_spec: Callable[[], ChildSpec] | None = None   # a spare window's spec (no symbol)
        self._spec_for: Callable[[str], ChildSpec] | None = None  # a window's spec once it has a symbol
        self._spare: ChildRunner | None = None                    # the spare window, while it has no symbol
        self._spare_assign: Callable[[str], None] | None = None   # ... and its pending request, once it asked
        self._spare_starting = False
        self._sockets: list = []  # listening sockets handed to children (the simulator's), closed at the end

    @property
    def child_env(self) -> dict[str, str]:
        """Added to every child's environment (security choices, the window endpoint)."""
        return self.ctx.env  # type: ignore[return-value]

    # ---- lifecycle
    def install_signal_handlers(self) -> None:
        """SIGTERM, SIGINT and SIGHUP (terminal closed) stop cleanly; a SIGHUP that
        was ignored (``nohup live-monitor daemon``) stays ignored."""
        loop = asyncio.get_running_loop()
        sigs = [signal.SIGTERM, signal.SIGINT]
        if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
            sigs.append(signal.SIGHUP)
        for sig in sigs:
            loop.add_signal_handler(sig, self.request_stop, sig)

    def request_stop(self, sig: int | None = None, code: int | None = None) -> None:
        if sig is not None and not self.stop_event.is_set():
            log.info("received %s: stopping", signal.Signals(sig).name)
        if code is not None and not self.stop_event.is_set():
            self.exit_code = code
        self.stop_event.set()

    async def sleep_or_stop(self, delay: float) -> bool:
        return await self.ctx.sleep_or_stop(delay)

    async def start(self, spec: ChildSpec) -> ChildRunner:
        """Start a child and (if it has a ready line) wait for it. Raises StartFailed / Stopping."""
        if self.stop_event.is_set():
            raise Stopping()
        r = ChildRunner(self.ctx, spec, self._on_event)
        self.runners.append(r)
        await r.first_start()
        return r

    def keep_open(self, sock) -> None:
        """A listening socket a child inherits: open while the supervisor runs (its restarts get it too)."""
        self._sockets.append(sock)

    def _close_sockets(self, fds: tuple[int, ...] | None = None) -> None:
        for sock in [s for s in self._sockets if fds is None or s.fileno() in fds]:
            self._sockets.remove(sock)
            sock.close()

    def add_task(self, coro, name: str) -> None:
        """A background task that ends with the supervisor."""
        self._tasks.append(asyncio.create_task(coro, name=name))

    async def discard(self, runners: list[ChildRunner]) -> None:
        """Stop these children for good (SIGTERM, wait, SIGKILL) and forget them."""
        for r in runners:
            if r.task:
                r.task.cancel()
            r.signal(signal.SIGTERM)
        for r in runners:
            if r.proc is not None:
                try:
                    await asyncio.wait_for(r.proc.wait(), self.stop_timeout)
                except asyncio.TimeoutError:
                    r.signal(signal.SIGKILL)
                    await r.proc.wait()
            r.state = "stopped"
            if r in self.runners:
                self.runners.remove(r)

    # ---- what the runners tell us
    def _on_event(self, r: ChildRunner, kind: str, text: str) -> None:
        if kind == "ready":
            log.info("%s ready: %s", r.name, text)
            return
        if kind == "given_up":
            log.error("%s", text)
            self._close_sockets(r.spec.pass_fds)  # nobody will accept: connections are refused again
            print(f"live-monitor: {text}", file=sys.stderr, flush=True)
            self.notice(text)
            if r.spec.role in ("feed", "sim") and self.mode == "daemon":
                self.request_stop(code=1)  # a daemon without its feed serves nobody: let the service manager act
        self._check_windows_left()

    def _check_windows_left(self) -> None:
        if self.mode != "desktop":
            return
        windows = [w for w in self.runners if w.spec.role == "ui"]
        if windows and all(w.state in ("closed", "given_up", "failed") for w in windows):
            closed = any(w.state == "closed" for w in windows)
            log.info("last window %s: stopping", "closed" if closed else "given up")
            self.request_stop(code=0 if closed else 1)

    def notice(self, message: str) -> None:
        if self.reporter is not None:
            self.reporter.notice(message)

    async def run(self) -> int:
        """Supervise until a stop is requested, then shut down. Returns the exit code."""
        if self.reporter is not None:
            self.reporter.open()
            self.add_task(self.reporter.report_loop(self.reports, self.ctx.clock, self.sleep_or_stop,
                                                    self.report_interval), "report")
        self._check_windows_left()
        await self.stop_event.wait()
        await self.shutdown()
        return self.exit_code

    async def shutdown(self) -> None:
        """Windows, then the feed, then the simulator: SIGTERM, wait, SIGKILL."""
        self.stop_event.set()
        by_spec = {id(r.spec): r for r in self.runners}
        for group in shutdown_groups([r.spec for r in self.runners]):
            live = [by_spec[id(s)] for s in group if by_spec[id(s)].alive]
            if not live:
                continue
            for r in live:
                r.signal(signal.SIGTERM)
            waits = [asyncio.ensure_future(r.proc.wait()) for r in live if r.proc]
            _, pending = await asyncio.wait(waits, timeout=self.stop_timeout)
            for r in live:
                if r.alive:
                    log.warning("%s did not stop within %g s: killing it", r.name, self.stop_timeout)
                    r.signal(signal.SIGKILL)
            if pending:
                await asyncio.wait(pending, timeout=2.0)
        for r in self.runners:
            if r.task and not r.task.done():
                try:
                    await asyncio.wait_for(r.task, timeout=2.0)
                except (asyncio.TimeoutError, asyncio.CancelledError):
                    pass
            await r.wait_reader()
        for t in self._tasks:
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.reporter is not None:
            self.reporter.close()
        if self._windows is not None:
            await self._windows.close()
            self._windows = None
        self._close_sockets()
        log.info("stopped")

    # ---- the windows' requests
    def serve_windows(self, open_window: Callable[[str], Awaitable[None]],
                      spec_for: Callable[[str], ChildSpec] | None = None,
                      spare: Callable[[], ChildSpec] | None = None) -> str:
        """Bind the private endpoint where windows ask for another window and report
        their symbol; children find it in ``LIVE_MONITOR_SUPERVISOR``.

        With ``spare`` (a window's spec without a symbol) and ``spec_for`` (the spec a window on a
        symbol gets: its name and restart command line), one spare window is kept ready once the
        first chart is painted: a New window is then the spare, given its symbol (bench/startup.py:
        the snapshot and a paint instead of an interpreter, Qt and the widgets)."""
        self._spare_spec, self._spec_for = spare, spec_for
        from shared.supervisor_client import SUPERVISOR_ENV

        def accept(symbol: str) -> str | None:
            if self.stop_event.is_set():
                return "the app is stopping"
            if sum(r.spec.role == "ui" and r.state not in ("closed", "given_up", "failed", "stopped")
                   for r in self.runners) >= MAX_WINDOWS:
                return f"at most {MAX_WINDOWS} windows"
            if not self._use_spare(symbol):
                self.add_task(self._open_window(open_window, symbol), f"open-{symbol}")  # replied at once
            return None

        self._windows = WindowServer(accept, self._window_symbol, self._window_ready, self._window_spare)
        endpoint = self._windows.start()
        self.child_env[SUPERVISOR_ENV] = endpoint
        return endpoint

    def _window_symbol(self, pid: int, symbol: str) -> None:
        for r in self.runners:
            if r.spec.role == "ui" and r.pid == pid and r.alive:
                if r.symbol != symbol:
                    log.info("%s shows %s", r.name, symbol)
                r.symbol = symbol

    # ---- the desktop's symbols, before its windows ask
    def prefetch(self, ready_line: str, symbols: list[str | None], curve_dir: str = "", hold: float = 20.0) -> None:
        """Subscribe the windows' symbols on our feed the moment it is up (``data=`` of its ready
        line), for ``hold`` seconds: its upstream subscription and history backfill then run while
        the windows are still starting, so a window's first snapshot has the bars sooner
        (bench/startup.py). The windows' own subscriptions take over; this one only leads."""
        m = re.search(r"\bdata=(\S+)", ready_line or "")
        syms = [s for s in symbols if s]
        if m and syms:
            self.add_task(self._prefetch(m.group(1), syms, curve_dir, hold), "prefetch")

    async def _prefetch(self, endpoint: str, symbols: list[str], curve_dir: str, hold: float) -> None:
        import zmq

        from shared.models import wire
        from shared.zmq_client import apply_curve

        s = zmq.Context.instance().socket(zmq.SUB)
        try:
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt(zmq.RCVHWM, 1)  # never read: the subscription is what counts
            apply_curve(s, curve_dir)
            s.connect(endpoint)
            for sym in symbols:
                s.setsockopt(zmq.SUBSCRIBE, wire.topic_for(sym))
            await self.sleep_or_stop(hold)
        except zmq.ZMQError as e:
            log.debug("no prefetch of %s: %s", symbols, e)
        finally:
            s.close(0)

    # ---- the spare window
    def _window_spare(self, pid: int, assign: Callable[[str], None]) -> None:
        if self._spare is not None and self._spare.pid == pid and self._spare.alive:
            self._spare_assign = assign
            log.info("spare window ready (pid %d)", pid)

    def _use_spare(self, symbol: str) -> bool:
        """Give the waiting spare this symbol: it becomes the window ``spec_for(symbol)`` names."""
        r, assign = self._spare, self._spare_assign
        if r is None or assign is None or not r.alive or self._spec_for is None:
            return False
        self._spare = self._spare_assign = None
        r.spec = self._spec_for(symbol)  # its name, role and, after a crash, its restart command line
        r.tracker.name = r.spec.name
        r.symbol, r.started_wall = symbol, time.time()
        assign(symbol)
        log.info("the spare window (pid %s) is %s now", r.pid, r.name)
        self.add_task(self._start_spare(), "spare")
        return True

    async def _start_spare(self, delay: float = 0.0) -> None:
        if delay and await self.sleep_or_stop(delay):
            return
        if self._spare_spec is None or self._spare is not None or self._spare_starting or self.stop_event.is_set():
            return
        spec = self._spare_spec()
        spec.name, spec.role, spec.symbol = "ui-spare", "spare", None
        spec.argv = [*spec.argv, "--spare"]
        self._spare_starting = True  # one spare at a time (two first charts, two tasks)
        try:
            self._spare = await self.start(spec)
        except (StartFailed, Stopping) as e:
            log.info("no spare window: %s", e)
        finally:
            self._spare_starting = False

    def _window_ready(self, pid: int, symbol: str, marks: dict) -> None:
        """A window painted its first chart: log the time from the launch and the window's own steps
        (``bench/startup.py`` reads this line)."""
        r = next((r for r in self.runners if r.spec.role == "ui" and r.pid == pid), None)
        if r is None or r.first_chart is not None:
            return
        painted = marks.get("painted") or time.time()
        r.first_chart = painted - (r.started_wall or painted)
        steps = sorted(((v, k) for k, v in marks.items() if k != "painted"), key=lambda x: x[0]) + [(painted, "painted")]
        text = ", ".join(f"{k} {b - a:.2f}" for (a, _), (b, k) in zip(steps, steps[1:]))
        log.info("%s first chart: %s in %.2f s from launch, %.2f s from its spawn (%s)", r.name, symbol,
                 painted - launch_time(), r.first_chart, text)
        if self._spare is None and self._spare_spec is not None:  # after the first chart, never before it
            self.add_task(self._start_spare(SPARE_DELAY), "spare")

    async def _open_window(self, open_window: Callable[[str], Awaitable[None]], symbol: str) -> None:
        log.info("a window asked for a new window on %s", symbol)
        try:
            await open_window(symbol)
        except (StartFailed, Stopping) as e:
            log.warning("no new window on %s: %s", symbol, e)

    # ---- figures
    def reports(self) -> list[dict]:
        me = {"name": "supervisor", "role": "supervisor", "pid": os.getpid(), "state": "running",
              "restarts": 0, "last_exit": "", "started_at": None, "mode": self.mode, **sample(self._me())}
        latest: dict[str, ChildRunner] = {}
        for r in self.runners:  # after a takeover a name may repeat; the last runner counts
            latest[r.name] = r
        return [me] + [r.report() for r in latest.values()]

    def _me(self):
        import psutil

        if self._me_ps is None:
            self._me_ps = psutil.Process()
            self._me_ps.cpu_percent(None)
        return self._me_ps
