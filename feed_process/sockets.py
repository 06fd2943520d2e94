"""The feed's two ZeroMQ sockets: binding, CURVE, the subscriber count, closing.

Why apart from the rest of the feed: binding is where every start-up problem
the user must read in one line comes from (taken port, bad address, a
non-loopback bind without keys), and none of it has to do with market data.

* Control: ROUTER at ``settings.feed``; data: XPUB on an ephemeral port of the
  same host (``ipc://PATH`` -> ``ipc://PATH.data``), told to clients by ``hello``.
* Plain (sync) pyzmq sockets driven by the loop's ``add_reader``: ZMQ's FD is
  edge-triggered, so every reader drains while ``EVENTS & POLLIN``.
* Non-loopback binds need CURVE keys (``curve_dir/server.key_secret``,
  clients in ``curve_dir/authorized_clients/``) or ``--insecure``.
* Bounded input: a peer cannot make the feed allocate more than MAXMSGSIZE.
"""

from __future__ import annotations

import logging
from pathlib import Path

import zmq

from shared.config import Settings

log = logging.getLogger(__name__)

LOOPBACK = ("127.", "localhost", "[::1]", "::1")


class FeedError(Exception):
    """A start-up problem to show the user in one line (taken port, bad address, no CURVE keys)."""


def endpoint_host(endpoint: str) -> str:
    if endpoint.startswith("ipc://"):
        return "localhost"
    rest = endpoint.split("://", 1)[-1]
    return rest.rsplit(":", 1)[0]


def is_loopback(endpoint: str) -> bool:
    return endpoint_host(endpoint).startswith(LOOPBACK)


class FeedSockets:
    """ROUTER (control) + XPUB (data) + the XPUB's monitor socket (subscriber count)."""

    def __init__(self, settings: Settings, sndhwm: int) -> None:
        self.settings = settings
        self.sndhwm = sndhwm
        self.control_endpoint = settings.feed
        self.data_endpoint = ""
        self.ctx: zmq.Context | None = None
        self.router: zmq.Socket | None = None
        self.xpub: zmq.Socket | None = None
        self.monitor: zmq.Socket | None = None
        self.subscribers = 0
        self._auth = None

    def bind(self) -> None:
        """Bind both sockets (raises FeedError with a one-line reason)."""
        ctx = self.ctx = zmq.Context()
        try:
            secure = self._curve_setup()
        except FeedError:
            self.close()
            raise
        self.router = ctx.socket(zmq.ROUTER)
        self.xpub = ctx.socket(zmq.XPUB)
        for sock in (self.router, self.xpub):
            sock.setsockopt(zmq.LINGER, 0)
            if secure:
                sock.curve_secretkey, sock.curve_publickey = secure
                sock.curve_server = True
        self.xpub.setsockopt(zmq.SNDHWM, self.sndhwm)
        self.router.setsockopt(zmq.SNDHWM, 1000)
        self.router.setsockopt(zmq.RCVHWM, 1000)
        self.router.setsockopt(zmq.MAXMSGSIZE, 1 << 20)
        self.xpub.setsockopt(zmq.MAXMSGSIZE, 1 << 16)
        try:
            self.router.bind(self.control_endpoint)
        except zmq.ZMQError as e:
            self.close()
            if e.errno == zmq.EADDRINUSE:
                raise FeedError(f"{self.control_endpoint} is already in use (is another feed running?)") from None
            raise FeedError(f"cannot bind {self.control_endpoint}: {e.strerror}") from None
        if self.control_endpoint.startswith("ipc://"):
            data_ep = self.control_endpoint + ".data"
        else:
            data_ep = f"tcp://{endpoint_host(self.control_endpoint)}:*"
        try:
            self.xpub.bind(data_ep)
        except zmq.ZMQError as e:
            self.close()
            raise FeedError(f"cannot bind the data socket {data_ep}: {e.strerror}") from None
        self.data_endpoint = self.xpub.getsockopt_string(zmq.LAST_ENDPOINT)
        if not self.control_endpoint.startswith("ipc://"):
            port = self.control_endpoint.rsplit(":", 1)[1]
            if port in ("0", "*"):
                self.control_endpoint = self.router.getsockopt_string(zmq.LAST_ENDPOINT)
        self.monitor = self.xpub.get_monitor_socket(zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED)

    def _curve_setup(self) -> tuple[bytes, bytes] | None:
        s = self.settings
        if is_loopback(self.control_endpoint):
            return None
        keys = Path(s.curve_dir) / "server.key_secret" if s.curve_dir else None
        if keys is not None and keys.exists():
            import zmq.auth
            from zmq.auth.thread import ThreadAuthenticator

            public, secret = zmq.auth.load_certificate(str(keys))
            if secret is None:
                raise FeedError(f"{keys} holds no secret key")
            # ZAP works per context: the authenticator must live in the sockets' context.
            auth = ThreadAuthenticator(self.ctx)
            auth.start()
            clients = Path(s.curve_dir) / "authorized_clients"
            auth.configure_curve(domain="*", location=str(clients if clients.is_dir() else s.curve_dir))
            self._auth = auth
            log.info("CURVE enabled with keys from %s", s.curve_dir)
            return secret, public
        if s.insecure:
            log.warning("binding %s without encryption or authentication (--insecure)", self.control_endpoint)
            return None
        raise FeedError(f"binding {endpoint_host(self.control_endpoint)} (not loopback) needs CURVE keys: "
                        "put server.key_secret in curve_dir (zmq.auth.create_certificates), or pass --insecure")

    def drain_monitor(self) -> None:
        """Count data connections (ACCEPTED / DISCONNECTED events; edge-triggered: drain)."""
        from zmq.utils.monitor import recv_monitor_message

        mon = self.monitor
        while mon is not None and not mon.closed and mon.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            try:
                ev = recv_monitor_message(mon, zmq.NOBLOCK)
            except zmq.Again:
                break
            if ev["event"] == zmq.EVENT_ACCEPTED:
                self.subscribers += 1
            elif ev["event"] == zmq.EVENT_DISCONNECTED:
                self.subscribers = max(0, self.subscribers - 1)

    @property
    def open(self) -> bool:
        return self.xpub is not None and not self.xpub.closed

    def close(self) -> None:
        for name in ("monitor", "router", "xpub"):
            sock = getattr(self, name, None)
            if sock is not None and not sock.closed:
                # a short linger on the data socket lets the final "stopped" status out
                sock.close(linger=200 if name == "xpub" else 0)
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
        if self.ctx is not None:
            self.ctx.term()
            self.ctx = None
