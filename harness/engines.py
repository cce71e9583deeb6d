"""The container engines a host can run: LXD and Incus.

Incus is a fork of LXD with the same REST API and nearly the same command line; what
differs between the two is written down here, once, as data, and read by whoever needs it
(the daemon launcher, the line runner, `harness plan`, `harness doctor`, the checks):

- the daemon (`lxd`, `/usr/libexec/incus/incusd`), its data folder variable (LXD_DIR,
  INCUS_DIR) and log file; the API socket is `unix.socket` in that folder for both;
- the client (`lxc`, `incus`) and the administrative commands (`lxd init`, `incus admin init`);
- the file API's HTTP headers (`X-LXD-*`, `X-Incus-*`): see `harness.lxd.client`;
- what one engine removed: Incus has no fan bridges (`bridge.mode=fan`, `fan.*` keys).

Scenario lines may be written for either client: `lxc ...` lines run against Incus as
`incus ...`, and `incus ...` lines run against LXD as `lxc ...` (see `translate`), so the
tutorial's text works unchanged on both engines.
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

#: the command-line clients whose lines `translate` accepts
CLIENTS = ("lxc", "incus")
#: administrative verbs: `lxd VERB` on LXD is `incus admin VERB` on Incus
ADMIN_VERBS = ("init", "shutdown", "waitready", "sql", "recover", "cluster")
SOCKET_NAME = "unix.socket"
DEFAULT_ENGINE = "lxd"


class UnknownEngine(ValueError):
    """An engine name that is neither lxd nor incus; the message suggests the closest."""


@dataclass(frozen=True)
class Removed:
    """Configuration one engine no longer has: keys with a prefix, or one key's value."""

    what: str  # as a person would name it: "bridge.mode=fan"
    key: str  # the key, or a key prefix ending in "."
    value: str | None = None  # only this value of `key` (None: any value)

    def matches(self, key: str, value: str | None) -> bool:
        if self.key.endswith("."):
            return key.startswith(self.key)
        return key == self.key and (self.value is None or value == self.value)


@dataclass(frozen=True)
class Engine:
    name: str  # as written in scenarios and on the command line
    title: str  # as shown to people
    daemon: str  # the daemon's executable (a name on PATH or an absolute path)
    dir_variable: str  # the environment variable naming the daemon's data folder
    client: str  # the command-line client
    admin: tuple[str, ...]  # what precedes an administrative verb
    log_file: str  # the daemon's log, in its data folder
    header_prefix: str  # the file API's HTTP headers
    packages: str  # the Debian packages that provide daemon and client
    removed: tuple[Removed, ...] = ()
    removed_why: str = ""  # one sentence: what `removed` means for a scenario

    def admin_argv(self, verb: str, *args: str) -> list[str]:
        return [*self.admin, verb, *args]

    def env(self, data_dir: str) -> dict[str, str]:
        """What the client and the administrative commands need to reach this daemon."""
        return {self.dir_variable: data_dir}

    def socket(self, data_dir: str) -> str:
        return f"{data_dir}/{SOCKET_NAME}"

    def daemon_argv(self, data_dir: str) -> list[str]:
        """The daemon in the foreground, logging into its data folder."""
        return [self.daemon, "--group", "root", "--logfile", f"{data_dir}/{self.log_file}"]

    def tools(self) -> dict[str, str]:
        """Executables this engine needs -> the Debian package to install for each."""
        return {self.daemon: self.packages, self.client: self.packages}


LXD = Engine(
    name="lxd", title="LXD", daemon="lxd", dir_variable="LXD_DIR", client="lxc",
    admin=("lxd",), log_file="lxd.log", header_prefix="X-LXD-", packages="lxd (and lxd-client)",
)

INCUS = Engine(
    name="incus", title="Incus", daemon="/usr/libexec/incus/incusd", dir_variable="INCUS_DIR",
    client="incus", admin=("incus", "admin"), log_file="incus.log", header_prefix="X-Incus-",
    packages="incus and incus-client (Debian 12: from bookworm-backports)",
    removed=(Removed("bridge.mode=fan", "bridge.mode", "fan"), Removed("fan.*", "fan.")),
    removed_why="Incus has no fan bridges (it removed bridge.mode=fan and the fan.* keys)",
)

ENGINES: dict[str, Engine] = {engine.name: engine for engine in (LXD, INCUS)}


def get(name: str | None) -> Engine:
    """The engine called `name` (None: the default, LXD)."""
    if name is None:
        return ENGINES[DEFAULT_ENGINE]
    try:
        return ENGINES[name]
    except KeyError:
        close = difflib.get_close_matches(name.lower(), ENGINES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UnknownEngine(f"unknown engine {name!r}{hint}; engines: "
                            f"{', '.join(ENGINES)}") from None


def titled(names: str) -> str:
    """A run's engines as written in results (`lxd`, `incus, lxd`) as people name them
    (`LXD`, `Incus and LXD`); a name that is no engine is left as it is."""
    words = [ENGINES[n].title if n in ENGINES else n for n in map(str.strip, names.split(","))]
    return " and ".join(w for w in words if w)


# ------------------------------------------------------------------------------- scenario lines
def is_client_line(argv: Sequence[str]) -> bool:
    """An `lxc ...` or `incus ...` line (the client, of either engine)."""
    return bool(argv) and os.path.basename(argv[0]) in CLIENTS


def translate(engine: Engine, argv: Sequence[str]) -> list[str]:
    """A scenario line as it runs on `engine`.

    `lxc X` and `incus X` run the engine's client; `lxd VERB` and `incus admin VERB` (for the
    administrative verbs) run the engine's administrative command. Anything else is left as
    written.
    """
    words = list(argv)
    if not words:
        return words
    program = os.path.basename(words[0])
    if program == "incus" and len(words) > 2 and words[1] == "admin" and words[2] in ADMIN_VERBS:
        return engine.admin_argv(words[2], *words[3:])
    if program == "lxd" and len(words) > 1 and words[1] in ADMIN_VERBS:
        return engine.admin_argv(words[1], *words[2:])
    if program in CLIENTS:
        rest = words[1:]
        # `incus create` is Incus's name for `init`; LXD 5.0's client knows only `init`.
        if engine is LXD and rest[:1] == ["create"]:
            rest = ["init", *rest[1:]]
        return [engine.client, *rest]
    return words


# ------------------------------------------------------------------------- what one engine lacks
def removed_in_config(engine: Engine, config: Mapping[str, str]) -> list[str]:
    """The removed features (as `Removed.what`) that this LXD/Incus config uses."""
    found: list[str] = []
    for key, value in config.items():
        for removed in engine.removed:
            if removed.matches(key, str(value)) and removed.what not in found:
                found.append(removed.what)
    return found


def removed_in_line(engine: Engine, argv: Sequence[str]) -> list[str]:
    """The removed features a client line sets: `key=value` words, `network set NET KEY VALUE`."""
    if not is_client_line(argv):
        return []
    words = [w for w in argv[1:] if not w.startswith("-")]
    config: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if sep:
            config[key] = value
    # `network set NET KEY VALUE` (the older form, without `=`)
    if words[:2] == ["network", "set"] and len(words) == 5 and "=" not in words[3]:
        config[words[3]] = words[4]
    return removed_in_config(engine, config)


def has_fan_bridges(engine: Engine) -> bool:
    """Whether the engine still has its own fan bridges (`bridge.mode=fan`; Incus removed them)."""
    return not removed_in_config(engine, {"bridge.mode": "fan"})


def removed_features(engine: Engine, configs: Iterable[Mapping[str, str]],
                     lines: Iterable[Sequence[str]]) -> list[str]:
    """Every removed feature that these configs and lines use, each named once."""
    found: list[str] = []
    for config in configs:
        found += [f for f in removed_in_config(engine, config) if f not in found]
    for argv in lines:
        found += [f for f in removed_in_line(engine, argv) if f not in found]
    return found


# ----------------------------------------------------------------------------- on this machine
def installed(engine: Engine) -> bool:
    return all(shutil.which(tool) for tool in engine.tools())


def version(engine: Engine) -> str | None:
    """The daemon's version (`lxd --version`, `incusd --version`), or None when absent."""
    if shutil.which(engine.daemon) is None:
        return None
    try:
        proc = subprocess.run([engine.daemon, "--version"], capture_output=True, text=True,
                              timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = proc.stdout.strip().splitlines()
    return text[0].strip() if proc.returncode == 0 and text else None
