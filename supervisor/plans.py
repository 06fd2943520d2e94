"""Which children to start, with which command lines (pure: settings in, specs out).

Why it looks like this
----------------------
* **Children run the installed code.** Every child is ``python -P -m supervisor
  SUB ...`` with the supervisor's own interpreter: ``-P`` keeps the current
  directory off ``sys.path``, so a ``supervisor.py``, ``shared/`` or
  ``feed_process/`` in the user's cwd is never imported instead of ours (a decoy
  that starts a daemon once made ``live-monitor daemon`` a fork bomb).
  ``shared.procs.child_env`` adds ``PYTHONSAFEPATH=1`` for the children's own
  children and drops empty / ``.`` ``PYTHONPATH`` entries.
* **Secrets never in argv** (``ps`` shows argv to every user): the key travels
  only in the environment; the CURVE / insecure choices too (:func:`security_env`).
* **The simulator's flags are passed only when the user gave them**: a seed only
  when given (the simulator picks a fresh one per launch otherwise), the replay
  pacing only with ``--replay``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from shared.config import Settings
from shared.procs import ChildSpec, Restart

SIM_PORT_RE = re.compile(r"^LISTENING wss?://[^\s:/]+:(\d+)")
SIM_SEED_RE = re.compile(r"\bseed=(\d+)\b")


def child_command(sub: str, *args: str) -> list[str]:
    """``python -P -m supervisor SUB ...``: the same interpreter and installed code as this process."""
    return [sys.executable, "-P", "-m", "supervisor", sub, *args]


def common_flags(args: argparse.Namespace) -> list[str]:
    """Flags every child re-reads (the key travels in the environment, never argv)."""
    out: list[str] = []
    if getattr(args, "config_file", None):
        out += ["--config", os.path.abspath(args.config_file)]
    if getattr(args, "log_level", None):
        out += ["--log-level", args.log_level]
    return out


def security_env(settings: Settings) -> dict[str, str]:
    """CURVE / insecure choices every child re-reads (feed and windows): settings travel by environment."""
    env: dict[str, str] = {}
    if settings.curve_dir:
        env["LIVE_MONITOR_CURVE_DIR"] = settings.curve_dir
    if settings.insecure:
        env["LIVE_MONITOR_INSECURE"] = "1"
    return env


# Settings a child gets in its argv or must not inherit from the desktop's command line.
_NOT_HANDED_DOWN = frozenset({"feed", "upstream", "protocol", "symbols", "api_key", "server_url"})


def settings_env(settings: Settings) -> dict[str, str]:
    """Settings the user gave as flags, for every child as ``LIVE_MONITOR_*`` variables.

    A child re-reads its settings (flags > env > file); without this, ``live-monitor
    --channels T,Q,AM,LULD`` or ``--history-days 5`` would stop at the supervisor. The
    simulator's own flags (``sim_*``) travel in its argv; the key never leaves the environment."""
    env: dict[str, str] = {}
    for name, source in settings.sources.items():
        if source != "flag" or name in _NOT_HANDED_DOWN or name.startswith("sim_"):
            continue
        v = getattr(settings, name)
        if v is None:
            continue
        if isinstance(v, bool):
            text = "1" if v else "0"
        elif isinstance(v, (tuple, list)):
            text = ",".join(map(str, v))
        else:
            text = str(v)
        env[f"LIVE_MONITOR_{name.upper()}"] = text
    return env


def sim_spec(settings: Settings, args: argparse.Namespace, port: int, seed: int | None = None, *,
             listen_fd: int | None = None, warm: list[str] | tuple[str, ...] = ()) -> ChildSpec:
    """The simulator. ``seed`` pins the one a first start chose (restarts replay the same tape);
    ``listen_fd``: the listening socket the supervisor bound for it (``feed_process.sim.listen``);
    ``warm``: the desktop's chart symbols, caught up before the feed asks for them."""
    argv = child_command("sim", "--port", str(port), *common_flags(args))
    if listen_fd is not None:
        argv += ["--listen-fd", str(listen_fd)]
    if warm and not settings.sim_replay:
        argv += ["--warm", ",".join(warm)]
    seed = settings.sim_seed if settings.sim_seed is not None else seed
    if seed is not None:
        argv += ["--seed", str(seed)]
    given = settings.sources
    if settings.sim_replay:
        argv += ["--replay", os.path.abspath(settings.sim_replay)]
        if settings.sim_max:
            argv.append("--max")
        if settings.sim_loop:
            argv.append("--loop")
    if "sim_speed" in given and not settings.sim_max:
        argv += ["--speed", f"{settings.sim_speed:g}"]
    if "sim_clock" in given and not settings.sim_replay:  # a replay keeps the file's own clock
        argv += ["--clock", settings.sim_clock]
    return ChildSpec("sim", "sim", argv, Restart.ALWAYS, ready_prefix="LISTENING ",
                     pass_fds=(listen_fd,) if listen_fd is not None else ())


def feed_spec(settings: Settings, args: argparse.Namespace, upstream: str, protocol: str,
              env: dict | None = None) -> ChildSpec:
    argv = child_command("feed", "--feed", settings.feed, "--upstream", upstream, *common_flags(args))
    if protocol:
        argv += ["--protocol", protocol]
    return ChildSpec("feed", "feed", argv, Restart.ALWAYS, ready_prefix="LISTENING ", env=env or {})


def ui_spec(settings: Settings, args: argparse.Namespace, symbol: str | None, index: int) -> ChildSpec:
    argv = child_command("ui", "--feed", settings.feed, *common_flags(args))
    if symbol:
        argv += ["--symbol", symbol]
    name = f"ui-{symbol}" if symbol else "ui"
    return ChildSpec(name if index == 0 else f"{name}-{index + 1}", "ui", argv, Restart.ON_CRASH, symbol=symbol)


def sim_upstream(port: int) -> tuple[str, str]:
    """The feed's upstream on our simulator: its Polygon-protocol path."""
    return f"ws://127.0.0.1:{port}/stocks", "polygon"


def sim_feed_spec(settings: Settings, args: argparse.Namespace, port: int) -> ChildSpec:
    """The feed on our simulator: ``--upstream sim`` with the simulator's URL as its
    ``server_url`` (by environment), so the feed itself says it is on a simulator
    (kind/target ``sim``, source ``simulated`` until the simulator announces replay)
    from its first hello on - a second launch compares against that. The simulator
    accepts any key: the feed gets a dummy one, never the user's."""
    url, protocol = sim_upstream(port)
    env = {"LIVE_MONITOR_SERVER_URL": url, "POLYGON_API_KEY": "simulator", "MASSIVE_API_KEY": ""}
    return feed_spec(settings, args, "sim", protocol, env)


def parse_sim_ready(line: str) -> tuple[int, int | None]:
    """(port, seed or None) from the simulator's ``LISTENING ws://127.0.0.1:P ... [seed=N]`` line."""
    m = SIM_PORT_RE.match(line or "")
    if not m:
        raise ValueError(f"the simulator's ready line is not understood: {line!r}")
    s = SIM_SEED_RE.search(line)
    return int(m.group(1)), int(s.group(1)) if s else None


def desktop_symbols(settings: Settings) -> list[str | None]:
    """``--symbols`` (or env/config) when given; else one window with no ``--symbol``:
    the window then reopens the last symbol from its own store (QSettings), so the
    supervisor never reads Qt's files and there is one place that remembers it."""
    if settings.sources.get("symbols"):
        return list(dict.fromkeys(settings.symbols))  # keep order, drop duplicates
    return [None]


def check_settings(settings: Settings) -> None:
    """What desktop and daemon refuse before starting anything (one line, exit 2 for usage)."""
    from shared.cli import UserError

    if settings.upstream in ("polygon", "delayed") and not settings.api_key:
        raise UserError(f"--upstream {settings.upstream} needs an API key: set POLYGON_API_KEY "
                        "(or MASSIVE_API_KEY, or api_key in the config file)")
    replaying = [f for f, on in (("--max", settings.sim_max), ("--loop", settings.sim_loop)) if on]
    if settings.sim_replay:
        if settings.upstream != "sim":
            raise UserError(f"--replay plays the file on the simulator: it cannot be used with "
                            f"--upstream {settings.upstream}", 2)
        if not os.path.isfile(settings.sim_replay):
            raise UserError(f"replay file not found: {settings.sim_replay}", 2)
        if settings.sim_max and "sim_speed" in settings.sources:
            raise UserError("--max and --speed exclude each other", 2)
    elif replaying:
        raise UserError(f"{' and '.join(replaying)} only apply to --replay FILE", 2)


check_upstream = check_settings  # the old name (tests, callers)
