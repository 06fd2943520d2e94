"""``live-monitor sim`` as a process: flags -> config -> server, the LISTENING line, signals.

Why apart from :mod:`.server`: the process contract (exactly one
``LISTENING ws://HOST:PORT source=... [seed=N]`` line on stdout when ready, SIGTERM /
SIGINT -> exit 0, a bad flag, a taken port or a missing replay file -> one
stderr line and exit != 0) is about the process, not about serving. The
seed and the clock chosen for this launch are logged here, so a run can be
reproduced (``--seed N``; ``/sim/status`` shows both too).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from typing import Callable

from .config import SimConfig, config_from_args
from .server import SimServer

log = logging.getLogger("feed_process.sim.server")  # the name the logs have always used


async def serve(cfg: SimConfig, ready: Callable[[SimServer], None] | None = None) -> int:
    """Run until SIGTERM/SIGINT; ``ready`` is called once listening."""
    from shared.cli import UserError

    try:
        srv = SimServer(cfg)
    except ValueError as e:
        raise UserError(str(e)) from None
    try:
        await srv.start()
    except OSError as e:
        raise UserError(f"cannot listen on {cfg.host}:{cfg.port}: {e.strerror or e}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
    try:
        if ready:
            ready(srv)
        await stop.wait()
    finally:
        await srv.stop()
    log.info("simulator stopped")
    return 0


def describe(srv: SimServer) -> str:
    """One log line: what this launch plays (enough to reproduce it)."""
    cfg = srv.cfg
    if srv.replay is not None:
        return f"replay {cfg.replay or 'data'} at {'max' if cfg.max else f'{cfg.speed}x'}"
    how = "following the wall clock" if srv.session == "wall" else f"virtual session at {srv.clock.speed}x"
    return f"seed {srv.seed} (reproduce with --seed {srv.seed}), {how}"


def run_sim(args: argparse.Namespace, settings=None) -> int:
    """``live-monitor sim``: prints ``LISTENING ws://HOST:PORT source=... [seed=N]`` when ready."""
    cfg = config_from_args(args)
    if cfg.clock in ("wall", "real") and cfg.speed != 1.0:
        log.warning("--speed is ignored with --clock wall (the wall clock runs at 1x)")

    def ready(srv: SimServer) -> None:
        # seed=N (synthetic tapes): the supervisor restarts a crashed simulator with the same tape
        seed = f" seed={srv.seed}" if srv.seed is not None else ""
        print(f"LISTENING {srv.url} source={srv.source}{seed}", flush=True)
        log.info("simulator listening on %s (source=%s, %s)", srv.url, srv.source, describe(srv))

    return asyncio.run(serve(cfg, ready))
