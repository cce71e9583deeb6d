"""What a host's LXD objects look like after its `commands:` ran, worked out without LXD.

Scenarios often state the tutorial's own steps (`lxc config device override app1 eth0
parent=vlan409`) instead of declaring the end state; diagrams want the end state. This
replays the common `lxc` forms over the declared objects. It is a reading aid, not a
judge: a form it does not know is left out, and LXD itself decides at apply time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.engines import is_client_line
from harness.topology import DEFAULT_BRIDGE, Host

DEFAULT_PROFILE = "default"
_DEFAULT_PROFILE_DEVICES = {"eth0": {"type": "nic", "network": DEFAULT_BRIDGE, "name": "eth0"}}

Devices = dict[str, dict[str, str]]


@dataclass
class EffectiveInstance:
    name: str
    image: str
    profiles: list[str]
    #: devices of the instance itself (declared, overridden, added by commands)
    local: Devices = field(default_factory=dict)


@dataclass
class EffectiveHost:
    networks: dict[str, dict[str, str]]  # name -> config
    network_types: dict[str, str]
    profiles: dict[str, Devices]
    instances: dict[str, EffectiveInstance]

    def devices(self, instance: str) -> Devices:
        """Profile devices in profile order, then the instance's own (which replace by name)."""
        inst = self.instances[instance]
        merged: Devices = {}
        for profile in inst.profiles:
            merged.update(self.profiles.get(profile, {}))
        merged.update(inst.local)
        return merged

    def nics(self, instance: str) -> Devices:
        return {k: v for k, v in self.devices(instance).items() if v.get("type") == "nic"}


def effective_host(host: Host) -> EffectiveHost:
    networks = {name: dict(net.config) for name, net in host.networks.items()}
    types = {name: net.type for name, net in host.networks.items()}
    profiles: dict[str, Devices] = {DEFAULT_PROFILE: _copy(_DEFAULT_PROFILE_DEVICES)}
    for name, profile in host.profiles.items():
        profiles.setdefault(name, {}).update(_copy(profile.devices))
    instances = {
        name: EffectiveInstance(name, inst.image, list(inst.profiles), _copy(inst.devices))
        for name, inst in host.instances.items()
    }
    state = EffectiveHost(networks, types, profiles, instances)
    for argv in host.commands:
        if is_client_line(argv):  # `lxc ...` or `incus ...`: the same changes
            _replay(state, [a for a in argv[1:] if not a.startswith("-")])
    return state


def _copy(devices: Devices) -> Devices:
    return {name: dict(keys) for name, keys in devices.items()}


def assignments(args: list[str]) -> dict[str, str]:
    """`k=v k2=v2`, or the older `KEY VALUE` form."""
    if any("=" in arg for arg in args):
        return dict(arg.split("=", 1) for arg in args if "=" in arg)
    if len(args) >= 2:
        return {args[0]: args[1]}
    return {}


def _replay(state: EffectiveHost, args: list[str]) -> None:
    verb, rest = args[:2], args[2:]
    if verb == ["config", "device"] and len(rest) >= 3:
        _instance_device(state, rest[0], rest[1], rest[2], rest[3:])
    elif verb == ["profile", "device"] and len(rest) >= 3:
        devices = state.profiles.setdefault(rest[1], {})
        _device_change(devices, rest[0], rest[2], rest[3:])
    elif verb == ["profile", "create"] and rest:
        state.profiles.setdefault(rest[0], {})
    elif verb == ["network", "create"] and rest:
        state.networks[rest[0]] = assignments(rest[1:])
        state.network_types.setdefault(rest[0], "bridge")
    elif verb == ["network", "delete"] and rest:
        state.networks.pop(rest[0], None)
        state.network_types.pop(rest[0], None)
    elif verb == ["network", "set"] and rest:
        state.networks.setdefault(rest[0], {}).update(assignments(rest[1:]))
    elif verb == ["network", "unset"] and len(rest) >= 2:
        state.networks.get(rest[0], {}).pop(rest[1], None)
    elif verb == ["network", "attach"] and len(rest) >= 2 and rest[1] in state.instances:
        device = rest[2] if len(rest) > 2 else rest[0]
        nic = {"type": "nic", "network": rest[0]}
        if len(rest) > 3:
            nic["name"] = rest[3]
        state.instances[rest[1]].local[device] = nic
    elif verb == ["network", "attach-profile"] and len(rest) >= 2:
        device = rest[2] if len(rest) > 2 else rest[0]
        state.profiles.setdefault(rest[1], {})[device] = {"type": "nic", "network": rest[0]}


def _instance_device(state: EffectiveHost, action: str, instance: str, device: str,
                     args: list[str]) -> None:
    inst = state.instances.get(instance)
    if inst is None:
        return
    if action == "override":
        inherited = state.devices(instance).get(device)
        if inherited is not None:
            inst.local[device] = {**inherited, **_override_keys(args)}
            _drop_empty(inst.local[device])
        return
    _device_change(inst.local, action, device, args)


def _override_keys(args: list[str]) -> dict[str, str]:
    return dict(arg.split("=", 1) for arg in args if "=" in arg)


def _device_change(devices: Devices, action: str, device: str, args: list[str]) -> None:
    if action == "add" and args:
        devices[device] = {"type": args[0], **_override_keys(args[1:])}
    elif action == "set" and device in devices:
        devices[device].update(assignments(args))
        _drop_empty(devices[device])
    elif action == "unset" and device in devices and args:
        devices[device].pop(args[0], None)
    elif action == "remove":
        devices.pop(device, None)


def _drop_empty(keys: dict[str, str]) -> None:
    """`network=` in an override removes the key (how the tutorial swaps network for parent)."""
    for key in [k for k, v in keys.items() if v == ""]:
        del keys[key]
