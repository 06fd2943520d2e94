"""A control frame's meaning for the upstream session: auth result, subscription acks, error replies.

Why a module of its own: "healthy" means *acknowledged* (docs/PROTOCOL.md), so
every control frame the protocol core decoded (``Output.state``, ``Output.acks``,
``Output.sub_errors``, ``Output.session``) becomes session inputs in a fixed
order - auth first, then acks, then errors - in one place, and the asyncio
client stays a thin "wait for a frame or the deadline" loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from .protocols import AUTH_FAILED, CONNECTED, MAX_CONNECTIONS, Output

if TYPE_CHECKING:
    from .upstream_session import UpstreamSession


def control_actions(s: "UpstreamSession", kind: str, out: Output, now: float,
                    wanted: Iterable[str]) -> tuple[list, str | None]:
    """The session's actions for one decoded control frame, and the sim's ``session`` label (or None)."""
    actions: list = []
    if out.state == CONNECTED and kind == "polygon":
        actions += s.authenticated(now, subscribed=sorted(wanted) if out.send else ())
    elif out.state == AUTH_FAILED:
        actions += s.auth_refused(out.message, now)
    elif out.state == MAX_CONNECTIONS:
        actions += s.busy(out.message, now)
    if out.acks:
        actions += s.acked(out.acks, now)
    for m in out.sub_errors:
        actions += s.sub_error(m, now)
    return actions, out.session
