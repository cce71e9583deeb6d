"""Applying a host's part of the topology: setup commands, then LXD objects, then `lxc` lines.

LXD's keys are passed through verbatim; LXD itself is the judge of what they mean, and
its error message is reported with the object it was about.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import pylxd
from pylxd.exceptions import LXDAPIException, NotFound

from harness.engines import LXD, Engine, translate
from harness.lxd.client import instance_state
from harness.progress import progress
from harness.shell import CommandError
from harness.topology import DEFAULT_BRIDGE, Host, Instance

log = logging.getLogger(__name__)

#: instances of one host created (and started) at the same time
MAX_PARALLEL_INSTANCES = 8


class ApplyError(RuntimeError):
    """Applying one object failed; the message names host, object and LXD's reason."""


#: Runs argv on a host, as root, wherever the host is (the substrate makes it: see
#: `Substrate.runner`); returns stdout, raises CommandError on failure.
HostRunner = Callable[[list[str]], str]


def apply_host(host: Host, client: pylxd.Client, runner: HostRunner,
               engine: Engine = LXD) -> dict[str, float]:
    """Apply everything of one host in the documented order; return seconds per step.

    `lxc ...` and `incus ...` lines run the engine's client (see harness.engines.translate).
    """
    timings: dict[str, float] = {}
    started = time.monotonic()
    for argv in host.setup:
        _step(host, engine, f"setup `{' '.join(argv)}`",
              lambda a=argv: runner(translate(engine, a)))
    timings["setup"] = time.monotonic() - started

    started = time.monotonic()
    for network in host.networks.values():
        if network.name == DEFAULT_BRIDGE:
            continue  # made by the substrate with this config at `lxd init`
        _step(host, engine, f"network {network.name}", lambda n=network: client.networks.create(
            n.name, type=n.type, config=dict(n.config), description=n.description))
    for profile in host.profiles.values():
        _step(host, engine, f"profile {profile.name}", lambda p=profile: _put_profile(client, p))
    # Not while networks are being made: even a NIC with only `parent` set writes into its
    # managed network's dnsmasq folder when the instance is created.
    instances = list(host.instances.values())
    _together([partial(_step, host, engine, f"instance {i.name}", partial(_create, client, i))
               for i in instances])
    timings[engine.name] = time.monotonic() - started  # "lxd 1.2 s", "incus 1.2 s"

    started = time.monotonic()

    def start(instance: Instance) -> None:
        try:
            _step(host, engine, f"starting instance {instance.name}",
                  lambda: client.instances.get(instance.name).start(wait=True))
        except ApplyError as exc:
            raise ApplyError(f"{exc}\n{_start_log(runner, engine, instance.name)}") from exc

    _together([partial(start, i) for i in instances])
    timings["start"] = time.monotonic() - started

    started = time.monotonic()
    for argv in host.commands:
        _step(host, engine, f"`{' '.join(argv)}`", lambda a=argv: runner(translate(engine, a)))
    timings["commands"] = time.monotonic() - started
    progress.info("%s: applied (%s)", host.name,
                  ", ".join(f"{k} {v:.1f} s" for k, v in timings.items() if v >= 0.05) or "fast")
    return timings


def _together(actions: list[Callable[[], None]]) -> None:
    """Run the actions at once (LXD works on several objects side by side); the first
    failure in the given order is raised once all have finished."""
    if len(actions) <= 1:
        for action in actions:
            action()
        return
    with ThreadPoolExecutor(max_workers=min(len(actions), MAX_PARALLEL_INSTANCES)) as pool:
        futures = [pool.submit(action) for action in actions]
    for future in futures:
        future.result()


def _step(host: Host, engine: Engine, what: str, action: Callable[[], object]) -> None:
    try:
        action()
    except LXDAPIException as exc:
        raise ApplyError(refusal(host.name, what, engine, _lxd_message(exc))) from exc
    except CommandError as exc:
        raise ApplyError(f"{host.name}: {what} failed (exit {exc.returncode}):\n"
                         f"{exc.output}") from exc


def refusal(host_name: str, what: str, engine: Engine, message: str) -> str:
    """The engine's no to one object, as the user reads it (pure)."""
    return f"{host_name}: {what}: {engine.title} refused: {message}"


def _start_log(runner: HostRunner, engine: Engine, name: str) -> str:
    """The error lines of liblxc's log: why the instance did not start."""
    try:
        log_text = runner([engine.client, "info", "--show-log", name])
    except CommandError as exc:
        return f"(no log: {exc.output})"
    errors = [line for line in log_text.splitlines() if " ERROR " in line]
    return "\n".join(errors[:8]) or log_text[-1500:]


def _lxd_message(exc: LXDAPIException) -> str:
    try:
        return exc.response.json().get("error") or str(exc)
    except Exception:
        return str(exc)


def _put_profile(client: pylxd.Client, profile) -> None:
    try:
        existing = client.profiles.get(profile.name)
    except NotFound:
        client.profiles.create(profile.name, config=dict(profile.config),
                               devices={k: dict(v) for k, v in profile.devices.items()},
                               description=profile.description)
        return
    existing.config = {**existing.config, **profile.config}
    existing.devices = {**existing.devices, **{k: dict(v) for k, v in profile.devices.items()}}
    if profile.description:
        existing.description = profile.description
    existing.save()


def _create(client: pylxd.Client, instance: Instance) -> None:
    config = dict(instance.config)
    client.instances.create({
        "name": instance.name,
        "source": {"type": "image", "alias": instance.image},
        "profiles": list(instance.profiles),
        "config": config,
        "devices": {k: dict(v) for k, v in instance.devices.items()},
    }, wait=True)


def wait_for_addresses(host: Host, client: pylxd.Client, timeout: float = 20) -> dict[str, float]:
    """Wait until every running instance NIC that uses DHCP has an IPv4 address.

    Returns the seconds each instance took to converge (what the tutorial calls "pulled an
    IP address from the DHCP pool"); instances that never get one are simply absent, and the
    checks that need an address then fail with the reason.
    """
    started = time.monotonic()
    pending = set(host.instances)
    converged: dict[str, float] = {}
    while pending and time.monotonic() - started < timeout:
        for name in sorted(pending):
            state = instance_state(client, name)
            if state.status != "Running":  # stopped on purpose (`lxc stop`): nothing to wait for
                pending.discard(name)
                continue
            nics = [n for k, n in (state.network or {}).items() if k != "lo"]
            if any(a["family"] == "inet" for n in nics for a in n["addresses"]):
                converged[name] = time.monotonic() - started
                pending.discard(name)
        if pending:
            time.sleep(0.05)
    return converged


def instance_pid(client: pylxd.Client, name: str) -> int:
    state = instance_state(client, name)
    if state.status != "Running" or not state.pid:
        raise ApplyError(f"instance {name} is not running (status {state.status})")
    return int(state.pid)
