"""A raw ZeroMQ subscriber for feed-process tests: every batch of some symbols, the sys| messages.

Why raw and not the Clone ``Subscriber``: these tests check exactly which events
the feed published, and nothing else - no snapshot folding. Events reach the
feed only after it subscribed upstream, which it does only once our SUB
subscription arrived, so a raw SUB misses nothing.
"""

from __future__ import annotations

import time

import zmq

from shared.models import wire


class Tap:
    def __init__(self, control: str, symbols: list[str], timeout: float = 5.0) -> None:
        self.ctx = zmq.Context.instance()
        self.ctl = self.ctx.socket(zmq.DEALER)
        self.ctl.setsockopt(zmq.LINGER, 0)
        self.ctl.connect(control)
        self.timeout = timeout
        hello = self.request(wire.hello_request(1, "test-tap"))
        self.sub = self.ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.connect(hello["data"])
        self.sub.setsockopt(zmq.SUBSCRIBE, b"sys|")
        for s in symbols:
            self.sub.setsockopt(zmq.SUBSCRIBE, wire.topic_for(s))
        self.events: dict[str, list[list]] = {s: [] for s in symbols}
        self.heartbeat: dict = {}
        self.errors: list[dict] = []  # sys| error messages (the feed's published input errors)

    def request(self, msg: dict) -> dict:
        self.ctl.send(wire.pack(msg))
        if not self.ctl.poll(int(self.timeout * 1000)):
            raise TimeoutError("the feed does not answer")
        return wire.unpack(self.ctl.recv())

    def status(self) -> dict:
        return self.request(wire.status_request(2))

    def pump(self, timeout_ms: int = 50) -> None:
        if not self.sub.poll(timeout_ms):
            return
        while True:
            try:
                topic, payload = self.sub.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            msg = wire.unpack(payload)  # raises on anything that is not valid protocol v1
            if msg["type"] == wire.BATCH:
                self.events.setdefault(msg["sym"], []).extend(msg["ev"])
            elif msg["type"] in (wire.HEARTBEAT, wire.STATUS):
                self.heartbeat = msg
            elif msg["type"] == wire.ERROR:
                self.errors.append(msg)

    def wait(self, cond, timeout: float = 30.0, what: str = "condition"):
        deadline = time.monotonic() + timeout
        while True:
            self.pump()
            v = cond()
            if v:
                return v
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; got {self.events}")

    def close(self) -> None:
        self.sub.close(0)
        self.ctl.close(0)
