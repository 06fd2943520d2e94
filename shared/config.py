"""Configuration: one ``Settings`` object from flags, environment, file, defaults.

Precedence, highest first: command-line flags, ``LIVE_MONITOR_*`` environment
variables, a TOML file (``--config FILE``, else ``live-monitor.toml`` in the
user config dir), then the defaults below (the seed's *Configuration*
section). Every key is declared once in ``FIELDS``; an unknown key or a bad
value raises :class:`ConfigError` naming the key and where it came from.

The API key is a :class:`Secret`: its ``repr``/``str`` are masked, so it can
never reach a log line, an error message or ``status`` by accident. It is read
from ``POLYGON_API_KEY`` / ``MASSIVE_API_KEY`` or the file's ``api_key`` -
never from the command line, where ``ps`` would show it.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from .paths import config_dir
from .secret import Secret  # noqa: F401 - re-exported: shared.config.Secret is the public name

ENV_PREFIX = "LIVE_MONITOR_"
CONFIG_FILENAME = "live-monitor.toml"
# LIVE_MONITOR_* variables that are not settings: the config file path, the
# supervisor's pid (parent watch) and its window-request endpoint, the tests' replay dir,
# the user data directory (feed_process/client_ids.py: the installation id).
NON_SETTING_ENV = frozenset({"CONFIG", "PARENT_PID", "SUPERVISOR", "REPLAY_DIR", "DATA_DIR"})

UPSTREAM_KINDS = ("sim", "relay", "polygon", "delayed")
PROTOCOLS = ("relay", "polygon")
UPSTREAM_TRANSPORTS = ("picows", "websockets")  # the default first (feed_process/upstream_link.py)
POLYGON_REALTIME_URL = "wss://socket.massive.com/stocks"
POLYGON_DELAYED_URL = "wss://delayed.massive.com/stocks"
POLYGON_REST_URL = "https://api.massive.com"


class ConfigError(ValueError):
    """A bad configuration key or value; the message names the key and source."""


def _to_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(v, str) and v.strip().lower() in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true/false, got {v!r}")


def _to_int(v: Any) -> int:
    if isinstance(v, bool):
        raise ValueError("expected an integer, got a boolean")
    if isinstance(v, float) and not v.is_integer():
        raise ValueError(f"expected an integer, got {v!r}")
    return int(v)


def _to_float(v: Any) -> float:
    if isinstance(v, bool):
        raise ValueError("expected a number, got a boolean")
    f = float(v)
    if f != f or f in (float("inf"), float("-inf")):
        raise ValueError(f"expected a finite number, got {v!r}")
    return f


def _to_str(v: Any) -> str:
    if not isinstance(v, (str, int, float)) or isinstance(v, bool):
        raise ValueError(f"expected text, got {type(v).__name__}")
    return str(v)


UPSTREAM_CHANNELS = ("T", "Q", "AM", "A", "LULD", "NOI")  # Polygon's stocks channels (docs/PROTOCOL.md)


def _to_channels(v: Any) -> tuple[str, ...]:
    parts = [p.strip() for p in v.split(",")] if isinstance(v, str) else list(v) if isinstance(v, (list, tuple)) \
        else None
    if parts is None:
        raise ValueError(f"expected channel codes like T,Q,AM, got {type(v).__name__}")
    bad = [p for p in parts if p not in UPSTREAM_CHANNELS]
    if bad or not parts:
        raise ValueError(f"unknown channel {bad[0] if bad else ''!r} (use {','.join(UPSTREAM_CHANNELS)})")
    return tuple(dict.fromkeys(parts))  # order kept, repeats dropped


def _to_symbols(v: Any) -> tuple[str, ...]:
    from .models.market_data import normalize_symbol

    if isinstance(v, str):
        parts = [p for p in v.replace(" ", ",").split(",") if p]
    elif isinstance(v, (list, tuple)):
        parts = list(v)
    else:
        raise ValueError(f"expected a list of symbols, got {type(v).__name__}")
    return tuple(normalize_symbol(p) for p in parts)


@dataclass(frozen=True)
class Range:
    """The one statement of a number's allowed range, used by the settings below and,
    through ``shared.cli``, by every numeric command-line flag (argparse ``type=``).
    ``above`` is an exclusive lower bound (durations and rates: > 0)."""

    lo: float | None = None
    hi: float | None = None
    above: float | None = None

    def describe(self) -> str:
        low = f"> {self.above:g}" if self.above is not None else (f">= {self.lo:g}" if self.lo is not None else "")
        if self.hi is None:
            return f"must be {low}"
        if not low:
            return f"must be <= {self.hi:g}"
        lo = self.above if self.above is not None else self.lo
        return f"must be between {lo:g}{' (exclusive)' if self.above is not None else ''} and {self.hi:g}"

    def __call__(self, v: Any) -> None:
        ok = v == v  # NaN is never in range
        if self.lo is not None:
            ok = ok and v >= self.lo
        if self.above is not None:
            ok = ok and v > self.above
        if self.hi is not None:
            ok = ok and v <= self.hi
        if not ok:
            raise ValueError(f"{self.describe()}, got {v:g}" if isinstance(v, (int, float)) else self.describe())


PORT = Range(0, 65535)                 # 0 = any free port
SEED = Range(0, 2**63 - 1)


def _non_empty(v: tuple) -> None:
    if not v:
        raise ValueError("no symbol given (expected e.g. AAPL,MSFT)")


def _one_of(*choices: str) -> Callable[[Any], None]:
    def check(v: Any) -> None:
        if v not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}; got {v!r}")
    return check


def _upstream_check(v: str) -> None:
    if v in UPSTREAM_KINDS or v.startswith(("ws://", "wss://")):
        return
    raise ValueError(f"must be one of {', '.join(UPSTREAM_KINDS)} or a ws:// / wss:// URL; got {v!r}")


def _endpoint_check(v: str) -> None:
    if v.startswith("ipc://") and len(v) > len("ipc://"):
        return
    if v.startswith("tcp://"):
        host, _, port = v[len("tcp://"):].rpartition(":")
        if host and port.isdigit() and 0 < int(port) < 65536:
            return
    raise ValueError(f"must look like tcp://HOST:PORT or ipc://PATH; got {v!r}")


def _log_level_check(v: str) -> None:
    if v.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ValueError(f"must be DEBUG, INFO, WARNING, ERROR or CRITICAL; got {v!r}")


def _rest_rate_check(v: str) -> None:
    from .rest_limit import check_rate  # the one parser of a rate

    check_rate(v)


@dataclass(frozen=True)
class Field:
    name: str
    default: Any
    parse: Callable[[Any], Any]
    check: Callable[[Any], None] | None = None
    help: str = ""


# The one declaration of every setting. Defaults 1-7 are the seed's.
FIELDS: tuple[Field, ...] = (
    Field("server_url", "ws://localhost:8200/ws/{client_id}", _to_str, None,
          "relay WebSocket URL ({client_id} is filled in)"),
    Field("no_data_threshold", 30.0, _to_float, Range(1, 86_400), "seconds without data before a warning"),
    Field("heartbeat_check_interval", 5000, _to_int, Range(100, 3_600_000), "ms between data-flow checks"),
    Field("max_bars", 2000, _to_int, Range(10, 1_000_000), "minute bars kept per symbol"),
    Field("reconnect_delay", 1.0, _to_float, Range(0.01, 86_400), "first reconnect delay, seconds"),
    Field("max_reconnect_delay", 30.0, _to_float, Range(0.01, 86_400), "reconnect delay cap, seconds"),
    Field("max_reconnect_attempts", 10, _to_int, Range(0, 1_000_000), "0 = retry forever"),
    Field("feed", "tcp://127.0.0.1:8201", _to_str, _endpoint_check, "the feed's control address"),
    Field("upstream", "sim", _to_str, _upstream_check, "sim | relay | polygon | delayed | ws(s)://URL"),
    Field("protocol", "", _to_str, lambda v: v == "" or _one_of(*PROTOCOLS)(v),
          "relay | polygon (default: from the upstream)"),
    Field("client_id", "live_monitor", _to_str, None, "client id on the relay path"),
    Field("channels", ("T", "Q", "AM"), _to_channels, None,
          "upstream channels: T,Q,AM plus A (second bars), LULD (bands, halts), NOI (imbalances)"),
    Field("upstream_transport", "picows", _to_str, _one_of(*UPSTREAM_TRANSPORTS),
          "upstream WebSocket library: picows (fast; websockets when it cannot be imported) | websockets"),
    Field("rest_url", "", _to_str, None, "history REST base URL (default: from the upstream)"),
    Field("ui_update_hz", 30.0, _to_float, Range(1, 1000), "max market_data_updated emissions per second"),
    Field("symbols", ("AAPL",), _to_symbols, _non_empty, "symbols to open (one window each)"),
    Field("sim_port", 0, _to_int, PORT, "simulator port for desktop/daemon (0 = a free port)"),
    Field("sim_seed", None, _to_int, SEED, "simulator seed (default: a fresh one per launch)"),
    Field("sim_replay", "", _to_str, None, "replay file for the simulator of desktop/daemon (labelled REPLAY)"),
    Field("sim_speed", 1.0, _to_float, Range(above=0, hi=10_000), "simulator clock / replay speed"),
    Field("sim_clock", "auto", _to_str, _one_of("auto", "wall", "virtual"),
          "simulator clock: auto (the wall clock while the NYSE is open, else a virtual session) | wall | virtual"),
    Field("sim_max", False, _to_bool, None, "replay as fast as the feed reads"),
    Field("sim_loop", False, _to_bool, None, "replay: start over at the end"),
    Field("insecure", False, _to_bool, None, "allow a non-loopback bind without CURVE"),
    Field("curve_dir", "", _to_str, None, "directory with CURVE keys (server.key_secret, client keys)"),
    Field("log_level", "INFO", lambda v: _to_str(v).upper(), _log_level_check, "DEBUG | INFO | WARNING | ERROR"),
    Field("ui_state_file", "", _to_str, None, "INI file for window layout and recent symbols (default: Qt's store)"),
    Field("history_db", "", _to_str, None,
          "history store file (default: the user data dir's history.sqlite3; 'off' = no store)"),
    Field("history_days", 30, _to_int, Range(1, 3650), "days of minute and day bars the history store keeps"),
    Field("rest_rate", "", _to_str, _rest_rate_check,
          "REST requests allowed: N/s, N/min, N/h or unlimited (default: 5/min on Polygon, else unlimited)"),
    Field("alerts_file", "", _to_str, None, "the feed's alerts JSON (default: alerts.json in the user data dir)"),
    Field("alert_command", "", _to_str, None, "daemon: shell command run per fired alert (alert JSON on stdin)"),
    Field("alert_command_timeout", 10.0, _to_float, Range(above=0, hi=3600), "seconds before alert_command is killed"),
    Field("alert_sound", False, _to_bool, None, "window: a sound with each alert notification"),
    Field("api_key", Secret(""), lambda v: v if isinstance(v, Secret) else Secret(_to_str(v)), None,
          "Polygon/Massive key (env POLYGON_API_KEY / MASSIVE_API_KEY, or the file)"),
)
FIELD_BY_NAME = {f.name: f for f in FIELDS}


@dataclass(frozen=True)
class Settings:
    server_url: str = "ws://localhost:8200/ws/{client_id}"
    no_data_threshold: float = 30.0
    heartbeat_check_interval: int = 5000
    max_bars: int = 2000
    reconnect_delay: float = 1.0
    max_reconnect_delay: float = 30.0
    max_reconnect_attempts: int = 10
    feed: str = "tcp://127.0.0.1:8201"
    upstream: str = "sim"
    protocol: str = ""
    client_id: str = "live_monitor"
    channels: tuple[str, ...] = ("T", "Q", "AM")
    upstream_transport: str = "picows"
    rest_url: str = ""
    ui_update_hz: float = 30.0
    symbols: tuple[str, ...] = ("AAPL",)
    sim_port: int = 0
    sim_seed: int | None = None
    sim_replay: str = ""
    sim_speed: float = 1.0
    sim_clock: str = "auto"
    sim_max: bool = False
    sim_loop: bool = False
    insecure: bool = False
    curve_dir: str = ""
    log_level: str = "INFO"
    ui_state_file: str = ""
    history_db: str = ""
    history_days: int = 30
    rest_rate: str = ""
    alerts_file: str = ""
    alert_command: str = ""
    alert_command_timeout: float = 10.0
    alert_sound: bool = False
    api_key: Secret = field(default_factory=lambda: Secret(""))
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    # ---- derived
    @property
    def upstream_protocol(self) -> str:
        """The protocol to speak upstream: relay or polygon."""
        if self.protocol:
            return self.protocol
        if self.upstream in ("polygon", "delayed"):
            return "polygon"
        if self.upstream.startswith(("ws://", "wss://")) and self.upstream.rstrip("/").endswith("/stocks"):
            return "polygon"
        return "relay"

    @property
    def upstream_url(self) -> str:
        """The WebSocket URL to connect to (``sim`` is resolved by the supervisor)."""
        if self.upstream == "polygon":
            return POLYGON_REALTIME_URL
        if self.upstream == "delayed":
            return POLYGON_DELAYED_URL
        if self.upstream == "relay":
            return self.server_url.replace("{client_id}", self.client_id)
        if self.upstream.startswith(("ws://", "wss://")):
            return self.upstream.replace("{client_id}", self.client_id)
        return self.server_url.replace("{client_id}", self.client_id)

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)

    def public_dict(self) -> dict[str, Any]:
        """Everything but the key (safe to print or send over the wire)."""
        d = {f.name: getattr(self, f.name) for f in FIELDS if f.name != "api_key"}
        d["symbols"] = list(self.symbols)
        d["channels"] = list(self.channels)
        d["api_key_set"] = bool(self.api_key)
        return d


def default_config_path() -> Path:
    return config_dir() / CONFIG_FILENAME


def _coerce(name: str, value: Any, source: str) -> Any:
    f = FIELD_BY_NAME.get(name)
    if f is None:
        raise ConfigError(f"unknown setting '{name}' (from {source}); known: {', '.join(sorted(FIELD_BY_NAME))}")
    try:
        v = f.parse(value)
        if f.check is not None:
            f.check(v)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"bad value for '{name}' (from {source}): {e}") from None
    return v


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as e:  # a directory, no permission, ...
        raise ConfigError(f"cannot read config file {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from None
    # Allow an optional [live_monitor] table so the file can hold other tools' sections.
    if set(data) == {"live_monitor"} and isinstance(data["live_monitor"], dict):
        data = data["live_monitor"]
    return data


def load_settings(
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    config_file: str | os.PathLike | None = None,
    use_default_file: bool = True,
) -> Settings:
    """Merge the four sources. ``flags`` holds only the flags the user gave."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}

    path: Path | None = Path(config_file) if config_file else None
    if path is None and env.get(ENV_PREFIX + "CONFIG"):
        path = Path(env[ENV_PREFIX + "CONFIG"])
    if path is None and use_default_file:
        p = default_config_path()
        path = p if p.exists() else None
    if path is not None:
        for k, v in read_toml(path).items():
            values[k] = _coerce(k, v, f"config file {path}")
            sources[k] = "file"

    for k, v in env.items():
        if not k.startswith(ENV_PREFIX) or k[len(ENV_PREFIX):] in NON_SETTING_ENV:
            continue
        name = k[len(ENV_PREFIX):].lower()
        if name == "api_key":
            raise ConfigError(f"set the API key with POLYGON_API_KEY or MASSIVE_API_KEY, not {k}")
        values[name] = _coerce(name, v, f"environment variable {k}")
        sources[name] = "env"

    for var in ("MASSIVE_API_KEY", "POLYGON_API_KEY"):  # POLYGON_ wins when both are set
        if env.get(var):
            values["api_key"] = Secret(env[var])
            sources["api_key"] = "env"

    for k, v in (flags or {}).items():
        if v is None:
            continue
        if k == "api_key":
            raise ConfigError("the API key is never taken from the command line; use POLYGON_API_KEY")
        values[k] = _coerce(k, v, "command line")
        sources[k] = "flag"

    s = Settings(**values, sources=sources)
    if s.max_reconnect_delay < s.reconnect_delay:
        raise ConfigError(
            f"bad value for 'max_reconnect_delay': {s.max_reconnect_delay} is below reconnect_delay {s.reconnect_delay}")
    return s
