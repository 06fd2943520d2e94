"""``live-monitor`` (desktop) and ``live-monitor daemon``: the plan of each, start to end.

Why it looks like this
----------------------
* **Probe first, start second.** A ``hello`` on the feed address
  (``shared.feed_probe``) tells three cases apart before anything starts: a feed
  answers (a desktop attaches - if it serves what was asked, see
  ``shared.feed_probe.upstream_mismatch``; a daemon refuses), something else holds
  the port (one line, exit 1), or the address is free (start sim + feed).
* **Never silently another source.** A launch whose upstream / protocol / replay
  differs from the running feed's refuses with one line naming what runs there
  and how to run both side by side (``--feed`` with another address), exit 2.
* **Races between desks are expected**: if our feed cannot bind because another
  desktop won the address meanwhile, we use that feed (when it matches) and stop
  what we started; an attached desktop takes the address over when the other
  desk's feed is gone for good.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
from typing import TYPE_CHECKING, Awaitable, Callable

from shared.cli import UserError
from shared.config import Settings
from shared.procs import ChildSpec

from .core import Supervisor
from .plans import (
    check_settings,
    desktop_symbols,
    feed_spec,
    parse_sim_ready,
    security_env,
    settings_env,
    sim_feed_spec,
    sim_spec,
    ui_spec,
)
from .runner import StartFailed, Stopping

if TYPE_CHECKING:
    from shared.feed_probe import FeedInfo

log = logging.getLogger("supervisor")


def probe(settings: Settings) -> FeedInfo | None:
    """A running feed at the address (attach), None (free), or a UserError."""
    from shared.feed_probe import NotAFeed, probe_feed

    try:
        return probe_feed(settings.feed, curve_dir=settings.curve_dir)
    except NotAFeed as e:
        raise UserError(f"{e}; choose another address with --feed tcp://127.0.0.1:PORT") from None


def refuse_mismatch(info: FeedInfo, settings: Settings) -> None:
    from shared.feed_probe import upstream_mismatch

    why = upstream_mismatch(info, settings)
    if why:
        raise UserError(why, 2)


def _probe_quietly(settings: Settings) -> FeedInfo | None:
    try:
        return probe(settings)
    except Exception:
        return None


def _label(settings: Settings) -> str:
    if settings.upstream != "sim":
        return settings.upstream
    return f"REPLAY of {settings.sim_replay}" if settings.sim_replay else "simulator"


def bind_sim_port(port: int) -> socket.socket | None:
    """The simulator's listening socket, bound here (loopback) and handed down (``--listen-fd``), so
    the feed starts beside the simulator instead of after its ``LISTENING`` line. None when the port
    cannot be bound: the simulator then binds it itself and says why it cannot, as before."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(128)
    except OSError:
        s.close()
        return None
    return s


def _sim_ready(r) -> tuple[int, int | None]:
    try:
        return parse_sim_ready(r.ready_line or "")
    except ValueError as e:
        raise StartFailed(str(e)) from None


async def start_backend(sup: Supervisor, settings: Settings, args: argparse.Namespace,
                        daemon: bool = False, warm: list[str] | tuple[str, ...] = ()) -> bool:
    """Start the simulator (if upstream is sim) and the feed, both at once when the simulator's port
    could be bound here. Returns False if another feed won the address meanwhile: then we use that
    one and stop what we started. On a failure everything this call started is stopped again.
    ``warm``: the desktop's chart symbols, which the simulator catches up before the feed asks."""
    before = set(map(id, sup.runners))
    listener = bind_sim_port(settings.sim_port) if settings.upstream == "sim" else None
    sim_started: asyncio.Future | None = None
    try:
        if settings.upstream == "sim":
            if listener is None:  # the simulator binds (and reports a taken port) itself; the feed waits
                sim = sim_spec(settings, args, settings.sim_port, warm=warm)
                port, seed = _sim_ready(await sup.start(sim))
            else:
                port, fd = listener.getsockname()[1], listener.fileno()
                sim = sim_spec(settings, args, port, listen_fd=fd, warm=warm)
                sim_started = asyncio.ensure_future(sup.start(sim))
            feed = sim_feed_spec(settings, args, port)
            if settings.sim_replay:
                log.info("REPLAY: the simulator plays %s", settings.sim_replay)
        else:
            feed = feed_spec(settings, args, settings.upstream, settings.protocol)
        if daemon:  # the daemon retries the upstream forever: it serves remote windows for weeks
            feed.argv += ["--max-reconnect-attempts", "0"]
        feed_started = asyncio.ensure_future(sup.start(feed))  # beside the simulator: its socket queues the feed
        try:
            if sim_started is not None:
                port, seed = _sim_ready(await sim_started)
            if settings.upstream == "sim":
                # Pin port and seed: a restarted simulator comes back where the feed looks, with the same tape.
                fd = listener.fileno() if listener is not None else None
                sim.argv = sim_spec(settings, args, port, seed, listen_fd=fd, warm=warm).argv
        except BaseException:
            feed_started.cancel()
            await asyncio.gather(feed_started, return_exceptions=True)
            raise
        try:
            await feed_started
        except StartFailed:
            info = await asyncio.to_thread(_probe_quietly, settings)
            if info is None:
                raise
            await sup.discard([r for r in sup.runners if id(r) not in before])
            refuse_mismatch(info, settings)
            log.info("another feed (pid %s) took %s meanwhile: using it", info.pid, settings.feed)
            if listener is not None:
                listener.close()
            return False
    except BaseException as e:
        if sim_started is not None and not sim_started.done():
            sim_started.cancel()
            await asyncio.gather(sim_started, return_exceptions=True)
        if listener is not None:
            listener.close()
        if isinstance(e, (StartFailed, UserError)):
            await sup.discard([r for r in sup.runners if id(r) not in before])
        raise
    if listener is not None:
        sup.keep_open(listener)  # for the simulator's restarts, closed when the supervisor stops
    return True


async def take_over_when_gone(sup: Supervisor, settings: Settings, args: argparse.Namespace) -> None:
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
            if await start_backend(sup, settings, args):
                return
        except (StartFailed, Stopping, UserError) as e:
            if sup.stop_event.is_set():
                return
            log.warning("%s; waiting for a feed again", e)
        misses = 0


async def _started(sup: Supervisor, start: Awaitable[None]) -> bool:
    """Run a command's start-up. False: a stop (SIGTERM, Ctrl-C) came first and everything started is
    stopped again. A start that failed stops everything too and ends as one UserError line."""
    try:
        await start
    except Stopping:
        await sup.shutdown()
        return False
    except (StartFailed, UserError) as e:
        await sup.shutdown()
        raise e if isinstance(e, UserError) else UserError(str(e)) from None
    return True


async def _desktop(args: argparse.Namespace, settings: Settings, symbols: list[str | None], attached: bool,
                   ui_factory: Callable[..., ChildSpec]) -> int:
    sup = Supervisor(settings.feed, mode="desktop", curve_dir=settings.curve_dir)
    sup.child_env.update(security_env(settings))
    sup.child_env.update(settings_env(settings))
    sup.install_signal_handlers()
    opened: list[str | None] = []

    def spec_for(symbol: str | None) -> ChildSpec:
        index = opened.count(symbol)  # ui-AAPL, ui-AAPL-2, ...: names stay unique
        opened.append(symbol)
        return ui_factory(settings, args, symbol, index)

    async def open_window(symbol: str | None) -> None:
        await sup.start(spec_for(symbol))

    # a spare window (supervisor.core): only for the real window, whose ``--spare`` waits for a symbol
    spare = (lambda: ui_factory(settings, args, None, 0)) if ui_factory is ui_spec else None
    sup.serve_windows(open_window, spec_for, spare)

    async def start() -> None:
        # The windows start beside the simulator and feed, not after them: a window's interpreter,
        # Qt and widgets take about as long as both, and its feed link says hello until the feed
        # answers (time to first chart, bench/startup.py). A failed start stops them with the rest.
        windows = [asyncio.ensure_future(open_window(sym)) for sym in symbols]
        try:
            # the simulator warms the charts' symbols; without --symbols the window opens its last one
            # (only it knows which) or the first configured: warm that guess (a watched symbol anyway)
            warm = [s for s in symbols if s] or list(settings.symbols[:1])
            on_other_feed = attached or not await start_backend(sup, settings, args, warm=warm)
            feed = next((r for r in reversed(sup.runners) if r.spec.role == "feed"), None)
            if not on_other_feed and feed is not None:
                sup.prefetch(feed.ready_line or "", symbols, settings.curve_dir)  # backfill while windows start
        finally:
            await asyncio.gather(*windows, return_exceptions=True)
        for w in windows:
            w.result()  # a window that could not start is the start's failure, as before
        if on_other_feed:
            sup.add_task(take_over_when_gone(sup, settings, args), "take-over")

    if not await _started(sup, start()):
        return 0
    return await sup.run()


async def _daemon(args: argparse.Namespace, settings: Settings) -> int:
    sup = Supervisor(settings.feed, mode="daemon", curve_dir=settings.curve_dir)
    sup.child_env.update(security_env(settings))
    sup.child_env.update(settings_env(settings))
    sup.install_signal_handlers()

    async def start() -> None:
        if not await start_backend(sup, settings, args, daemon=True):
            raise UserError(f"a feed already runs at {settings.feed}; not starting a second one")

    if not await _started(sup, start()):
        return 0
    log.info("daemon running: feed %s on %s (SIGTERM or Ctrl-C to stop)", settings.feed, _label(settings))
    from .alert_hook import AlertHook  # logs fired alerts, runs alert_command (never in the feed's loop)

    sup.add_task(AlertHook(settings.feed, settings.alert_command, settings.alert_command_timeout,
                           settings.curve_dir).run(), "alert-hook")
    return await sup.run()


def run_desktop(args: argparse.Namespace, settings: Settings, *,
                ui_factory: Callable[..., ChildSpec] = ui_spec) -> int:
    """``live-monitor``: simulator (when upstream is sim) + feed + one window per symbol.
    ``ui_factory(settings, args, symbol, index) -> ChildSpec`` makes a window's spec."""
    check_settings(settings)
    symbols = desktop_symbols(settings)
    attach = probe(settings)
    if attach is not None:
        refuse_mismatch(attach, settings)
        log.info("a feed already runs at %s (pid %s, epoch %s): opening %s on it", settings.feed, attach.pid,
                 attach.epoch, ", ".join(s or "the last symbol" for s in symbols))
    return asyncio.run(_desktop(args, settings, symbols, attach is not None, ui_factory))


def run_daemon(args: argparse.Namespace, settings: Settings) -> int:
    """``live-monitor daemon``: simulator (when upstream is sim) + feed, no windows, no Qt."""
    check_settings(settings)
    info = probe(settings)
    if info is not None:
        refuse_mismatch(info, settings)
        raise UserError(f"a feed already runs at {settings.feed} (pid {info.pid}); not starting a second one")
    return asyncio.run(_daemon(args, settings))
