"""``live-monitor feed``: run one feed in the foreground until SIGTERM/SIGINT.

Readiness is announced on stdout with exactly one line, flushed, once both
sockets are bound (the supervisor and tests wait for it)::

    LISTENING tcp://127.0.0.1:8201 data=tcp://127.0.0.1:PORT epoch=E pid=P

A stop signal unsubscribes upstream, sends the close frame, publishes a final
``stopped`` status and closes the sockets, well within 2 s; exit code 0.
Start-up problems (taken port, bad address, missing CURVE keys) are one line
and a non-zero exit via :class:`shared.cli.UserError`. A history store that
cannot be opened (``history_db``) is one warning; the feed serves without it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys

from shared import market_hours
from shared.cli import UserError
from shared.config import Settings
from shared.logsetup import register_secret

from .feed import SNDHWM, Feed, FeedError
from .store import StoreError, open_store

log = logging.getLogger(__name__)

STOP_BUDGET = 1.5  # seconds for a clean stop; the brief allows 2


def tune_gc() -> None:
    """The hot path allocates many small lists; collect rarely and never scan start-up objects again."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


async def serve(settings: Settings, args: argparse.Namespace | None = None,
                ready=lambda feed: None) -> int:
    opts = vars(args) if args is not None else {}
    try:
        store = open_store(settings.history_db)
    except StoreError as e:  # the feed serves without it; say why once
        log.warning("%s; history is not kept", e)
        store = None
    if store is not None:
        log.info("history store %s (%d days kept)", store.path, settings.history_days)
    feed = Feed(settings, backfill=opts.get("backfill", True), sndhwm=opts.get("sndhwm") or SNDHWM,
                auth_retry_delay=opts.get("auth_retry_delay") or 300.0,
                busy_retry_delay=opts.get("busy_retry_delay") or 60.0, store=store,
                store_flush_s=opts.get("store_flush") or 1.0)
    try:
        feed.bind()
    except FeedError as e:
        raise UserError(str(e)) from None
    market_hours.warm()  # before the loop serves: the watchdog and the first snapshot need it
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await feed.start()
    ready(feed)
    tune_gc()
    await stop.wait()
    log.info("stopping")
    try:
        await asyncio.wait_for(feed.stop(), STOP_BUDGET)
    except asyncio.TimeoutError:
        log.warning("clean stop took longer than %.1fs; closing anyway", STOP_BUDGET)
        feed._close_sockets()
    return 0


def run_feed(args: argparse.Namespace, settings: Settings) -> int:
    register_secret(settings.api_key.get())
    if settings.upstream_protocol == "polygon" and not settings.api_key:
        log.warning("no API key (POLYGON_API_KEY / MASSIVE_API_KEY): the upstream will refuse authentication")

    def ready(feed: Feed) -> None:
        print(f"LISTENING {feed.control_endpoint} data={feed.data_endpoint} epoch={feed.epoch} pid={feed.pid}",
              flush=True)
        log.info("feed ready: upstream %s (%s)", feed.client.public_url, feed.protocol)

    try:
        return asyncio.run(serve(settings, args, ready))
    except KeyboardInterrupt:  # a second Ctrl-C during the stop
        return 0
    finally:
        sys.stdout.flush()
