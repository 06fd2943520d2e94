#!/usr/bin/env python3
"""A complete Live Monitor feed subscriber in one file: pyzmq + msgpack, nothing else.

It follows docs/PROTOCOL.md (the zguide "Clone" pattern):

1. ``hello`` on the feed's one address (DEALER -> ROUTER) gives the data endpoint.
2. SUB to ``md|SYM|`` and ``sys|``, buffering what arrives.
3. ``snapshot`` for SYM: bars, last trade/quote, day stats and the ``seq`` it includes.
4. Apply buffered batches with ``seq > snapshot.seq``, then live ones; on a gap,
   a new epoch or a ``resync``, go back to 3.

Run it against a feed (``live-monitor daemon`` starts one)::

    python examples/subscriber.py AAPL --feed tcp://127.0.0.1:8201 --count 20

Each event prints as one JSON line: the seed's TradeData / QuoteData /
AggregateData dict. Gaps, resyncs and upstream state changes go to stderr.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time

import msgpack
import zmq

try:  # in the repository: the project's one ticker rule (``BACpL`` stays ``BACpL``, ``aapl`` -> ``AAPL``)
    from shared.models.market_data import normalize_symbol
except ImportError:  # copied on its own: only the lower-case convenience; the feed refuses a bad ticker
    def normalize_symbol(symbol: str) -> str:
        s = symbol.strip()
        return s.upper() if s == s.lower() else s

EVENT_KEYS = {
    "T": ("trade", ("timestamp", "price", "size", "exchange_id", "conditions", "trade_id")),
    "Q": ("quote", ("timestamp", "bid_price", "bid_size", "ask_price", "ask_size", "bid_exchange_id",
                    "ask_exchange_id")),
    "AM": ("aggregate", ("timestamp", "open", "high", "low", "close", "volume", "vwap", "transactions")),
}


def to_dict(symbol: str, a: list) -> dict:
    """A wire event array -> a plain dict (exchange ids kept as ids here, to stay dependency-free)."""
    kind, keys = EVENT_KEYS[a[0]]
    return {"event_type": kind, "symbol": symbol, **dict(zip(keys, a[1:]))}


def pack(msg: dict) -> bytes:
    return msgpack.packb({"v": 1, **msg}, use_bin_type=True)


def unpack(data: bytes) -> dict:
    return msgpack.unpackb(data, raw=False, strict_map_key=True, max_bin_len=1 << 24, max_str_len=1 << 24)


class Subscriber:
    """One symbol, kept consistent with the feed: ``snapshot`` + ``events`` (seq-ordered, no gap, no dup)."""

    def __init__(self, feed: str, symbol: str, timeout: float = 3.0, ctx: zmq.Context | None = None,
                 rcvhwm: int | None = None):
        self.symbol = symbol
        self.timeout = timeout
        self.ctx = ctx or zmq.Context.instance()
        self._ids = itertools.count(1)
        self.ctl = self.ctx.socket(zmq.DEALER)
        self.ctl.setsockopt(zmq.LINGER, 0)
        self.ctl.connect(feed)
        hello = self.request({"type": "hello", "client": "example"})
        self.epoch = hello["epoch"]
        self.sub = self.ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        if rcvhwm is not None:
            self.sub.setsockopt(zmq.RCVHWM, rcvhwm)  # a small one makes a slow reader lose messages sooner
        self.sub.connect(hello["data"])
        self.topic = f"md|{symbol}|".encode()
        # Order matters: the feed handles our subscriptions in order, so once a sys| message
        # reaches us, md|SYM| is active too and a snapshot taken now misses nothing.
        self.sub.setsockopt(zmq.SUBSCRIBE, self.topic)
        self.sub.setsockopt(zmq.SUBSCRIBE, b"sys|")
        self._held: list[list[bytes]] = []  # messages read while waiting for that first sys| message
        self.snapshot: dict | None = None
        self.last = 0            # last applied seq
        self.events: list[list] = []   # applied event arrays since the last snapshot
        self.snapshots = 0
        self.gaps = 0
        self.upstream: dict = hello.get("upstream") or {}
        self.on_event = None     # optional callback(seq, array)

    def request(self, msg: dict) -> dict:
        rid = next(self._ids)
        self.ctl.send(pack({**msg, "id": rid}))
        if not self.ctl.poll(int(self.timeout * 1000)):
            raise TimeoutError("the feed does not answer")
        while True:
            reply = unpack(self.ctl.recv())
            if reply.get("id") == rid:
                if reply["type"] == "error":
                    raise RuntimeError(reply.get("message"))
                return reply

    def wait_subscribed(self, timeout: float = 3.0) -> bool:
        """Wait for the first sys| message (heartbeats come every second): our subscriptions are live."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.sub.poll(50):
                frames = self.sub.recv_multipart()
                self._held.append(frames)
                if frames[0] == b"sys|":
                    return True
        return False

    def resnapshot(self) -> None:
        if self.snapshots == 0:
            self.wait_subscribed()
        snap = self.request({"type": "snapshot", "symbol": self.symbol})
        self.snapshot, self.epoch, self.last = snap, snap["epoch"], snap["seq"]
        self.events = []
        self.snapshots += 1

    def poll(self, timeout_ms: int = 100) -> int:
        """Receive and apply what is there; returns the number of new events."""
        if self.snapshot is None:
            self.resnapshot()  # subscribed already: buffered batches wait in the socket
        n = 0
        if not self._held and not self.sub.poll(timeout_ms):
            return 0
        while True:
            if self._held:
                topic, payload = self._held.pop(0)
            else:
                try:
                    topic, payload = self.sub.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    return n
            msg = unpack(payload)
            t = msg.get("type")
            if t in ("heartbeat", "status"):
                self.upstream = msg.get("upstream") or self.upstream
                if msg.get("epoch") != self.epoch:
                    self.resnapshot()  # the feed restarted
                continue
            if topic != self.topic:
                continue
            if t == "resync":
                self.resnapshot()
                continue
            if t != "batch":
                continue
            seq, evs = msg["seq"], msg["ev"]
            if msg["epoch"] != self.epoch or seq > self.last + 1:
                self.gaps += 1
                self.resnapshot()
                if msg["epoch"] != self.epoch or seq > self.last + 1:
                    continue  # the snapshot already holds these (or they come next)
            for i, a in enumerate(evs):
                s = seq + i
                if s <= self.last:
                    continue  # already in the snapshot
                self.last = s
                self.events.append(a)
                if self.on_event:
                    self.on_event(s, a)
                n += 1

    def close(self) -> None:
        self.sub.close(0)
        self.ctl.close(0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("symbol")
    p.add_argument("--feed", default="tcp://127.0.0.1:8201")
    p.add_argument("--count", type=int, default=0, help="stop after N events (0 = run until Ctrl-C)")
    p.add_argument("--timeout", type=float, default=10.0, help="give up after S seconds without events")
    a = p.parse_args(argv)
    try:
        symbol = normalize_symbol(a.symbol)
    except ValueError as e:
        p.error(str(e))
    try:
        s = Subscriber(a.feed, symbol)
        s.resnapshot()
    except TimeoutError:
        print(f"no feed answering at {a.feed}", file=sys.stderr)
        return 1
    snap = s.snapshot or {}
    print(f"# snapshot seq={snap.get('seq')} bars={len(snap.get('bars') or [])} "
          f"source={snap.get('source')} backfill={(snap.get('backfill') or {}).get('state')}", file=sys.stderr)
    s.on_event = lambda seq, ev: print(json.dumps(to_dict(s.symbol, ev)), flush=True)
    seen, idle_since = 0, time.monotonic()
    try:
        while not a.count or seen < a.count:
            got = s.poll(200)
            seen += got
            if got:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > a.timeout:
                print(f"# no events for {a.timeout:.0f}s (upstream {s.upstream.get('state')})", file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        pass
    finally:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
