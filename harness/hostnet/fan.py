"""The fan (Ubuntu's FanNetworking) and a `fanctl` stand-in for kernels without fan-map.

The mapping: with overlay 10.0.0.0/8 and underlay 172.21.0.0/16, the host 172.21.3.15 owns
10.3.15.0/24, and a packet to 10.5.20.x is VXLAN-encapsulated to 172.21.5.20 (the host bits
of the underlay address become the network bits of the host's overlay slice).

Ubuntu's `fanctl` needs the kernel's fan-map patch. Where `fanctl` is not installed, the
harness puts this module first on the host's PATH as `fanctl` (see `write_fanctl`):
`fanctl up -o OVERLAY -u UNDERLAY_ADDRESS/PREFIX` then makes an LXD-managed bridge `fan-N`
(DHCP for the instances) and
- with fan-map (and on LXD: Incus removed fan bridges): LXD's own fan (`bridge.mode=fan`);
- otherwise: the host's slice on that bridge, a VXLAN device in `external` mode, and one route
  per peer host's slice, `ip route add SLICE via GW dev ftun-N onlink encap ip id VNI dst PEER`
  with a permanent neighbour entry for GW (an external VXLAN device cannot resolve ARP).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.hostnet.wrappers import write_wrapper

VXLAN_PORT = 8472  # the kernel's default, as LXD's own VXLAN tunnels use
VXLAN_OVERHEAD = 50
EMULATED = "fan emulated with vxlan external + encap routes (kernel has no fan-map)"

IPv4Network = ipaddress.IPv4Network
IPv4Address = ipaddress.IPv4Address


@dataclass(frozen=True)
class Fan:
    overlay: IPv4Network
    underlay: ipaddress.IPv4Interface  # this host's underlay address with the fan's prefix

    @property
    def underlay_net(self) -> IPv4Network:
        return self.underlay.network

    @property
    def slice_prefix(self) -> int:
        return self.overlay.prefixlen + 32 - self.underlay_net.prefixlen

    def slice_of(self, underlay_ip: IPv4Address) -> IPv4Network:
        """The overlay subnet that the host with this underlay address owns."""
        return host_slice(self.overlay, self.underlay_net, underlay_ip)

    @property
    def own_slice(self) -> IPv4Network:
        return self.slice_of(self.underlay.ip)

    @property
    def bridge(self) -> str:
        return f"fan-{self.overlay.network_address.packed[0]}"

    @property
    def tunnel(self) -> str:
        return f"ftun-{self.overlay.network_address.packed[0]}"

    @property
    def vni(self) -> int:
        return vni_of(self.overlay)


def vni_of(overlay: IPv4Network) -> int:
    """The VNI the emulated fan encapsulates with: the overlay's first octet."""
    return overlay.network_address.packed[0]


def host_slice(overlay: IPv4Network, underlay: IPv4Network, address: IPv4Address) -> IPv4Network:
    prefix = overlay.prefixlen + 32 - underlay.prefixlen
    if prefix > 30:
        raise ValueError(f"overlay {overlay} with underlay {underlay} leaves no room for hosts")
    if address not in underlay:
        raise ValueError(f"{address} is not in the underlay {underlay}")
    host_bits = int(address) - int(underlay.network_address)
    base = int(overlay.network_address) + (host_bits << (32 - prefix))
    return IPv4Network((base, prefix))


def underlay_of(overlay: IPv4Network, underlay: IPv4Network, address: IPv4Address) -> IPv4Address:
    """The underlay address a packet to overlay `address` is encapsulated to."""
    prefix = overlay.prefixlen + 32 - underlay.prefixlen
    if address not in overlay:
        raise ValueError(f"{address} is not in the overlay {overlay}")
    host_bits = (int(address) - int(overlay.network_address)) >> (32 - prefix)
    return IPv4Address(int(underlay.network_address) + host_bits)


def tunnel_mac(underlay_ip: IPv4Address) -> str:
    """A fixed MAC per host, so that peers can hold a permanent neighbour entry for it."""
    return "02:fa:" + ":".join(f"{b:02x}" for b in underlay_ip.packed)


def up_commands(fan: Fan, peers: list[IPv4Address], underlay_mtu: int) -> list[list[str]]:
    """`ip` commands of the emulated fan (after the LXD bridge with the host's slice exists)."""
    commands = [
        ["ip", "link", "add", fan.tunnel, "mtu", str(underlay_mtu - VXLAN_OVERHEAD),
         "type", "vxlan", "external", "dstport", str(VXLAN_PORT)],
        ["ip", "link", "set", fan.tunnel, "address", tunnel_mac(fan.underlay.ip), "up"],
    ]
    for peer in peers:
        if peer == fan.underlay.ip or peer not in fan.underlay_net:
            continue
        slice_ = fan.slice_of(peer)
        gateway = str(slice_.network_address + 1)
        commands += [
            ["ip", "neigh", "replace", gateway, "lladdr", tunnel_mac(peer), "dev", fan.tunnel,
             "nud", "permanent"],
            ["ip", "route", "replace", str(slice_), "via", gateway, "dev", fan.tunnel, "onlink",
             "encap", "ip", "id", str(fan.vni), "dst", str(peer)],
        ]
    return commands


def lxd_network(fan: Fan, fan_map: bool, client: str = "lxc") -> list[str]:
    """`lxc network create` (or `incus ...`) of the bridge instances attach to."""
    if fan_map:
        return [client, "network", "create", fan.bridge, "bridge.mode=fan",
                f"fan.underlay_subnet={fan.underlay_net}", f"fan.overlay_subnet={fan.overlay}"]
    gateway = f"{fan.own_slice.network_address + 1}/{fan.own_slice.prefixlen}"
    # No NAT: LXD's masquerade rule would also rewrite traffic to the other slices.
    return [client, "network", "create", fan.bridge, f"ipv4.address={gateway}", "ipv4.nat=false",
            "ipv6.address=none"]


# ---------------------------------------------------------------------------------- stand-in
def write_fanctl(tool_dir: Path, peers: list[str], fan_map: bool, client: str = "lxc") -> Path:
    """`fan_map`: use the engine's own fan bridge (only where the kernel has fan-map and the
    engine has `bridge.mode=fan`); `client`: the engine's client (lxc, incus)."""
    args = ["--state", str(tool_dir / "fanctl.json"), "--client", client]
    for peer in peers:
        args += ["--peer", peer]
    if fan_map:
        args.append("--fan-map")
    return write_wrapper(tool_dir, "fanctl", "harness.hostnet.fan", [*args, "--"])


def _run(argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"fanctl: {' '.join(argv)} failed: {(proc.stdout + proc.stderr).strip()}")


def _device_mtu(address: IPv4Address) -> int:
    out = subprocess.run(["ip", "-j", "-4", "addr"], capture_output=True, text=True, check=True)
    for link in json.loads(out.stdout):
        if any(a.get("local") == str(address) for a in link.get("addr_info", [])):
            return int(link["mtu"])
    raise SystemExit(f"fanctl: no interface of this host has the underlay address {address}")


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="fanctl", description="harness stand-in for fanctl")
    parser.add_argument("--state", required=True)
    parser.add_argument("--peer", action="append", default=[])
    parser.add_argument("--fan-map", action="store_true")
    parser.add_argument("--client", default="lxc")
    parser.add_argument("verb", choices=["up", "down", "show"])
    parser.add_argument("-o", "--overlay")
    parser.add_argument("-u", "--underlay")
    args, rest = parser.parse_known_args([a for a in argv if a != "--"])
    if rest:
        parser.error(f"the harness's fanctl stand-in does not know {' '.join(rest)}")
    if args.verb != "show" and not (args.overlay and args.underlay):
        parser.error(f"fanctl {args.verb} needs -o OVERLAY and -u UNDERLAY")
    return args


def main(argv: list[str]) -> int:
    args = _parse(argv)
    state_path = Path(args.state)
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    if args.verb == "show":
        print(f"{'Bridge':<16} {'Underlay':<20} {'Overlay':<20} Flags")
        for bridge, entry in state.items():
            print(f"{bridge:<16} {entry['underlay']:<20} {entry['overlay']:<20} {entry['flags']}")
        return 0
    fan = Fan(IPv4Network(args.overlay), ipaddress.IPv4Interface(args.underlay))
    if args.verb == "up":
        _run(lxd_network(fan, args.fan_map, args.client))
        if not args.fan_map:
            mtu = _device_mtu(fan.underlay.ip)
            for command in up_commands(fan, [IPv4Address(p) for p in args.peer], mtu):
                _run(command)
        flags = "lxd fan" if args.fan_map else "emulated (vxlan external + encap routes)"
        state[fan.bridge] = {"underlay": str(fan.underlay), "overlay": str(fan.overlay),
                             "flags": flags}
    else:
        _run([args.client, "network", "delete", fan.bridge])  # refused while instances use it
        if not args.fan_map:
            _run(["ip", "link", "del", fan.tunnel])  # its routes and neighbours go with it
        state.pop(fan.bridge, None)
    state_path.write_text(json.dumps(state))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
