"""Check (and where allowed, install) the system libraries Qt's xcb platform needs.

Why this exists: PyQt6's wheels bundle Qt itself but not the X11/xcb system
libraries its ``xcb`` platform plugin links against. On a fresh Debian/Ubuntu
machine several are missing (``libxcb-cursor0``, ``libxcb-icccm4``,
``libxcb-keysyms1`` ...), and the window then dies at start with Qt's
"could not load the Qt platform plugin xcb" abort, which names none of them.
So before a window starts (``make run``, and ``live-monitor ui`` itself) this
module runs ``ldd`` on the installed ``libqxcb.so`` (ldd resolves the whole
tree, so Qt's own ``libQt6XcbQpa`` dependencies are included), maps every
"not found" soname to its Debian package, and either installs them (root, or
passwordless sudo, with apt-get) or stops at once with the one command to run.

The logic is pure (ldd text in -> missing sonames -> packages -> plan) so the
tests feed it fake ``ldd`` output; only :func:`main` touches the system.
Skipped on non-Linux platforms and when ``QT_QPA_PLATFORM`` names a platform
that needs no X server (offscreen, minimal, vnc, wayland ...).

    python -m ui_process.window.qt_libs [--install]
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Mapping, Sequence

# soname -> Debian/Ubuntu package. The list is what `ldd libqxcb.so` shows for
# PyQt6 6.5-6.11 minus glibc/libstdc++ (always present). Unknown sonames fall
# back to Debian's library-package naming rule (see :func:`debian_package`).
DEBIAN_PACKAGES: dict[str, str] = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb.so.1": "libxcb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libXau.so.6": "libxau6",
    "libXdmcp.so.6": "libxdmcp6",
    "libSM.so.6": "libsm6",
    "libICE.so.6": "libice6",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libGLX.so.0": "libglx0",
    "libGLdispatch.so.0": "libglvnd0",
    "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libpng16.so.16": "libpng16-16",
}

# What `.ci/run` and the README name: every package the xcb plugin needs on Debian 12 / Ubuntu 22.04+.
XCB_PACKAGES: tuple[str, ...] = (
    "libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1", "libxcb-image0", "libxcb-render-util0",
    "libxcb-randr0", "libxcb-shape0", "libxcb-xfixes0", "libxcb-xkb1", "libxcb-sync1", "libxcb-shm0",
    "libxkbcommon-x11-0", "libxkbcommon0", "libx11-xcb1", "libegl1", "libgl1", "libfontconfig1", "libdbus-1-3",
)

NO_X_PLATFORMS = ("offscreen", "minimal", "minimalegl", "vnc", "wayland", "eglfs", "linuxfb", "vkkhrdisplay")

_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.M)


def missing_sonames(ldd_output: str) -> list[str]:
    """The sonames ``ldd`` could not resolve, unique, in order of appearance."""
    seen: dict[str, None] = {}
    for m in _NOT_FOUND.finditer(ldd_output):
        seen.setdefault(m.group(1), None)
    return list(seen)


def debian_package(soname: str) -> str:
    """``libxcb-icccm.so.4`` -> ``libxcb-icccm4``: the table, else Debian's naming rule
    (lower-cased name + SONAME version, with a '-' between when the name ends in a digit)."""
    if soname in DEBIAN_PACKAGES:
        return DEBIAN_PACKAGES[soname]
    m = re.match(r"^(lib[^/]+?)\.so\.(\d+)", soname)
    if not m:
        return soname
    name, ver = m.group(1).lower(), m.group(2)
    return f"{name}-{ver}" if name[-1].isdigit() else f"{name}{ver}"


def packages_for(sonames: Sequence[str]) -> list[str]:
    out: dict[str, None] = {}
    for s in sonames:
        out.setdefault(debian_package(s), None)
    return list(out)


def should_check(platform: str = sys.platform, env: Mapping[str, str] = os.environ) -> bool:
    """Only Linux uses xcb; an explicit non-X platform (offscreen, wayland ...) needs none of it."""
    if not platform.startswith("linux"):
        return False
    qpa = env.get("QT_QPA_PLATFORM", "").split(":")[0].strip().lower()
    return not (qpa and qpa in NO_X_PLATFORMS)


def install_command(packages: Sequence[str], is_root: bool) -> list[str]:
    base = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    return base if is_root else ["sudo", *base]


def plan(missing: Sequence[str], *, is_root: bool, has_apt: bool, passwordless_sudo: bool) -> dict:
    """What to do about ``missing`` sonames: ``{"action": ok|install|tell, "packages", "command"}``.

    ``install`` only where it can succeed unattended (root or ``sudo -n``, and
    apt-get present); otherwise ``tell``: the caller prints the one command.
    """
    if not missing:
        return {"action": "ok", "packages": [], "command": []}
    pkgs = packages_for(missing)
    cmd = install_command(pkgs, is_root)
    can = has_apt and (is_root or passwordless_sudo)
    return {"action": "install" if can else "tell", "packages": pkgs, "command": cmd}


def message(p: dict, sonames: Sequence[str]) -> str:
    """The one paragraph a user sees when the window cannot start."""
    return ("The window needs system libraries that are not installed: " + ", ".join(sonames) + ".\n"
            "Install them with:\n    " + " ".join(p["command"]) + "\n"
            "(Fedora: sudo dnf install xcb-util-cursor xcb-util-wm xcb-util-keysyms xcb-util-image "
            "xcb-util-renderutil libxkbcommon-x11; Arch: sudo pacman -S xcb-util-cursor xcb-util-wm "
            "xcb-util-keysyms xcb-util-image xcb-util-renderutil libxkbcommon-x11)")


# ---------------------------------------------------------------- the system side


def plugin_path() -> Path | None:
    """``.../PyQt6/Qt6/plugins/platforms/libqxcb.so`` without importing Qt (an import could abort)."""
    spec = importlib.util.find_spec("PyQt6")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        for sub in ("Qt6/plugins/platforms/libqxcb.so", "Qt/plugins/platforms/libqxcb.so"):
            p = Path(root) / sub
            if p.exists():
                return p
    return None


def run_ldd(path: Path, timeout: float = 20.0) -> str:
    ldd = shutil.which("ldd")
    if ldd is None:
        return ""
    try:
        r = subprocess.run([ldd, str(path)], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return r.stdout + r.stderr


def _passwordless_sudo() -> bool:
    if shutil.which("sudo") is None:
        return False
    try:
        return subprocess.run(["sudo", "-n", "true"], capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def check(install: bool = False) -> int:
    """0 when the xcb plugin can load (after installing what was missing, if allowed), else 1."""
    if not should_check():
        return 0
    plugin = plugin_path()
    if plugin is None:
        return 0  # PyQt6 not installed yet or an unusual layout: let Qt speak for itself
    missing = missing_sonames(run_ldd(plugin))
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    p = plan(missing, is_root=is_root, has_apt=shutil.which("apt-get") is not None,
             passwordless_sudo=bool(missing) and not is_root and _passwordless_sudo())
    if p["action"] == "ok":
        return 0
    if p["action"] == "install" and install:
        print("Installing the libraries Qt's xcb platform needs: " + " ".join(p["packages"]), file=sys.stderr)
        cmd = p["command"] if is_root else ["sudo", "-n", *p["command"][1:]]
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        r = subprocess.run(cmd, env=env)
        if r.returncode != 0:  # stale package lists on a fresh machine: update once, retry
            prefix = [] if is_root else ["sudo", "-n"]
            subprocess.run([*prefix, "apt-get", "update", "-qq"], env=env)
            r = subprocess.run(cmd, env=env)
        still = missing_sonames(run_ldd(plugin))
        if r.returncode == 0 and not still:
            return 0
        missing = still or missing
    print(message(p, missing), file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    return check(install="--install" in argv)


if __name__ == "__main__":
    sys.exit(main())
