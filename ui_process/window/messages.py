"""Every user-facing sentence about trouble, in one place, in plain language.

Why one module: the feed, the manager and the backfill report trouble in
their own terms ("history: ClientConnectorDNSError", "Upstream auth_failed:
..."), which are right for the log and wrong for a trader. The window passes
each such text through :func:`plain` (errors panel, chart overlay) and takes
its state sentences from :data:`STATES`, so a message says what happened and
what to do, never an exception class name. The original text still goes to
the log (the callers log it) for whoever debugs.
"""

from __future__ import annotations

import re
from typing import Mapping

# upstream state -> (what the status bar says, level, what to do or None)
STATES: Mapping[str, tuple[str, str, str | None]] = {
    "connecting": ("Connecting to the data source…", "warn", None),
    "authenticating": ("Signing in to the data source…", "warn", None),
    "subscribing": ("Subscribing…", "warn", None),
    "connected": ("Connected", "ok", None),
    "reconnecting": ("Connection lost — reconnecting…", "warn", None),
    "auth_failed": ("The data source refused the API key", "bad",
                    "check POLYGON_API_KEY (or MASSIVE_API_KEY), then Reconnect (Ctrl+R)"),
    "max_connections": ("The API key is in use by another connection", "bad",
                        "close the other program using this key; retrying in a minute"),
    "subscribe_failed": ("The data source refused the subscription", "bad",
                         "check that your plan includes this symbol and channel"),
    "stalled": ("No data from the data source — reconnecting…", "warn", None),
    "failed": ("Gave up reconnecting to the data source", "bad", "press Reconnect (Ctrl+R) to try again"),
    "restarting": ("The feed's connection task is restarting…", "warn", None),
    "stopped": ("The feed is shutting down", "warn", "it restarts by itself under live-monitor"),
}

# (pattern in a raw message, the plain cause). First match wins; checked case-insensitively.
_CAUSES: tuple[tuple[str, str], ...] = (
    (r"DNSError|gaierror|Name or service not known|getaddrinfo|nodename nor servname|Temporary failure in name",
     "the server's name could not be looked up — check your network connection or the upstream address"),
    (r"Connection ?Refused|refused", "the server refused the connection — is it running at that address?"),
    (r"SSL|certificate|CERTIFICATE", "a secure connection could not be set up (certificate problem)"),
    (r"Timeout|timed out", "the server did not answer in time"),
    (r"HTTP 401|HTTP 403|\b401\b|\b403\b|not authorized|auth", "the API key was refused — check POLYGON_API_KEY"),
    (r"HTTP 429|\b429\b|rate limit", "the server asked us to slow down; it is retried later"),
    (r"HTTP 5\d\d|\b50[0-4]\b", "the server had an internal error; it is retried"),
    (r"HTTP 404|\b404\b", "the server does not offer this (not found)"),
    (r"ClientConnectorError|Cannot connect to host|ConnectionReset|reset by peer|Connection ?Error|"
     r"Network is unreachable|No route to host", "the server could not be reached — check your network connection"),
)

_EXC_NAME = re.compile(r"\b(?:[a-z_]+\.)*[A-Z][A-Za-z0-9]*(?:Error|Exception|Timeout)\b:?\s*")


def cause(raw: str) -> str | None:
    """The plain-language cause of a raw error text, or None when no rule knows it."""
    for pattern, text in _CAUSES:
        if re.search(pattern, raw or "", re.I):
            return text
    return None


def strip_exception_names(raw: str) -> str:
    """'history: ClientConnectorDNSError — x' -> 'history: x' (class names belong in the log)."""
    text = _EXC_NAME.sub("", raw or "")
    text = re.sub(r"\s*[—:-]\s*$", "", re.sub(r"\s{2,}", " ", text)).strip(" :—-")
    return text


def history_failed(raw: str, live_flowing: bool) -> str:
    """The chart overlay when the backfill failed; the second half says only what is true."""
    why = cause(raw) or strip_exception_names(raw) or "the history server did not answer"
    tail = ("live bars continue below" if live_flowing
            else "live bars will appear once the feed is connected")
    return f"Earlier bars could not be loaded: {why}. {tail[0].upper() + tail[1:]}."


def history_queued(ahead: int | None) -> str:
    """The chart overlay while the feed's history request waits for the REST rate limit."""
    n = ahead if isinstance(ahead, int) and not isinstance(ahead, bool) and ahead >= 0 else None
    return "Loading history: waiting for the data provider's rate limit" + (f" ({n} ahead)" if n is not None else "")


def plain(raw: str) -> str:
    """A manager/feed error text as a trader should read it."""
    text = (raw or "").strip()
    low = text.lower()
    m = re.match(r"upstream (\w+)\s*:?\s*(.*)", text, re.I)
    if m and m.group(1).lower() in STATES:
        state = m.group(1).lower()
        sentence, _, action = STATES[state]
        detail = m.group(2)
        why = cause(detail) if state not in ("auth_failed", "max_connections") else None
        out = sentence + (f": {why}" if why else "")
        return out + (f" — {action}" if action else "")
    if low.startswith("feed process gone"):
        return "The feed process stopped answering — reconnecting by itself (live-monitor restarts it)"
    if low.startswith("feed not reachable") or low.startswith("cannot connect to the feed"):
        return "The feed is not reachable — start it with `live-monitor` or check --feed"
    if "giving up" in low:
        return strip_exception_names(text) + " — press Reconnect (Ctrl+R) after fixing the cause"
    if low.startswith("internal error"):
        what = strip_exception_names(text[len("internal error"):].lstrip(": "))
        return ("Something went wrong inside the window" + (f" ({what})" if what else "")
                + " — details are in the log; the window keeps running")
    why = cause(text)
    if why and _EXC_NAME.search(text):
        head = strip_exception_names(text.split(":")[0]) if ":" in text else ""
        return (head + ": " if head else "") + why
    return strip_exception_names(text) or text
