"""``live-monitor alert``: add, list, edit, arm, disarm, remove the feed's alerts, and show what fired.

Why a control request and not the file: the feed owns the alert book (it
evaluates, persists and fires); editing the file behind its back would race
it. So every command is one request to the running feed (``{type: alert,
op}``, docs/PROTOCOL.md). Bad input is one line, exit 2: the argument shapes
here, the numbers' ranges by the feed's one declaration
(``alert_book.VALUE_RANGES``, answered as ``bad_alert``); no feed is exit 1.

    live-monitor alert add AAPL above 200 [--hysteresis 0.2] [--note "breakout"]
    live-monitor alert add TSLA move -3          # down 3 % from the prior close
    live-monitor alert add NVDA volume 4         # 4x the average for this minute of day
    live-monitor alert add AAPL high | low | halt | resume | signal
    live-monitor alert list | log
    live-monitor alert rm a3 | arm a3 | disarm a3
    live-monitor alert edit a3 --value 201
"""

from __future__ import annotations

import argparse
import datetime as dt

import orjson

from shared.cli import UserError
from shared.config import Settings
from shared.market_hours import NY
from shared.models import wire

ACTIONS = ("add", "list", "log", "rm", "arm", "disarm", "edit")


def add_alert_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=ACTIONS, help="what to do")
    p.add_argument("words", nargs="*", metavar="ARG",
                   help="add: SYMBOL KIND [VALUE] (kinds: above below move volume high low halt resume signal); "
                        "rm/arm/disarm/edit: ID")
    p.add_argument("--value", type=float, default=None, help="edit: the new value")
    p.add_argument("--hysteresis", type=float, default=None,
                   help="re-arm distance: %% of the level (above/below, default 0.1), points (move, default 0.5)")
    p.add_argument("--rearm-minutes", dest="rearm_minutes", type=float, default=None,
                   help="volume/high/low: minutes before the alert can fire again (default 1 / 5 / 5)")
    p.add_argument("--note", default=None, help="a word to yourself, shown with the alert")
    p.add_argument("--json", action="store_true", help="the feed's reply as JSON")
    from feed_process.cli_args import add_feed_client_flags

    add_feed_client_flags(p)


def _number(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise UserError(f"not a number: {text!r}", 2) from None
    if x != x or x in (float("inf"), float("-inf")):
        raise UserError(f"not a finite number: {text!r}", 2)
    return x


def request_for(args: argparse.Namespace) -> dict:
    """The control request for the command line (UserError, exit 2, on a bad shape)."""
    w, a = list(args.words), args.action
    extra = {k: getattr(args, k) for k in ("hysteresis", "rearm_minutes", "note") if getattr(args, k) is not None}
    if a == "add":
        if len(w) not in (2, 3):
            raise UserError("usage: alert add SYMBOL KIND [VALUE]  (e.g. alert add AAPL above 200)", 2)
        req = {"op": "add", "symbol": w[0], "kind": w[1].lower(), **extra}
        if len(w) == 3:
            req["value"] = _number(w[2])
        return req
    if a in ("list", "log"):
        if w:
            raise UserError(f"alert {a} takes no arguments", 2)
        return {"op": a}
    if len(w) != 1:
        raise UserError(f"usage: alert {a} ID  (the ids are in `alert list`)", 2)
    req = {"op": a, "alert": w[0]}
    if a == "edit":
        if args.value is not None:
            extra["value"] = args.value
        if not extra:
            raise UserError("alert edit ID needs --value, --hysteresis, --rearm-minutes or --note", 2)
        req.update(extra)
    return req


def _time(ms) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, NY).strftime("%m-%d %H:%M:%S") if ms else "—"


def format_alert(a: dict) -> str:
    state = "fired" if a.get("fired") else ("armed" if a.get("armed") else "off")
    v = "" if a.get("value") is None else f" {a['value']:g}"
    note = f"  # {a['note']}" if a.get("note") else ""
    return f"{a['id']:<5} {a['symbol']:<6} {a['kind']}{v:<10} {state:<6}{note}"


def run_alert(args: argparse.Namespace, settings: Settings) -> int:
    from .tools import ask

    req = request_for(args)
    try:
        reply = ask(settings, wire.alert_request(req_id=1, **req), args.timeout)
    except UserError as e:
        if "refused" in str(e):
            raise UserError(str(e).replace("the feed refused alert: ", ""), 2) from None
        raise
    reply.pop("v", None)
    reply.pop("id", None)
    if args.json:
        print(orjson.dumps(reply, option=orjson.OPT_INDENT_2).decode())
        return 0
    if req["op"] == "list":
        rows = reply.get("alerts") or []
        print("\n".join(format_alert(a) for a in rows) if rows else "no alerts")
    elif req["op"] == "log":
        rows = reply.get("log") or []
        print("\n".join(f"{_time(e.get('t'))}  {e['alert']:<5} {e['message']}" for e in rows) if rows
              else "nothing fired")
    else:
        print(f"{req['op']}: {format_alert(reply['alert'])}")
    return 0
