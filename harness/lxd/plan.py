"""A scenario as the commands a person would type, host by host (`harness plan`).

The same order apply.py follows: setup lines as written, LXD networks, profiles,
instances (init, config, devices), starting them, then the scenario's `commands:`.
Every value is quoted with shlex.quote, so each line can be pasted into a shell.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping

from harness.engines import LXD, Engine, translate
from harness.topology import DEFAULT_BRIDGE, DEFAULT_SEGMENT, Host, LxdProfile, Topology

DEFAULT_PROFILE = "default"
BUSYBOX = "busybox"
BUSYBOX_TARBALL = "busybox-image.tar.gz"
#: what `lxd init` puts in the default profile
LXD_INIT_DEVICES = ("eth0", "root")


def assignments(config: Mapping[str, str]) -> list[str]:
    """LXD keys as `key=value` words; keys are safe by the schema, values are quoted."""
    return [f"{key}={shlex.quote(str(value))}" for key, value in config.items()]


def _line(*words: str) -> str:
    return " ".join(words)


def host_plan(host: Host, engine: Engine = LXD) -> list[str]:
    """The lines for one host, for the engine's client; lines starting with `#` are comments
    for the reader."""
    lines = [shlex.join(translate(engine, argv)) for argv in host.setup]
    lines += _networks(host)
    for profile in host.profiles.values():
        lines += _profile(profile)
    if any(inst.image == BUSYBOX for inst in host.instances.values()):
        lines.append(f"# image {BUSYBOX!r}: built by the harness from Debian's busybox-static;"
                     " `harness image build` writes the tarball")
        lines.append(_line("lxc image import", BUSYBOX_TARBALL, "--alias", BUSYBOX))
    for inst in host.instances.values():
        profiles = [f"-p {shlex.quote(p)}" for p in inst.profiles] or ["--no-profiles"]
        lines.append(_line("lxc init", shlex.quote(inst.image), shlex.quote(inst.name), *profiles))
        config = dict(inst.config)
        if config:
            lines.append(_line("lxc config set", shlex.quote(inst.name), *assignments(config)))
        for device, keys in inst.devices.items():
            rest = {k: v for k, v in keys.items() if k != "type"}
            lines.append(_line("lxc config device add", shlex.quote(inst.name), shlex.quote(device),
                               shlex.quote(keys.get("type", "")), *assignments(rest)))
    lines += [_line("lxc start", shlex.quote(name)) for name in host.instances]
    lines = [_for_engine(engine, line) for line in lines]
    lines += [shlex.join(translate(engine, argv)) for argv in host.commands]
    return lines


def _for_engine(engine: Engine, line: str) -> str:
    """A generated line (written for LXD) as the engine's client and admin commands read."""
    if line.startswith("lxc "):
        return f"{engine.client} {line[4:]}"
    return line.replace("`lxd init`", f"`{shlex.join(engine.admin_argv('init'))}`")


def _networks(host: Host) -> list[str]:
    lines = []
    for network in host.networks.values():
        words = assignments(network.config)
        if network.name == DEFAULT_BRIDGE:
            lines.append(f"# {DEFAULT_BRIDGE} exists already (`lxd init` made it)")
            if words:
                lines.append(_line("lxc network set", DEFAULT_BRIDGE, *words))
            continue
        kind = [] if network.type == "bridge" else [f"--type={shlex.quote(network.type)}"]
        lines.append(_line("lxc network create", shlex.quote(network.name), *kind, *words))
    return lines


def _profile(profile: LxdProfile) -> list[str]:
    name = shlex.quote(profile.name)
    lines = []
    if profile.name != DEFAULT_PROFILE:
        lines.append(_line("lxc profile create", name))
    if profile.config:
        lines.append(_line("lxc profile set", name, *assignments(profile.config)))
    for device, keys in profile.devices.items():
        if profile.name == DEFAULT_PROFILE and device in LXD_INIT_DEVICES:
            # the harness replaces a device of the default profile by name
            lines.append(_line("lxc profile device remove", name, shlex.quote(device)))
        rest = {k: v for k, v in keys.items() if k != "type"}
        lines.append(_line("lxc profile device add", name, shlex.quote(device),
                           shlex.quote(keys.get("type", "")), *assignments(rest)))
    return lines


def plan(topology: Topology, engine: Engine = LXD) -> dict[str, list[str]]:
    """Host name -> its lines, in host order."""
    return {name: host_plan(host, engine) for name, host in topology.hosts.items()}


def host_header(host: Host) -> str:
    nics = [f"eth0 {host.underlay} on segment {DEFAULT_SEGMENT}"]
    nics += [f"{nic.name} on segment {nic.segment}" for nic in host.interfaces.values()]
    return f"# ---- {host.name}: " + "; ".join(nics)


def format_plan(topology: Topology, engine: Engine = LXD, note: str = "") -> str:
    """The whole plan as text: a preamble (with `note` under the title), then one block per
    host."""
    init = shlex.join(engine.admin_argv("init"))
    out = [
        f"# {topology.name}" + (f": {topology.description}" if topology.description else ""),
        *([f"# {note}"] if note else []),
        f"# engine: {engine.title}. What the harness does on each host, as commands. Each host",
        f"# starts from `{init}` with bridge {DEFAULT_BRIDGE} and a profile {DEFAULT_PROFILE!r}"
        " whose eth0 is on it.",
    ]
    for name, lines in plan(topology, engine).items():
        out += ["", host_header(topology.hosts[name]), *lines]
    if topology.upstream_routes:
        out += ["", f"# ---- the upstream router (outside {engine.title}): routes to prefixes "
                "behind hosts"]
        out += [_line("ip route add", prefix, "via", str(topology.hosts[host].underlay.ip))
                for prefix, host in topology.upstream_routes.items()]
    return "\n".join(out) + "\n"
