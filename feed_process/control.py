"""Control requests (DEALER -> ROUTER): hello, snapshot, status, ping, command (supervisor_report, notice,
reconnect), alert, summary.

Why apart: it is the feed's whole request/reply surface in one place, and
none of it touches the hot path. One msgpack frame in, one out, echoing
``id``; requests and replies are the structs of ``shared.models.messages``
(decoding checks every declared field). Anything a client sends that is not
a valid request is answered with an ``error`` reply and counted
(``bad_request``), never raised. At most
``CONTROL_BUDGET`` requests are served per wake-up, then the loop yields
(a flood of requests must not starve the upstream).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import zmq

from shared.models import messages as m
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


def handle(feed: "Feed", payload: bytes) -> Any:
    try:
        req = wire.decode_request(payload)  # the request structs check every declared field
    except wire.WireError as e:
        feed.counters["bad_request"] += 1
        return wire.error_reply(None, str(e)[:200])
    if isinstance(req, dict):  # a map: a type this feed does not declare
        rid = req.get("id")
        feed.counters["bad_request"] += 1
        return wire.error_reply(rid, f"unknown request type {req['type'][:24]!r}", "unknown_type")
    rid = req.id
    if isinstance(req, m.HelloReq):
        return m.HelloReply(v=1, id=rid, server="live-monitor-feed", protocol=wire.PROTOCOL_VERSION,
                            epoch=feed.epoch, pid=feed.pid, data=feed.sockets.data_endpoint,
                            upstream=feed.upstream_info())
    if isinstance(req, m.SnapshotReq):
        return _snapshot(feed, req.symbol, rid)
    if isinstance(req, m.StatusReq):
        return feed.status(rid)
    if isinstance(req, m.Ping):
        return m.Pong(v=1, id=rid)
    if isinstance(req, m.Command):
        return _command(feed, req, rid)
    if isinstance(req, m.AlertReq):
        return feed.alerts.handle(req, rid)  # the alert book checks the values (code bad_alert)
    syms = req.symbols  # SummaryReq
    syms = [s for s in syms if valid_symbol(s)][:500] if isinstance(syms, list) else []
    return m.SummaryReply(v=1, id=rid, summaries={s: feed.summaries.current(s) for s in syms})


def _snapshot(feed: "Feed", sym: Any, rid: Any) -> Any:
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
    return m.SnapshotReply(v=1, id=rid, epoch=feed.epoch, **st.snapshot(), source=up["source"], upstream=up)


def _command(feed: "Feed", req: m.Command, rid: Any) -> Any:
    cmd = req.cmd
    if cmd == "supervisor_report":
        children = req.children
        if not isinstance(children, list):
            return wire.error_reply(rid, "supervisor_report needs a 'children' list")
        feed.supervisor = {"children": children, "ts": feed.wall_ms()}
        return m.Ok(v=1, id=rid)
    if cmd == "notice":
        # The supervisor's word to every window (a child crashed, restarted ...).
        text = req.message
        if not isinstance(text, str):
            return wire.error_reply(rid, "notice needs a 'message' text")
        feed.publisher.publish(wire.SYS_TOPIC, wire.error_event("notice", text[:300], 1,
                                                                str(req.source if req.source is not None else "")[:40]))
        return m.Ok(v=1, id=rid)
    if cmd == "reconnect":
        # A window's Reconnect (Ctrl+R): a whole attempt budget; an attempt now when the upstream gave up
        # or waits for its next try. "started" says whether anything changed (an open link is left alone).
        started = feed.client.reconnect()
        return m.Ok(v=1, id=rid, started=started, state=feed.client.state)
    return wire.error_reply(rid, f"unknown command {str(cmd)[:24]!r}", "unknown_command")
