"""Which feed a PolygonDataManager talks to, and the private feeds it starts (Qt-free).

Why it looks like this
----------------------
The seed's ``PolygonDataManager(server_url)`` took the *upstream* WebSocket URL.
Here the upstream is served by a feed process, so the URL is turned into a feed
address (:func:`plan`):

* ``tcp://`` / ``ipc://``: a feed address; used as is, nothing is started.
* ``ws://`` / ``wss://``: the upstream (relay, or Polygon with the key from the
  environment). If the configured feed (``settings.feed``) answers and serves
  exactly that upstream (``shared.feed_probe.upstream_mismatch``), attach to it;
  otherwise start a private feed for it on a free loopback port.
* ``None``: the configured feed; if nothing answers there, start it there (with
  a simulator when the configured upstream is ``sim``: ``live-monitor daemon``).

The :class:`Registry` is process-wide: one plan per (URL, configuration), so two
managers with the same URL in one application share one feed and therefore one
upstream connection. Planning probes the network, so it runs in a worker thread
and the manager polls the future (the GUI never waits). A private feed runs
``python -P -m ui_process.private_feed CMD ...`` (``-P``: the installed code, not
whatever sits in the current directory) with ``LIVE_MONITOR_PARENT_PID`` set, so
its parent watch (shared/parent_watch.py) ends it if this process dies; on a
normal quit (``QCoreApplication.aboutToQuit`` and ``atexit``) :meth:`Registry.stop_all`
stops it. A feed that was running before is never stopped by us. No
``PR_SET_PDEATHSIG``: it is tied to the forking *thread*, and the worker thread ends.
"""

from __future__ import annotations

import atexit
import concurrent.futures as cf
import logging
import os
import signal
import subprocess
import sys
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from shared.config import Settings
from shared.procs import PARENT_PID_ENV

log = logging.getLogger("live_monitor.data.polygon_data_manager")
STOP_WAIT_S = 5.0


@dataclass(frozen=True)
class Plan:
    action: str                # "attach" | "start" | "error"
    address: str = ""
    argv: tuple[str, ...] = ()  # sub-command + flags for the private feed ("start")
    message: str = ""


def is_feed_address(url: str) -> bool:
    return url.startswith(("tcp://", "ipc://"))


def is_upstream_url(url: str) -> bool:
    return url.startswith(("ws://", "wss://"))


def upstream_settings(url: str, settings: Settings) -> Settings:
    """The settings of a feed serving ``url`` (the protocol follows from the URL unless configured)."""
    return settings.replace(upstream=url)


def _free_loopback() -> str:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


def plan(server_url: str | None, settings: Settings, *, probe: Callable | None = None,
         free_address: Callable[[], str] = _free_loopback) -> Plan:
    """Decide where the feed for ``server_url`` is (blocking: it may probe ``settings.feed``)."""
    from shared.feed_probe import NotAFeed, probe_feed, upstream_mismatch

    probe = probe or (lambda addr: probe_feed(addr, 1.0, settings.curve_dir))
    if server_url is not None and is_feed_address(server_url):
        return Plan("attach", server_url)
    if server_url is not None and not is_upstream_url(server_url):
        return Plan("error", message=f"Feed address must look like tcp://HOST:PORT, or an upstream "
                                     f"ws://HOST/PATH (got {server_url!r})")
    try:
        info = probe(settings.feed)
    except NotAFeed as e:
        info, busy = None, str(e)
    else:
        busy = ""
    if server_url is None:
        if info is not None:
            return Plan("attach", settings.feed)
        if busy:
            return Plan("error", message=busy)
        cmd = "daemon" if settings.upstream == "sim" else "feed"
        argv = (cmd, "--feed", settings.feed, "--upstream", settings.upstream)
        return Plan("start", settings.feed, argv + (("--protocol", settings.protocol) if settings.protocol else ()))
    wanted = upstream_settings(server_url, settings)
    if info is not None:
        why = upstream_mismatch(info, wanted)
        if why is None:
            return Plan("attach", settings.feed)
        log.info("the feed at %s serves another upstream (%s): starting a private feed", settings.feed, why)
    argv = ("feed", "--feed", free_address(), "--upstream", server_url, "--protocol", wanted.upstream_protocol)
    return Plan("start", argv[2], argv)


@dataclass
class PrivateFeed:
    """A feed process this application started (and will stop)."""

    address: str
    argv: tuple[str, ...]
    proc: subprocess.Popen | None = None
    lines: deque = field(default_factory=lambda: deque(maxlen=30))
    stopping: bool = False

    def start(self) -> None:
        env = dict(os.environ)
        env[PARENT_PID_ENV] = str(os.getpid())  # the child's parent watch ends it with us
        env["PYTHONUNBUFFERED"] = "1"
        cmd = [sys.executable, "-P", "-m", "ui_process.private_feed", *self.argv]
        log.info("starting a private feed at %s: %s", self.address, " ".join(self.argv))
        # Own session: a Ctrl-C in the terminal reaches us, and we stop it in order (stop()).
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True, env=env)
        threading.Thread(target=self._pump, name=f"private-feed-{self.proc.pid}", daemon=True).start()

    def _pump(self) -> None:
        # Keep the pipe empty (a child never blocks on a full pipe); its log goes to ours at DEBUG.
        p = self.proc
        assert p is not None and p.stdout is not None
        for line in iter(p.stdout.readline, ""):
            line = line.rstrip("\n")
            self.lines.append(line)
            log.debug("private feed %s| %s", p.pid, line)
        rc = p.wait()
        if not self.stopping:
            log.warning("private feed at %s (pid %s) ended (exit %s): %s", self.address, p.pid, rc,
                        " | ".join(list(self.lines)[-3:]))

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            try:
                os.killpg(self.proc.pid, sig)  # its group: a daemon's simulator and feed too
            except (ProcessLookupError, PermissionError):
                pass


class Registry:
    """Process-wide: one plan (and at most one private feed) per (URL, configuration)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plans: dict[tuple, cf.Future] = {}
        self.feeds: list[PrivateFeed] = []
        self._pool = cf.ThreadPoolExecutor(max_workers=2, thread_name_prefix="feed-plan")
        self._hooked = False

    def resolve(self, server_url: str | None, settings: Settings) -> cf.Future:
        """A future of the feed address for ``server_url`` (a Plan with action attach/start/error)."""
        key = (server_url, settings.feed, settings.upstream, settings.protocol, settings.client_id)
        with self._lock:
            fut = self._plans.get(key)
            if fut is None or (fut.done() and not self._usable(fut.result())):
                fut = self._plans[key] = self._pool.submit(self._make, server_url, settings)
            return fut

    def _usable(self, p: Plan) -> bool:
        """A cached plan still holds: not an error, and a feed we started is still running."""
        if p.action == "error":
            return False
        return p.action != "start" or any(f.address == p.address and f.alive() for f in self.feeds)

    def _make(self, server_url: str | None, settings: Settings) -> Plan:
        try:
            p = plan(server_url, settings)
        except Exception as e:  # a probe that failed in an unexpected way: tell, don't die
            log.exception("could not plan the feed for %s", server_url)
            return Plan("error", message=f"Cannot find a feed for {server_url}: {e}")
        if p.action == "start":
            feed = PrivateFeed(p.address, p.argv)
            feed.start()
            with self._lock:
                self.feeds.append(feed)
        return p

    def install_quit_hooks(self) -> None:
        """Stop our feeds on QCoreApplication.aboutToQuit (if an app exists) and at exit. Main thread."""
        if self._hooked:
            return
        self._hooked = True
        atexit.register(self.stop_all)
        try:
            from PyQt6.QtCore import QCoreApplication

            app = QCoreApplication.instance()
            if app is not None:
                app.aboutToQuit.connect(self.stop_all)
        except ImportError:  # pragma: no cover - Qt is always there for the manager
            pass

    def stop_all(self) -> None:
        """SIGTERM every feed we started (in parallel), wait, SIGKILL the stragglers. Idempotent."""
        with self._lock:
            feeds = [f for f in self.feeds if not f.stopping]
            for f in feeds:
                f.stopping = True
            self._plans = {k: v for k, v in self._plans.items() if not (v.done() and v.result().action == "start")}
        for f in feeds:
            f.signal(signal.SIGTERM)
        for f in feeds:
            try:
                if f.proc is not None:
                    f.proc.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                f.signal(signal.SIGKILL)
                f.proc.wait(2)
            log.info("private feed at %s stopped", f.address)


REGISTRY = Registry()


def main(argv: list[str] | None = None) -> int:
    """``python -P -m ui_process.private_feed feed|daemon ...``: a watched feed (or daemon).

    ``shared.cli.main`` starts the parent watch for ``feed`` itself; the daemon (a supervisor)
    does not, so it is started here for it.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["daemon"]:
        from shared.parent_watch import start_parent_watch

        start_parent_watch()
    from shared.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
