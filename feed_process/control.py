"""Control requests (DEALER -> ROUTER): hello, snapshot, status, ping, command (supervisor_report, notice,
reconnect), alert, summary.

Why apart: it is the feed's whole request/reply surface in one place, and
none of it touches the hot path. One msgpack frame in, one out, echoing
``id``; anything a client sends that is not a valid request is answered with
an ``error`` reply and counted (``bad_request``), never raised. At most
``CONTROL_BUDGET`` requests are served per wake-up, then the loop yields
(a flood of requests must not starve the upstream).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import zmq

from shared.models import wire
from shared.models.market_data import valid_symbol

from .state import FeedSymbol

if TYPE_CHECKING:
    from .feed import Feed

log = logging.getLogger(__name__)

CONTROL_BUDGET = 200  # control requests served per wake-up before yielding


def drain(feed: "Feed") -> None:
    router = feed.sockets.router
    if router is None:
        return
    for _ in range(CONTROL_BUDGET):
        if router.closed or not router.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            return
        try:
            frames = router.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            return
        if len(frames) != 2:
            feed.counters["bad_request"] += 1
            continue
        ident, payload = frames
        try:
            reply = handle(feed, payload)
        except Exception as e:  # a bug in a handler: answer, count, keep serving
            feed.publisher.internal("control", e)
            reply = wire.error_reply(None, f"internal error: {type(e).__name__}", "internal")
        try:
            router.send_multipart([ident, wire.pack(reply)], zmq.NOBLOCK)
        except zmq.Again:
            feed.counters["dropped_replies"] += 1
        except wire.WireError as e:
            log.error("cannot encode a reply: %s", e)
    asyncio.get_running_loop().call_soon(drain, feed)  # budget spent: yield, then continue


def handle(feed: "Feed", payload: bytes) -> dict:
    try:
        req = wire.unpack(payload)
    except wire.WireError as e:
        feed.counters["bad_request"] += 1
        return wire.error_reply(None, str(e)[:200])
    rid = req.get("id")
    t = req["type"]
    if t == wire.HELLO:
        return {"type": wire.HELLO, "id": rid, "server": "live-monitor-feed", "protocol": wire.PROTOCOL_VERSION,
                "epoch": feed.epoch, "pid": feed.pid, "data": feed.sockets.data_endpoint,
                "upstream": feed.upstream_info()}
    if t == wire.SNAPSHOT:
        return _snapshot(feed, req, rid)
    if t == wire.STATUS:
        return feed.status(rid)
    if t == "ping":
        return {"type": "pong", "id": rid}
    if t == "command":
        return _command(feed, req, rid)
    if t == wire.ALERT:
        return feed.alerts.handle(req, rid)
    if t == wire.SUMMARY:
        syms = req.get("symbols")
        syms = [s for s in syms if valid_symbol(s)][:500] if isinstance(syms, list) else []
        return {"type": wire.SUMMARY, "id": rid, "summaries": {s: feed.summaries.current(s) for s in syms}}
    feed.counters["bad_request"] += 1
    return wire.error_reply(rid, f"unknown request type {t[:24]!r}", "unknown_type")


def _snapshot(feed: "Feed", req: dict, rid: Any) -> dict:
    sym = req.get("symbol")
    if not valid_symbol(sym):
        feed.counters["bad_request"] += 1
        return wire.error_reply(rid, f"bad symbol {str(sym)[:16]!r}", "bad_symbol")
    feed.counters["snapshots"] += 1
    st = feed.states.get(sym)
    if st is None:
        # Not (yet) subscribed upstream: an empty snapshot at the current seq; the
        # subscription that follows starts backfill and a resync asks for a new one.
        st = FeedSymbol(sym, feed.settings.max_bars, feed.seq_base.get(sym, 0))
    up = feed.upstream_info()
    return {"type": wire.SNAPSHOT, "id": rid, "epoch": feed.epoch, **st.snapshot(), "source": up["source"],
            "upstream": up}


def _command(feed: "Feed", req: dict, rid: Any) -> dict:
    cmd = req.get("cmd")
    if cmd == "supervisor_report":
        children = req.get("children")
        if not isinstance(children, list):
            return wire.error_reply(rid, "supervisor_report needs a 'children' list")
        feed.supervisor = {"children": children, "ts": feed.wall_ms()}
        return {"type": "ok", "id": rid}
    if cmd == "notice":
        # The supervisor's word to every window (a child crashed, restarted ...).
        text = req.get("message")
        if not isinstance(text, str):
            return wire.error_reply(rid, "notice needs a 'message' text")
        feed.publisher.publish(wire.SYS_TOPIC, {"type": wire.ERROR, "kind": "notice", "message": text[:300],
                                                "count": 1, "source": str(req.get("source", ""))[:40]})
        return {"type": "ok", "id": rid}
    if cmd == "reconnect":
        # A window's Reconnect (Ctrl+R): a whole attempt budget; an attempt now when the upstream gave up
        # or waits for its next try. "started" says whether anything changed (an open link is left alone).
        started = feed.client.reconnect()
        return {"type": "ok", "id": rid, "started": started, "state": feed.client.state}
    return wire.error_reply(rid, f"unknown command {str(cmd)[:24]!r}", "unknown_command")
