"""Is there a Live Monitor feed at this address? (the supervisor's attach test)

One ``hello`` over a throw-away DEALER with a short timeout tells three cases
apart, which the supervisor needs before it starts anything:

* a feed answers -> :class:`FeedInfo` (attach to it: no second feed, no second
  upstream connection);
* nothing listens -> ``None`` (start a feed there);
* something listens that is not a feed (a web server, another program on the
  port, a ZeroMQ socket that doesn't speak our protocol) -> :class:`NotAFeed`.

:func:`upstream_mismatch` then says whether an answering feed serves what the
settings ask for (the one rule for the supervisor's attach and for a window's
data manager), so a second launch never silently shows another source.

A plain TCP connect first tells "free" at once (connection refused) without
waiting out the hello timeout; ZeroMQ itself never reports a refused or failed
handshake to the application.
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import zmq

from .models import wire

if TYPE_CHECKING:
    from .config import Settings

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


def listener(address: str, timeout: float = 0.5) -> bool | None:
    """Does anything accept connections at ``address``? True: yes; False: refused - nothing listens
    (on loopback the kernel says so at once); None: cannot tell (a connect that timed out, an
    unreachable host, a transport without a listener test) - then only a request can tell."""
    hp = _tcp_host_port(address)
    if hp is not None:
        try:
            with socket.create_connection(hp, timeout=timeout):
                return True
        except ConnectionRefusedError:
            return False
        except OSError:
            return None
    if address.startswith("ipc://") and hasattr(socket, "AF_UNIX"):
        path = address[6:]
        path = "\0" + path[1:] if path.startswith("@") else path  # libzmq's abstract namespace
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            try:
                s.connect(path)
                return True
            except (FileNotFoundError, ConnectionRefusedError):
                return False
            except OSError:
                return None
    return None


class NothingListens(Exception):
    """Nothing accepts connections at the address: no feed there (raised by :func:`ask_feed`)."""


def ask_feed(address: str, msg: dict, timeout: float = 1.5, ctx: zmq.Context | None = None,
             curve_dir: str = "") -> dict | None:
    """:func:`request` for the command-line tools, which must tell "no feed" fast and right. Raises
    :class:`NothingListens` when a connect is refused (on loopback at once): no ZeroMQ peer can come
    up, so there is nothing to wait for - a DEALER alone would retry silently until the timeout.
    Otherwise the reply, or ``None`` when something listens but no reply came within ``timeout`` (a
    feed busy or starting up, a CURVE handshake that failed, another program)."""
    if listener(address, timeout) is False:
        raise NothingListens(address)
    return request(address, msg, timeout, ctx, curve_dir)


def request(address: str, msg: dict, timeout: float = 1.5, ctx: zmq.Context | None = None,
            curve_dir: str = "") -> dict | None:
    """Send one control request, return the reply (``None`` when none came within ``timeout``
    seconds in all, or a bad reply)."""
    from shared.zmq_client import apply_curve

    ctx = ctx or zmq.Context.instance()
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    apply_curve(s, curve_dir)  # a remote feed with CURVE keys answers only clients that have them
    s.setsockopt(zmq.IMMEDIATE, 1)  # don't queue the request for a peer that isn't there
    deadline = time.monotonic() + timeout

    def left_ms() -> int:
        return max(0, int((deadline - time.monotonic()) * 1000))

    try:
        s.connect(address)
        req_id = msg.setdefault("id", next(_ids))
        if not s.poll(left_ms(), zmq.POLLOUT):  # no ZeroMQ peer came up
            return None
        s.send(wire.pack(msg), zmq.NOBLOCK)
        while s.poll(left_ms(), zmq.POLLIN):
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


# ---------------------------------------------------------------- is it the feed that was asked for?

_SOURCE_OF_KIND = {"polygon": "live", "delayed": "delayed"}


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def _describe(up: dict) -> str:
    source = up.get("source") or "unknown"
    where = up.get("target") or up.get("url") or up.get("kind") or "?"
    proto = f", {up['protocol']} protocol" if up.get("protocol") else ""
    return f"{source} data from {where}{proto}"


def _asked(settings) -> str:
    if settings.upstream == "sim":
        return f"a replay of {settings.sim_replay}" if settings.sim_replay else "the simulator"
    proto = f" ({settings.protocol} protocol)" if settings.protocol else ""
    return f"--upstream {settings.upstream}{proto}"


def _side_by_side(address: str) -> str:
    hp = _tcp_host_port(address)
    if hp is None:
        return "--feed tcp://127.0.0.1:PORT"
    host, port = hp
    return f"--feed tcp://{host}:{port + 1 if port < 65535 else port - 1}"


def upstream_mismatch(info: FeedInfo, settings: Settings) -> str | None:
    """Why the feed in ``info`` does not serve what ``settings`` ask for, in one line
    (the running feed's source and how to run both side by side); ``None`` when it does.

    The one rule, for the supervisor (attach or refuse) and for a window's data
    manager: compare the hello's ``upstream`` fields - ``source`` (simulated | replay |
    live | delayed), ``target`` (the configured upstream before ``{client_id}``:
    "sim", "polygon", "delayed" or a URL template) and ``protocol`` - with the
    settings; ``url`` / ``kind`` stand in for ``target`` on feeds that don't send it.
    What the hello does not say is not held against the feed (an older feed is
    attached to rather than refused on a guess).
    """
    up = info.upstream if isinstance(info.upstream, dict) else {}
    source, target, kind = up.get("source"), up.get("target"), up.get("kind")
    bad = False
    if settings.upstream == "sim":
        # Our own simulator is on a private port, so its target is a URL: the source decides.
        want = "replay" if settings.sim_replay else "simulated"
        bad = bool(source) and source != want
    elif settings.upstream in _SOURCE_OF_KIND:
        urls = {"polygon": settings.upstream_url, "delayed": settings.upstream_url}
        if target:
            bad = target not in (settings.upstream, urls[settings.upstream])
        elif kind and kind != "url":
            bad = kind != settings.upstream
        elif up.get("url"):
            bad = not _same_url(str(up["url"]), settings.upstream_url)
        if not bad and source:
            bad = source != _SOURCE_OF_KIND[settings.upstream]
    else:  # relay or a URL: the configured URL (template) says it
        template = settings.server_url if settings.upstream == "relay" else settings.upstream
        if target:
            bad = not (_same_url(target, template) or (settings.upstream == "relay" and target == "relay"))
        elif up.get("url"):
            bad = not _same_url(str(up["url"]), settings.upstream_url)
    if not bad and settings.upstream != "sim" and up.get("protocol"):
        bad = up["protocol"] != settings.upstream_protocol
    if not bad:
        return None
    return (f"the feed at {info.address} (pid {info.pid}) serves {_describe(up)}, not {_asked(settings)}; "
            f"to run both side by side, give this one another address, e.g. {_side_by_side(info.address)}")
