"""``live-monitor``: the command a user starts (entry point ``supervisor:main``).

Desktop (the default) starts the simulator (when the upstream is ``sim``), one
feed and one window per symbol, and keeps them alive; ``daemon`` does the same
without windows and never imports Qt. A desktop attaches to a feed that
already answers ``hello`` on the feed address instead of starting a second one,
so two desks on one address share one feed and one upstream connection (and it
takes the feed over if the other desk closes).

Why it looks like this
----------------------
* **Real OS processes, each in its own session** (``start_new_session``): a
  Ctrl-C in the terminal reaches only the supervisor, which then stops the
  children in order (windows, feed, simulator: SIGTERM, wait, SIGKILL).
  Children die with the supervisor even when it is SIGKILLed: the kernel's
  parent-death signal (``shared.procs.child_preexec``) plus a parent-pid watch
  in every child (``shared.parent_watch``, started by ``shared.cli.main``).
* **One asyncio loop**: child output arrives on pipes read by stream tasks
  (each line goes to the log prefixed with the child's name), exits by
  ``Process.wait()``, signals by ``loop.add_signal_handler``, feed reports by
  a non-blocking ZeroMQ DEALER, windows' "New window" requests on a private
  ROUTER. The restart decisions are the sans-I/O
  ``shared.procs.RestartTracker`` driven by an injected clock.
* **Readiness is the child's own word**: the simulator and the feed print one
  ``LISTENING ...`` line when they serve; the supervisor waits for it (with a
  timeout) before starting what depends on it. The simulator is pinned to the
  port it got on its first start, so the feed's upstream URL stays valid
  across simulator restarts.
* Every few seconds liveness, CPU% and RSS of each child (psutil) go to the
  feed as ``command supervisor_report`` (shown by ``live-monitor status``) and,
  once a minute, to the log. A child given up by the crash-loop guard is one
  line on stderr and a ``command notice`` to the feed, which publishes it to
  the windows.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections import deque
from typing import TYPE_CHECKING, Awaitable, Callable

from shared.config import Settings
from shared.procs import (
    ChildSpec,
    LineBudget,
    Restart,
    RestartPolicy,
    RestartTracker,
    child_env,
    child_preexec,
    describe_exit,
    format_report,
    sample,
    shutdown_groups,
)

if TYPE_CHECKING:
    from shared.feed_probe import FeedInfo

log = logging.getLogger("supervisor")  # not __name__: that is "__main__" under `python -m supervisor`
child_log = logging.getLogger("supervisor.child")

LINE_LIMIT = 1 << 20          # longest child output line read as a line (longer ones are skipped)
TAIL_LINES = 20               # last lines kept per child, for start-failure messages
REPORT_INTERVAL = 3.0         # seconds between resource samples / feed reports
REPORT_LOG_EVERY = 60.0       # seconds between INFO log lines of the samples (DEBUG otherwise)
STOP_GROUP_TIMEOUT = 3.0      # per shutdown group (windows, feed, sim) before SIGKILL
MAX_WINDOWS = 32              # "New window" requests beyond this are refused
LOG_LINES_PER_S = 200         # child output re-logged per child and second; the rest is counted
LOG_BURST = 1000              # ... after a burst of this many lines
LISTENING_RE = re.compile(r"^LISTENING (\S+)")
SIM_PORT_RE = re.compile(r"^LISTENING wss?://[^\s:/]+:(\d+)")


def add_desktop_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--symbols", metavar="A,B", help="one window per symbol (default: the last used)")
    p.add_argument("--sim-port", dest="sim_port", type=int, metavar="P", help="simulator port (default: a free port)")
    _add_security_arguments(p)


def add_daemon_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sim-port", dest="sim_port", type=int, metavar="P", help="simulator port (default: a free port)")
    _add_security_arguments(p)


def _add_security_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--curve-dir", dest="curve_dir", metavar="DIR", default=None,
                   help="CURVE keys: the feed serves (and windows connect) encrypted with these")
    p.add_argument("--insecure", action="store_true", default=None,
                   help="allow a non-loopback feed address without CURVE keys")


def security_env(settings: Settings) -> dict[str, str]:
    """CURVE / insecure choices every child re-reads (feed and windows): settings travel by environment."""
    env: dict[str, str] = {}
    if settings.curve_dir:
        env["LIVE_MONITOR_CURVE_DIR"] = settings.curve_dir
    if settings.insecure:
        env["LIVE_MONITOR_INSECURE"] = "1"
    return env


def main() -> None:
    from shared.cli import main as cli_main

    sys.exit(cli_main())


# ---------------------------------------------------------------- children


class StartFailed(Exception):
    """A child did not come up at the first start (one line for the user)."""


class Stopping(Exception):
    """The supervisor was asked to stop while it waited."""


class ChildRunner:
    """One supervised child: spawn, read its output, wait for readiness, restart."""

    def __init__(self, sup: "Supervisor", spec: ChildSpec):
        self.sup = sup
        self.spec = spec
        self.tracker = RestartTracker(spec.name, spec.restart, sup.policy, sup.rng)
        self.proc: asyncio.subprocess.Process | None = None
        self.ps = None  # psutil.Process of the current run
        self.state = "new"  # starting | running | backoff | closed | given_up | stopped | failed
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.ready_line: str | None = None
        self._ready: asyncio.Future | None = None
        self._reader: asyncio.Task | None = None
        self.task: asyncio.Task | None = None
        self.started_wall = 0.0
        self._budget = LineBudget(LOG_LINES_PER_S, LOG_BURST, sup.clock())

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def spawn(self) -> None:
        import psutil

        loop = asyncio.get_running_loop()
        self._ready = loop.create_future() if self.spec.ready_prefix else None
        self.ready_line = None
        self.state = "starting"
        self.proc = await asyncio.create_subprocess_exec(
            *self.spec.argv,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=child_env(os.environ, {**self.sup.child_env, **self.spec.env}, os.getpid()),
            start_new_session=True, preexec_fn=child_preexec(os.getpid()) if self.sup.pdeathsig else None,
            limit=LINE_LIMIT)
        self.tracker.on_start(self.sup.clock())
        self.started_wall = time.time()
        try:
            self.ps = psutil.Process(self.proc.pid)
            self.ps.cpu_percent(None)  # prime: the next call measures since now
        except psutil.Error:
            self.ps = None
        log.info("started %s (pid %d): %s", self.name, self.proc.pid, " ".join(self.spec.argv[1:]))
        self._reader = asyncio.create_task(self._read(self.proc), name=f"read-{self.name}")
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
            self._log_line(line)
            ready = self._ready
            if ready is not None and not ready.done() and line.startswith(self.spec.ready_prefix or "\0"):
                self.ready_line = line
                self.state = "running"
                ready.set_result(line)

    def _log_line(self, line: str) -> None:
        if self._budget.allow(self.sup.clock()):
            self._log_suppressed()
            child_log.info("%s| %s", self.name, line)

    def _log_suppressed(self) -> None:
        n = self._budget.take_suppressed()
        if n:
            child_log.warning("%s| (%d output lines not logged: over %d lines/s)", self.name, n, LOG_LINES_PER_S)

    async def wait_ready(self) -> str:
        """The child's ready line; :class:`StartFailed` if it exits or times out first."""
        assert self.proc is not None
        if self._ready is None:
            return ""
        exited = asyncio.ensure_future(self.proc.wait())
        stop = asyncio.ensure_future(self.sup.stop_event.wait())
        try:
            done, _ = await asyncio.wait({self._ready, exited, stop}, timeout=self.spec.ready_timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            exited.cancel()
            stop.cancel()
        if self._ready in done:
            return self._ready.result()
        if self.sup.stop_event.is_set():
            raise Stopping()
        if self.proc.returncode is None:  # hung: timed out without a ready line
            self.signal(signal.SIGKILL)
            await self.proc.wait()
            why = f"not ready after {self.spec.ready_timeout:g} s"
        else:
            if self._reader is not None:  # let the last lines (the error) arrive
                await asyncio.wait({self._reader}, timeout=1.0)
            why = describe_exit(self.proc.returncode)
        last = next((ln for ln in reversed(self.tail) if ln.strip()), "")
        raise StartFailed(f"{self.name} could not start ({why})" + (f": {_strip_log_prefix(last)}" if last else ""))

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

    async def supervise(self) -> None:
        """Watch the running child; restart it per the policy until stopped."""
        while True:
            assert self.proc is not None
            rc = await self.proc.wait()
            if self._reader is not None:
                await asyncio.wait({self._reader}, timeout=1.0)
            if self.sup.stopping:
                self.state = "stopped"
                return
            d = self.tracker.on_exit(self.sup.clock(), rc)
            while True:  # until a new process runs (or we stop / give up)
                if d.action == "done":
                    self.state = "closed"
                    log.info("%s", d.message)
                    self.sup.child_finished(self)
                    return
                if d.action == "give_up":
                    self.state = "given_up"
                    self.sup.gave_up(self, d.message)
                    return
                self.state = "backoff"
                log.warning("%s", d.message)
                if await self.sup.sleep_or_stop(d.delay):
                    self.state = "stopped"
                    return
                try:
                    await self.spawn()
                    break
                except OSError as e:  # could not even exec: an immediate crash
                    log.error("cannot start %s: %s", self.name, e)
                    self.tracker.on_start(self.sup.clock())
                    d = self.tracker.on_exit(self.sup.clock(), 127)
            try:
                line = await self.wait_ready()
                if line:
                    self.sup.child_ready(self, line)
            except Stopping:
                continue  # the next turn sees `stopping` once the shutdown has stopped the child
            except StartFailed as e:  # the process has exited: the next turn counts it as a crash
                log.warning("%s", e)

    def report(self) -> dict:
        s = sample(self.ps) if self.alive else sample(None)
        return {"name": self.name, "role": self.spec.role, "pid": self.proc.pid if self.proc else None,
                "state": self.state, "restarts": self.tracker.restarts, "last_exit": self.tracker.last_exit,
                "started_at": round(self.started_wall, 3) if self.alive else None, **s}


def _strip_log_prefix(line: str) -> str:
    """``2026-01-01 12:00:00,000 ERROR   x[12]: message`` -> ``message`` (for one-line errors)."""
    m = re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ \w+\s+\S+: (.*)$", line)
    return m.group(1) if m else line


# ---------------------------------------------------------------- supervisor


class Supervisor:
    """Starts children in order, supervises them, reports, and shuts down in order."""

    def __init__(self, feed_address: str | None, *, mode: str = "desktop", policy: RestartPolicy | None = None,
                 clock: Callable[[], float] = time.monotonic, rng: Callable[[], float] | None = None,
                 report_interval: float = REPORT_INTERVAL, stop_timeout: float = STOP_GROUP_TIMEOUT,
                 pdeathsig: bool = True, curve_dir: str | None = None):
        self.feed_address = feed_address
        self.curve_dir = curve_dir or ""  # the feed's CURVE keys: reports reach an encrypted feed too
        self.mode = mode  # "desktop" | "daemon"
        self.policy = policy or RestartPolicy()
        self.clock = clock
        self.rng = rng
        self.report_interval = report_interval
        self.stop_timeout = stop_timeout
        self.pdeathsig = pdeathsig  # False only in tests of the parent-watch fallback
        self.runners: list[ChildRunner] = []
        self.stopping = False
        self.exit_code = 0
        self.stop_event = asyncio.Event()
        self.child_env: dict[str, str] = {}  # added to every child's environment
        self._ctl = None  # zmq DEALER to the feed (reports, notices)
        self._server = None  # zmq ROUTER for the windows' requests (New window)
        self._server_dir: str | None = None
        self._tasks: list[asyncio.Task] = []
        self._last_info_log = float("-inf")
        self._req_id = 0
        self._seen_errors: set[str] = set()
        self._me_ps = None  # psutil.Process of the supervisor itself

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
        """Sleep ``delay`` s; True if a stop was requested meanwhile."""
        try:
            await asyncio.wait_for(self.stop_event.wait(), timeout=delay)
            return True
        except asyncio.TimeoutError:
            return self.stop_event.is_set()

    async def start(self, spec: ChildSpec) -> ChildRunner:
        """Start a child and (if it has a ready line) wait for it. Raises StartFailed / Stopping."""
        if self.stop_event.is_set():
            raise Stopping()
        r = ChildRunner(self, spec)
        self.runners.append(r)
        try:
            await r.spawn()
        except OSError as e:
            r.state = "failed"
            raise StartFailed(f"{spec.name} could not start: {e}") from None
        try:
            line = await r.wait_ready()
        except StartFailed:
            r.state = "failed"
            raise
        if line:
            self.child_ready(r, line)
        r.task = asyncio.create_task(r.supervise(), name=f"supervise-{spec.name}")
        return r

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

    def child_ready(self, r: ChildRunner, line: str) -> None:
        log.info("%s ready: %s", r.name, line)

    def child_finished(self, r: ChildRunner) -> None:
        self._check_windows_left()

    def gave_up(self, r: ChildRunner, message: str) -> None:
        log.error("%s", message)
        print(f"live-monitor: {message}", file=sys.stderr, flush=True)
        self.notice(message)
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

    async def run(self) -> int:
        """Supervise until a stop is requested, then shut down. Returns the exit code."""
        if self.feed_address:
            self._open_control()
            self.add_task(self._report_loop(), "report")
        self._check_windows_left()
        await self.stop_event.wait()
        await self.shutdown()
        return self.exit_code

    async def shutdown(self) -> None:
        """Windows, then the feed, then the simulator: SIGTERM, wait, SIGKILL."""
        self.stopping = True
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
            if r._reader and not r._reader.done():
                await asyncio.wait({r._reader}, timeout=1.0)
        for t in self._tasks:
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._ctl is not None:
            self._ctl.close(linger=200)  # let a last notice go out
            self._ctl = None
        if self._server is not None:
            self._server.close(0)
            self._server = None
        if self._server_dir:
            import shutil

            shutil.rmtree(self._server_dir, ignore_errors=True)
        log.info("stopped")

    # ---- the windows' requests ("New window")
    def serve_windows(self, open_window: Callable[[str], Awaitable[None]]) -> str:
        """Bind a private endpoint where windows ask for another window; children
        find it in ``LIVE_MONITOR_SUPERVISOR`` (shared/supervisor_client.py)."""
        import tempfile

        import zmq
        import zmq.asyncio

        from shared.supervisor_client import SUPERVISOR_ENV

        self._server_dir = tempfile.mkdtemp(prefix="live-monitor-")  # 0700: only this user can ask
        endpoint = f"ipc://{self._server_dir}/supervisor"
        s = zmq.asyncio.Context.instance().socket(zmq.ROUTER)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.MAXMSGSIZE, 1 << 16)
        s.bind(endpoint)
        self._server = s
        self.child_env[SUPERVISOR_ENV] = endpoint
        self.add_task(self._serve(open_window), "window-requests")
        log.info("window requests at %s", endpoint)
        return endpoint

    async def _serve(self, open_window: Callable[[str], Awaitable[None]]) -> None:
        from shared.models import wire
        from shared.models.market_data import normalize_symbol

        assert self._server is not None
        while True:
            frames = await self._server.recv_multipart()
            if len(frames) != 2:
                continue
            ident, raw = frames
            try:
                msg = wire.unpack(raw)
            except wire.WireError as e:
                reply = wire.error_reply(None, str(e))
            else:
                rid = msg.get("id")
                if msg.get("type") != "command" or msg.get("cmd") != "open_window":
                    reply = wire.error_reply(rid, "the supervisor only opens windows (cmd: open_window)", "unknown")
                elif self.stop_event.is_set():
                    reply = wire.error_reply(rid, "the app is stopping", "stopping")
                elif sum(r.spec.role == "ui" and r.state not in ("closed", "given_up", "failed", "stopped")
                         for r in self.runners) >= MAX_WINDOWS:
                    reply = wire.error_reply(rid, f"at most {MAX_WINDOWS} windows", "too_many")
                else:
                    try:
                        sym = normalize_symbol(msg.get("symbol"))
                    except ValueError as e:
                        reply = wire.error_reply(rid, str(e))
                    else:
                        self.add_task(self._open_window(open_window, sym), f"open-{sym}")  # reply at once
                        reply = {"v": wire.PROTOCOL_VERSION, "type": "ok", "id": rid}
            await self._server.send_multipart([ident, wire.pack(reply)])

    async def _open_window(self, open_window: Callable[[str], Awaitable[None]], symbol: str) -> None:
        log.info("a window asked for a new window on %s", symbol)
        try:
            await open_window(symbol)
        except (StartFailed, Stopping) as e:
            log.warning("no new window on %s: %s", symbol, e)

    # ---- reports to the feed
    def _open_control(self) -> None:
        # A plain (not asyncio) DEALER: sends are NOBLOCK and dropped when the feed is
        # away; replies are drained by the report loop. Nothing here can block the loop.
        import zmq

        s = zmq.Context.instance().socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.IMMEDIATE, 1)  # never queue reports for a feed that isn't there
        s.setsockopt(zmq.SNDHWM, 4)
        s.setsockopt(zmq.RCVHWM, 16)
        from shared.zmq_client import apply_curve

        apply_curve(s, self.curve_dir)  # as every other client of a CURVE feed
        s.connect(self.feed_address)
        self._ctl = s

    def _send_command(self, body: dict) -> None:
        if self._ctl is None:
            return
        import zmq

        from shared.models import wire

        self._req_id += 1
        try:
            self._ctl.send(wire.pack({"type": "command", "id": f"sup-{self._req_id}", **body}), zmq.NOBLOCK)
        except zmq.Again:
            log.debug("feed not reachable: %s dropped", body.get("cmd"))
        except (zmq.ZMQError, wire.WireError) as e:
            log.debug("cannot send %s to the feed: %s", body.get("cmd"), e)

    def _drain_replies(self) -> None:
        """Read the feed's replies; log each distinct refusal once (e.g. an older feed)."""
        import zmq

        from shared.models import wire

        while self._ctl is not None:
            try:
                msg = wire.unpack(self._ctl.recv(zmq.NOBLOCK))
            except zmq.Again:
                return
            except wire.WireError as e:
                log.debug("bad reply from the feed: %s", e)
                continue
            if msg.get("type") == "error":
                text = str(msg.get("message"))
                if text not in self._seen_errors and len(self._seen_errors) < 50:
                    self._seen_errors.add(text)
                    log.info("the feed refused a supervisor command: %s", text)

    def notice(self, message: str) -> None:
        """Ask the feed to tell every window (it publishes an ``error`` on ``sys|``)."""
        self._send_command({"cmd": "notice", "message": message, "source": "supervisor"})

    def reports(self) -> list[dict]:
        me = {"name": "supervisor", "role": "supervisor", "pid": os.getpid(), "state": "running",
              "restarts": 0, "last_exit": "", "started_at": None, **sample(self._me())}
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

    async def _report_loop(self) -> None:
        while not self.stop_event.is_set():
            children = self.reports()
            now = self.clock()
            level = logging.INFO if now - self._last_info_log >= REPORT_LOG_EVERY else logging.DEBUG
            if level == logging.INFO:
                self._last_info_log = now
            log.log(level, "children: %s", format_report(children))
            self._drain_replies()
            self._send_command({"cmd": "supervisor_report", "supervisor_pid": os.getpid(),
                                "mode": self.mode, "children": children})
            if await self.sleep_or_stop(self.report_interval):
                return


# ---------------------------------------------------------------- plans: which children to start


def child_command(sub: str, *args: str) -> list[str]:
    """``python -m supervisor SUB ...``: the same interpreter and code as this process."""
    return [sys.executable, "-m", "supervisor", sub, *args]


def common_flags(args: argparse.Namespace) -> list[str]:
    """Flags every child re-reads (the key travels in the environment, never argv)."""
    out: list[str] = []
    if getattr(args, "config_file", None):
        out += ["--config", args.config_file]
    if getattr(args, "log_level", None):
        out += ["--log-level", args.log_level]
    return out


def sim_spec(settings: Settings, args: argparse.Namespace, port: int) -> ChildSpec:
    argv = child_command("sim", "--port", str(port), "--seed", str(settings.sim_seed), *common_flags(args))
    return ChildSpec("sim", "sim", argv, Restart.ALWAYS, ready_prefix="LISTENING ")


def feed_spec(settings: Settings, args: argparse.Namespace, upstream: str, protocol: str,
              env: dict | None = None) -> ChildSpec:
    argv = child_command("feed", "--feed", settings.feed, "--upstream", upstream, *common_flags(args))
    if protocol:
        argv += ["--protocol", protocol]
    return ChildSpec("feed", "feed", argv, Restart.ALWAYS, ready_prefix="LISTENING ", env=env or {})


def ui_spec(settings: Settings, args: argparse.Namespace, symbol: str | None, index: int) -> ChildSpec:
    argv = child_command("ui", "--feed", settings.feed, *common_flags(args))
    if symbol:
        argv += ["--symbol", symbol]
    name = f"ui-{symbol}" if symbol else "ui"
    return ChildSpec(name if index == 0 else f"{name}-{index + 1}", "ui", argv, Restart.ON_CRASH)


def sim_upstream(port: int) -> tuple[str, str]:
    """The feed's upstream on our simulator: its Polygon-protocol path."""
    return f"ws://127.0.0.1:{port}/stocks", "polygon"


def desktop_symbols(settings: Settings) -> list[str | None]:
    """``--symbols`` (or env/config) when given; else one window with no ``--symbol``:
    the window then reopens the last symbol from its own store (QSettings), so the
    supervisor never reads Qt's files and there is one place that remembers it."""
    if settings.sources.get("symbols"):
        return list(dict.fromkeys(settings.symbols))  # keep order, drop duplicates
    return [None]


def check_upstream(settings: Settings) -> None:
    from shared.cli import UserError

    if settings.upstream in ("polygon", "delayed") and not settings.api_key:
        raise UserError(f"--upstream {settings.upstream} needs an API key: set POLYGON_API_KEY "
                        "(or MASSIVE_API_KEY, or api_key in the config file)")


def probe(settings: Settings) -> FeedInfo | None:
    """A running feed at the address (attach), None (free), or a UserError."""
    from shared.cli import UserError
    from shared.feed_probe import NotAFeed, probe_feed

    try:
        return probe_feed(settings.feed, curve_dir=settings.curve_dir)
    except NotAFeed as e:
        raise UserError(f"{e}; choose another address with --feed tcp://127.0.0.1:PORT") from None


async def _start_backend(sup: Supervisor, settings: Settings, args: argparse.Namespace,
                         daemon: bool = False) -> bool:
    """Start the simulator (if upstream is sim) and the feed. Returns False if another
    feed won the address meanwhile: then we use that one and stop what we started.
    On a failure everything this call started is stopped again."""
    before = set(map(id, sup.runners))
    feed_env: dict[str, str] = {}
    try:
        if settings.upstream == "sim":
            sim = sim_spec(settings, args, settings.sim_port)
            r = await sup.start(sim)
            m = SIM_PORT_RE.match(r.ready_line or "")
            if not m:
                raise StartFailed(f"the simulator's ready line is not understood: {r.ready_line!r}")
            port = int(m.group(1))
            # Pin the port: a restarted simulator must come back where the feed looks for it.
            sim.argv = sim_spec(settings, args, port).argv
            upstream, protocol = sim_upstream(port)
            # The simulator accepts any key: never send the user's real one to it.
            feed_env = {"POLYGON_API_KEY": "simulator", "MASSIVE_API_KEY": ""}
        else:
            upstream, protocol = settings.upstream, settings.protocol
        feed = feed_spec(settings, args, upstream, protocol, feed_env)
        if daemon:  # the daemon retries the upstream forever: it serves remote windows for weeks
            feed.argv += ["--max-reconnect-attempts", "0"]
        try:
            await sup.start(feed)
        except StartFailed:
            info = await asyncio.to_thread(_probe_quietly, settings)
            if info is None:
                raise
            log.info("another feed (pid %s) took %s meanwhile: using it", info.pid, settings.feed)
            await sup.discard([r for r in sup.runners if id(r) not in before])
            return False
    except StartFailed:
        await sup.discard([r for r in sup.runners if id(r) not in before])
        raise
    return True


def _probe_quietly(settings: Settings):
    try:
        return probe(settings)
    except Exception:
        return None


async def _take_over_when_gone(sup: Supervisor, settings: Settings, args: argparse.Namespace) -> None:
    """Attached to another desktop's feed: when that feed is gone for good (its desktop
    was closed), start one on the same address, so this desktop's windows recover."""
    from shared.feed_probe import NotAFeed, probe_feed

    misses = 0
    while not await sup.sleep_or_stop(1.0):
        try:
            info = await asyncio.to_thread(probe_feed, settings.feed, 1.0, settings.curve_dir)
        except NotAFeed:
            info = True  # something holds the address (a feed starting up?): wait
        misses = misses + 1 if info is None else 0
        if misses < 2:
            continue
        log.warning("the feed at %s is gone: starting one for this desktop's windows", settings.feed)
        try:
            if await _start_backend(sup, settings, args):
                return
        except (StartFailed, Stopping) as e:
            if sup.stop_event.is_set():
                return
            log.warning("%s; waiting for a feed again", e)
        misses = 0


async def _desktop(args: argparse.Namespace, settings: Settings, symbols: list[str | None], attached: bool,
                   ui_factory: Callable[..., ChildSpec]) -> int:
    sup = Supervisor(settings.feed, mode="desktop", curve_dir=settings.curve_dir)
    sup.child_env.update(security_env(settings))
    sup.install_signal_handlers()
    opened: list[str | None] = []

    async def open_window(symbol: str | None) -> None:
        index = opened.count(symbol)  # ui-AAPL, ui-AAPL-2, ...: names stay unique
        opened.append(symbol)
        await sup.start(ui_factory(settings, args, symbol, index))

    sup.serve_windows(open_window)
    try:
        if not attached:
            attached = not await _start_backend(sup, settings, args)
        if attached:
            sup.add_task(_take_over_when_gone(sup, settings, args), "take-over")
        for sym in symbols:
            await open_window(sym)
    except Stopping:
        await sup.shutdown()
        return 0
    except StartFailed as e:
        await sup.shutdown()
        from shared.cli import UserError

        raise UserError(str(e)) from None
    return await sup.run()


async def _daemon(args: argparse.Namespace, settings: Settings) -> int:
    sup = Supervisor(settings.feed, mode="daemon", curve_dir=settings.curve_dir)
    sup.child_env.update(security_env(settings))
    sup.install_signal_handlers()
    try:
        if not await _start_backend(sup, settings, args, daemon=True):
            from shared.cli import UserError

            raise UserError(f"a feed already runs at {settings.feed}; not starting a second one")
    except Stopping:
        await sup.shutdown()
        return 0
    except StartFailed as e:
        await sup.shutdown()
        from shared.cli import UserError

        raise UserError(str(e)) from None
    log.info("daemon running: feed %s (SIGTERM or Ctrl-C to stop)", settings.feed)
    return await sup.run()


def run_desktop(args: argparse.Namespace, settings: Settings, *,
                ui_factory: Callable[..., ChildSpec] = ui_spec) -> int:
    """``live-monitor``: simulator (when upstream is sim) + feed + one window per symbol.
    ``ui_factory(settings, args, symbol, index) -> ChildSpec`` makes a window's spec."""
    check_upstream(settings)
    symbols = desktop_symbols(settings)
    attach = probe(settings)
    if attach is not None:
        log.info("a feed already runs at %s (pid %s, epoch %s): opening %s on it", settings.feed, attach.pid,
                 attach.epoch, ", ".join(s or "the last symbol" for s in symbols))
    return asyncio.run(_desktop(args, settings, symbols, attach is not None, ui_factory))


def run_daemon(args: argparse.Namespace, settings: Settings) -> int:
    """``live-monitor daemon``: simulator (when upstream is sim) + feed, no windows, no Qt."""
    from shared.cli import UserError

    check_upstream(settings)
    info = probe(settings)
    if info is not None:
        raise UserError(f"a feed already runs at {settings.feed} (pid {info.pid}); not starting a second one")
    return asyncio.run(_daemon(args, settings))


if __name__ == "__main__":
    main()
