"""What the upstream says about our subscriptions (as upstream-session inputs), and URLs fit to show.

Why a module of its own: "healthy" means *acknowledged* (docs/PROTOCOL.md),
so the upstream session must hear each subscription ack and each error reply.
The protocol cores (proto's ``protocols.py``) are gaining that
(``out.acks`` / ``out.sub_errors``); until they have it, :func:`control_replies`
reads the few control frames (never data frames: the client calls it only for
frames without events or with a status) itself. It prefers the cores' fields
as soon as they exist, so merging proto's work needs no change here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

import orjson

from .protocols import AUTH_FAILED, CONNECTED, MAX_CONNECTIONS, Output

if TYPE_CHECKING:
    from .upstream_session import UpstreamSession


def redact_url(url: str) -> str:
    """The URL without credentials or query (where some tools put ``apiKey``)."""
    if "@" in url.split("//", 1)[-1].split("/", 1)[0]:
        scheme, rest = url.split("//", 1)
        url = scheme + "//" + rest.split("@", 1)[1]
    return url.split("?", 1)[0]


def control_replies(kind: str, frame: bytes | str, out: Output) -> tuple[list[str], list[str], str | None]:
    """Subscription acks, subscription errors and the sim's ``session`` label in a control frame.

    Adapter until the protocol cores report them (``out.acks`` / ``out.sub_errors`` /
    ``out.session``, proto's work): read from the cores when present, else from the frame.
    """
    acks, errs, label = getattr(out, "acks", None), getattr(out, "sub_errors", None), getattr(out, "session", None)
    if acks is not None and errs is not None:
        return list(acks), list(errs), label
    acks, errs = [], []
    try:
        doc = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return acks, errs, label
    for m in doc if type(doc) is list else [doc]:
        if type(m) is not dict:
            continue
        if type(m.get("session")) is str:
            label = m["session"]
        if kind == "polygon":
            status, text = m.get("status"), m.get("message")
            text = text if type(text) is str else ""
            if m.get("ev") != "status":
                continue
            if status == "success" and text.startswith("subscribed to: "):
                acks.extend(t.strip() for t in text[len("subscribed to: "):].split(","))
            elif status == "error":
                errs.append(text or "error")
        else:
            t = m.get("type")
            if t == "subscribed":
                syms = m.get("symbols")
                acks.extend(s for s in syms if type(s) is str) if type(syms) is list else acks.append("*")
            elif t == "error":
                errs.append(str(m.get("message") or "error")[:200])
    return acks, errs, label


def control_actions(s: "UpstreamSession", kind: str, frame: bytes | str, out: Output, now: float,
                    wanted: Iterable[str]) -> tuple[list, str | None]:
    """A control frame as session inputs (auth result, acks, subscription errors, in that order):
    their actions, and the sim's ``session`` label (None when the frame has none)."""
    acks, errs, label = control_replies(kind, frame, out)
    actions: list = []
    if out.state == CONNECTED and kind == "polygon":
        actions += s.authenticated(now, subscribed=sorted(wanted) if out.send else ())
    elif out.state == AUTH_FAILED:
        actions += s.auth_refused(out.message, now)
    elif out.state == MAX_CONNECTIONS:
        actions += s.busy(out.message, now)
    if acks:
        actions += s.acked(list(s.pending) if "*" in acks else acks, now)
    for m in errs:
        actions += s.sub_error(m, now)
    return actions, label
