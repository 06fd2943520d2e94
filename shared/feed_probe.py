"""Is there a Live Monitor feed at this address? (the supervisor's attach test)

One ``hello`` over a throw-away DEALER with a short timeout tells three cases
apart, which the supervisor needs before it starts anything:

* a feed answers -> :class:`FeedInfo` (attach to it: no second feed, no second
  upstream connection);
* nothing listens -> ``None`` (start a feed there);
* something listens that is not a feed (a web server, another program on the
  port, a ZeroMQ socket that doesn't speak our protocol) -> :class:`NotAFeed`.

A plain TCP connect first tells "free" at once (connection refused) without
waiting out the hello timeout; ZeroMQ itself never reports a refused or failed
handshake to the application.
"""

from __future__ import annotations

import itertools
import os
import socket
from dataclasses import dataclass

import zmq

from .models import wire

_ids = itertools.count(1)


class NotAFeed(Exception):
    """Something holds the address but does not answer ``hello`` like a feed."""


@dataclass(frozen=True)
class FeedInfo:
    address: str
    pid: int | None
    epoch: int | None
    data: str | None
    upstream: dict


def _tcp_host_port(address: str) -> tuple[str, int] | None:
    if not address.startswith("tcp://"):
        return None
    host, _, port = address[6:].rpartition(":")
    try:
        return host.strip("[]") or "127.0.0.1", int(port)
    except ValueError:
        return None


def port_in_use(address: str, timeout: float = 0.5) -> bool:
    """Does anything accept TCP connections at ``tcp://HOST:PORT``? (ipc: does the path exist?)"""
    hp = _tcp_host_port(address)
    if hp is None:
        return address.startswith("ipc://") and os.path.exists(address[6:])
    try:
        with socket.create_connection(hp, timeout=timeout):
            return True
    except OSError:
        return False


def request(address: str, msg: dict, timeout: float = 1.5, ctx: zmq.Context | None = None,
            curve_dir: str = "") -> dict | None:
    """Send one control request, return the reply (``None`` on timeout or a bad reply)."""
    from shared.zmq_client import apply_curve

    ctx = ctx or zmq.Context.instance()
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    apply_curve(s, curve_dir)  # a remote feed with CURVE keys answers only clients that have them
    s.setsockopt(zmq.IMMEDIATE, 1)  # don't queue the request for a peer that isn't there
    try:
        s.connect(address)
        req_id = msg.setdefault("id", next(_ids))
        deadline_ms = int(timeout * 1000)
        if not s.poll(deadline_ms, zmq.POLLOUT):  # no ZeroMQ peer came up
            return None
        s.send(wire.pack(msg), zmq.NOBLOCK)
        while s.poll(deadline_ms, zmq.POLLIN):
            try:
                reply = wire.unpack(s.recv())
            except wire.WireError:
                return None
            if reply.get("id") == req_id:
                return reply
        return None
    except zmq.ZMQError:
        return None
    finally:
        s.close(0)


def probe_feed(address: str, timeout: float = 1.5, curve_dir: str = "") -> FeedInfo | None:
    """``FeedInfo`` if a feed answers, ``None`` if the address is free; raises :class:`NotAFeed`."""
    if not port_in_use(address, timeout):  # refused at once: free, no need to wait for a hello
        return None
    reply = request(address, wire.hello_request(next(_ids), client="supervisor"), timeout, curve_dir=curve_dir)
    if reply is not None and reply.get("type") == wire.HELLO and reply.get("server") == "live-monitor-feed":
        return FeedInfo(address, reply.get("pid"), reply.get("epoch"), reply.get("data"),
                        reply.get("upstream") if isinstance(reply.get("upstream"), dict) else {})
    if reply is not None or port_in_use(address, timeout):
        raise NotAFeed(f"{address} is in use by something that is not a Live Monitor feed")
    return None


# provisional: sup owns this (shared.feed_probe.upstream_mismatch); a minimal version until it is merged.
def upstream_mismatch(info: FeedInfo, settings) -> str | None:
    """``None`` when the feed described by ``info`` serves the upstream ``settings`` asks for, else why not.

    Compares the protocol and the URL (the configured template when the feed reports ``target``,
    else its public URL with ``{client_id}`` filled in, credentials and query left out).
    """
    up = info.upstream or {}

    def public(url: str) -> str:
        scheme, _, rest = url.partition("//")
        host, slash, path = rest.partition("/")
        return f"{scheme}//{host.rsplit('@', 1)[-1]}{slash}{path}".split("?", 1)[0].rstrip("/")

    want_protocol = settings.upstream_protocol
    if up.get("protocol") and up.get("protocol") != want_protocol:
        return f"protocol {up.get('protocol')}, not {want_protocol}"
    target = up.get("target")
    if isinstance(target, str) and target.startswith(("ws://", "wss://")):
        if public(target) != public(settings.upstream):
            return f"upstream {public(target)}, not {public(settings.upstream)}"
        return None
    have = up.get("url")
    if not isinstance(have, str) or public(have) != public(settings.upstream_url):
        return f"upstream {have}, not {public(settings.upstream_url)}"
    return None
