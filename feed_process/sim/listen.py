"""Where the simulator listens, and what it prepares before anyone asks.

Why it looks like this
----------------------
* **An inherited socket** (``--listen-fd N``): the supervisor binds the simulator's
  port itself and hands the listening socket down, so it can start the feed at the
  same moment as the simulator: the feed's connection waits in the socket's backlog
  until the simulator accepts it, instead of the feed waiting for the simulator's
  ``LISTENING`` line (bench/startup.py: ~0.45 s of the first chart). A restarted
  simulator gets the same socket: its port never changes and nothing else can take
  it in between. Without the flag the simulator binds ``host:port`` itself.
* **Warm symbols** (``--warm AAPL,MSFT``): the desktop's chart symbols are caught up
  to the clock the moment the simulator listens (in the tape's worker thread, the
  first alone), so when the feed subscribes them and asks their history, the hours
  of tape before "now" are already generated. The tape does not depend on when it
  is generated (one random stream per symbol, :mod:`.market`): warm or not, the
  same seed gives the same events and bars.
"""

from __future__ import annotations

import os
import socket

from aiohttp import web

from .config import SimConfig
from .tapes import SyntheticTape


async def start_site(runner: web.AppRunner, cfg: SimConfig) -> int:
    """Start serving on the inherited socket or on ``host:port``; the port it serves."""
    if cfg.listen_fd is not None:
        # a duplicate: stopping closes ours, the inherited descriptor stays its owner's (a restart's)
        site: web.BaseSite = web.SockSite(runner, socket.socket(fileno=os.dup(cfg.listen_fd)))
    else:
        site = web.TCPSite(runner, cfg.host, cfg.port, reuse_address=True)
    await site.start()
    return site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


def warm(tape: SyntheticTape | None, symbols: list[str], now_ms: int) -> None:
    """Catch ``symbols`` up to ``now_ms`` in the background, in this order (no-op on a replay)."""
    if tape is None:
        return
    for sym in symbols:
        tape.warm(sym, now_ms)
