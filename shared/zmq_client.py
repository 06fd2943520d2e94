"""Client side of a feed connection, shared by every subscriber (tap/status/record and the windows).

Why here: a window and ``live-monitor tap`` reach a feed the same way - CURVE
keys when the feed is remote and encrypted, and the data address rewritten
when the feed bound a wildcard host - so one piece of code serves both.
"""

from __future__ import annotations

from pathlib import Path

import zmq


def apply_curve(sock: zmq.Socket, curve_dir: str) -> None:
    """Client side of CURVE: when ``curve_dir`` holds ``server.key`` and ``client.key_secret``, use them."""
    if not curve_dir:
        return
    server, client = Path(curve_dir) / "server.key", Path(curve_dir) / "client.key_secret"
    if not (server.exists() and client.exists()):
        return
    import zmq.auth

    sock.curve_serverkey, _ = zmq.auth.load_certificate(str(server))
    sock.curve_publickey, sock.curve_secretkey = zmq.auth.load_certificate(str(client))


def data_endpoint(data: str, control: str) -> str:
    """The data address to connect to: a wildcard bind host means "the host you reached me at"."""
    for wild in ("tcp://0.0.0.0:", "tcp://[::]:", "tcp://*:"):
        if data.startswith(wild):
            host = control.split("://", 1)[-1].rsplit(":", 1)[0]
            return f"tcp://{host}:{data[len(wild):]}"
    return data
