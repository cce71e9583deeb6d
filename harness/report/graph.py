"""A scenario's topology as a Graphviz diagram: `harness graph`, and the HTML report's picture.

`topology_dot` is pure (Topology -> DOT text, deterministic, golden-tested); `render_svg`
runs Graphviz's `dot` and returns None when it is not installed, so a missing Graphviz
never fails a run.

What is drawn: segments as switches, upstream and peers on them; per host a cluster with
its NICs, the bridges its `setup:` makes (brctl, ovs-vsctl incl. fake VLAN bridges, ip
link), its LXD networks (address, NAT, tunnels) and its instances with one edge per NIC
(nictype, reserved address, vlan) as they stand after the host's `commands:`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field

from harness import engines
from harness.lxd.effective import DEFAULT_BRIDGE, EffectiveHost, effective_host
from harness.topology import (
    DEFAULT_SEGMENT,
    UNDERLAY_NIC,
    UPSTREAM,
    UPSTREAM_WAN_ADDRESS,
    Host,
    Topology,
)

DEFAULT_VXLAN_GROUP = "239.0.0.1"  # LXD's tunnel.NAME.group default
DOT_TIMEOUT = 20.0

_STYLE = {
    "segment": {"shape": "box", "style": "rounded,filled", "fillcolor": "#d9d9d9"},
    "upstream": {"shape": "doubleoctagon", "style": "filled", "fillcolor": "#fde2c8"},
    "peer": {"shape": "box", "style": "filled", "fillcolor": "#eeeeee"},
    "nic": {"shape": "box", "style": "filled", "fillcolor": "#ffffff", "height": "0.3"},
    "link": {"shape": "box", "style": "filled", "fillcolor": "#fff6bf"},
    "network": {"shape": "box", "style": "rounded,filled", "fillcolor": "#cfe6ff"},
    "instance": {"shape": "box3d", "style": "filled", "fillcolor": "#d8f5d0"},
    "unknown": {"shape": "box", "style": "dashed"},
}


# ------------------------------------------------------------------------------- DOT text
def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _label(lines: Iterable[str]) -> str:
    """Several lines as one DOT label (\\n is DOT's own line break, not Python's)."""
    escaped = (line.replace("\\", "\\\\").replace('"', '\\"') for line in lines)
    return '"' + "\\n".join(escaped) + '"'


def _attrs(attrs: dict[str, str]) -> str:
    parts = [f"{key}={value if key == 'label' else _quote(value)}" for key, value in attrs.items()]
    return " [" + ", ".join(parts) + "]" if parts else ""


#: how a node or edge that a stage added or changed is drawn
_CHANGED = {"color": "#d62728", "penwidth": "2.5"}

EdgeKey = tuple[str, str, tuple[str, ...]]


@dataclass
class _Dot:
    lines: list[str] = field(default_factory=list)
    nodes: set[str] = field(default_factory=set)
    indent: int = 1
    #: what was drawn, for comparing two pictures (a training lab's stages)
    labels: dict[str, tuple[str, ...]] = field(default_factory=dict)
    edge_keys: list[EdgeKey] = field(default_factory=list)
    #: nodes and edges drawn in the "changed" colour
    changed_nodes: frozenset[str] = frozenset()
    changed_edges: frozenset[EdgeKey] = frozenset()
    #: draw lxdbr0 on every host even when nothing is on it (a training lab's pictures, where
    #: stages move instances off it and back)
    every_default_bridge: bool = False

    def node(self, node_id: str, kind: str, label: Iterable[str]) -> None:
        label = tuple(label)
        self.nodes.add(node_id)
        self.labels[node_id] = label
        attrs = {"label": _label(label), **_STYLE[kind]}
        if node_id in self.changed_nodes:
            attrs.update(_CHANGED)
        self.lines.append("  " * self.indent + _quote(node_id) + _attrs(attrs))

    def edge(self, a: str, b: str, label: Iterable[str] = (), **attrs: str) -> None:
        label = tuple(label)
        self.edge_keys.append((a, b, label))
        all_attrs = {"label": _label(label)} if label else {}
        all_attrs.update(attrs)
        if (a, b, label) in self.changed_edges:
            all_attrs.update(_CHANGED)
        self.lines.append("  " * self.indent + f"{_quote(a)} -- {_quote(b)}" + _attrs(all_attrs))

    def raw(self, line: str) -> None:
        self.lines.append("  " * self.indent + line)


# ------------------------------------------------------------------------------- setup links
@dataclass
class SetupLink:
    """An interface a host's `setup:` creates."""

    name: str
    kind: str  # "Linux bridge (brctl)", "OVS bridge", "macvlan", ...
    details: list[str] = field(default_factory=list)


@dataclass
class SetupPicture:
    links: dict[str, SetupLink] = field(default_factory=dict)
    #: (a, b, label): a port in a bridge, a fake bridge on its parent, a macvlan on its NIC
    edges: list[tuple[str, str, str]] = field(default_factory=list)
    addresses: dict[str, list[str]] = field(default_factory=dict)
    #: OVS tunnel ports: (port, remote address, label such as "gre key 10")
    tunnels: list[tuple[str, str, str]] = field(default_factory=list)


def setup_picture(setup: Iterable[tuple[str, ...]]) -> SetupPicture:
    """Read brctl, ovs-vsctl and `ip link/addr` lines; other commands are left out."""
    picture = SetupPicture()
    for argv in setup:
        if not argv:
            continue
        program, args = os.path.basename(argv[0]), list(argv[1:])
        if program == "brctl":
            _brctl(picture, args)
        elif program == "ovs-vsctl":
            for command in _ovs_commands(args):
                _ovs(picture, command)
        elif program == "ip":
            _ip(picture, args)
        elif program == "fanctl":
            _fanctl(picture, args)
    return picture


def _fanctl(picture: SetupPicture, args: list[str]) -> None:
    """`fanctl up -o 10.0.0.0/8 -u 172.21.3.15/16` makes the bridge fan-10."""
    pairs = {args[i]: args[i + 1] for i in range(len(args) - 1)}
    overlay = pairs.get("-o")
    if args[:1] != ["up"] or not overlay:
        return
    name = f"fan-{overlay.split('.')[0]}"
    details = [f"overlay {overlay}"] + ([f"underlay {pairs['-u']}"] if "-u" in pairs else [])
    picture.links[name] = SetupLink(name, "fan bridge (fanctl)", details)


def _brctl(picture: SetupPicture, args: list[str]) -> None:
    if args[:1] == ["addbr"] and len(args) >= 2:
        picture.links[args[1]] = SetupLink(args[1], "Linux bridge (brctl)")
    elif args[:1] == ["addif"] and len(args) >= 3:
        for port in args[2:]:
            picture.edges.append((args[1], port, "port"))
    elif args[:1] == ["delif"] and len(args) >= 3:
        for port in args[2:]:
            if (args[1], port, "port") in picture.edges:
                picture.edges.remove((args[1], port, "port"))
    elif args[:1] == ["delbr"] and len(args) >= 2:
        picture.links.pop(args[1], None)


def _ovs_commands(args: list[str]) -> list[list[str]]:
    """ovs-vsctl chains commands with `--`; options (`--may-exist`) are dropped."""
    commands: list[list[str]] = [[]]
    for arg in args:
        if arg == "--":
            commands.append([])
        elif not arg.startswith("-"):
            commands[-1].append(arg)
    return [c for c in commands if c]


def _ovs(picture: SetupPicture, command: list[str]) -> None:
    verb, rest = command[0], command[1:]
    if verb == "add-br" and len(rest) == 3:
        bridge, parent, vid = rest
        picture.links[bridge] = SetupLink(bridge, "OVS fake bridge", [f"VID {vid}"])
        picture.edges.append((bridge, parent, f"VID {vid}"))
    elif verb == "add-br" and rest:
        picture.links[rest[0]] = SetupLink(rest[0], "OVS bridge")
    elif verb == "add-port" and len(rest) >= 2:
        settings = dict(arg.split("=", 1) for arg in rest[2:] if "=" in arg)
        label = f"tag {settings['tag']}" if "tag" in settings else "port"
        picture.edges.append((rest[0], rest[1], label))
    elif verb == "set" and rest[:1] in (["interface"], ["Interface"]) and len(rest) >= 3:
        _ovs_interface(picture, rest[1], dict(a.split("=", 1) for a in rest[2:] if "=" in a))


def _ovs_interface(picture: SetupPicture, name: str, settings: dict[str, str]) -> None:
    """`set interface gre0 type=gre options:remote_ip=... options:key=10`: a tunnel port."""
    kind = settings.get("type")
    if not kind:
        return
    remote, key = settings.get("options:remote_ip"), settings.get("options:key")
    details = [f"key {key}"] if key else []
    details += [f"-> {remote}"] if remote else []
    picture.links[name] = SetupLink(name, f"OVS {kind} port", details)
    if remote:
        picture.tunnels.append((name, remote, kind + (f" key {key}" if key else "")))


def _ip(picture: SetupPicture, args: list[str]) -> None:
    while args and args[0].startswith("-"):
        del args[: 2 if args[0] in ("-n", "-netns") else 1]
    if len(args) < 3:
        return
    obj, action, rest = args[0], args[1], args[2:]
    if obj in ("link", "l") and action in ("add", "a"):
        _ip_link_add(picture, rest)
    elif obj in ("link", "l") and action in ("set", "s"):
        words = rest[1:] if rest[0] == "dev" else rest
        if "master" in words[1:-1]:
            picture.edges.append((words[words.index("master") + 1], words[0], "port"))
    elif obj in ("addr", "address", "a") and action in ("add", "a") and "dev" in rest[:-1]:
        device = rest[rest.index("dev") + 1]
        picture.addresses.setdefault(device, []).append(rest[0])


def _ip_link_add(picture: SetupPicture, rest: list[str]) -> None:
    name = parent = kind = None
    details: list[str] = []
    i = 0
    while i < len(rest):
        word, value = rest[i], rest[i + 1] if i + 1 < len(rest) else None
        if word in ("name", "dev") and value:
            name, i = value, i + 2
        elif word == "link" and value:
            parent, i = value, i + 2
        elif word == "type" and value:
            kind = value
            details = _type_details(rest[i + 2 :])
            break
        elif name is None and not word.startswith("-"):
            name, i = word, i + 1
        else:
            i += 2 if value is not None else 1
    if name:
        picture.links[name] = SetupLink(name, kind or "link", details)
        if parent:
            picture.edges.append((name, parent, kind or "link"))
        peer = _veth_peer(rest) if kind == "veth" else None
        if peer:
            picture.links[peer] = SetupLink(peer, "veth")
            picture.edges.append((name, peer, "veth pair"))


def _veth_peer(words: list[str]) -> str | None:
    after = words[words.index("peer") + 1 :] if "peer" in words else []
    if after[:1] == ["name"]:
        after = after[1:]
    return after[0] if after else None


def _type_details(words: list[str]) -> list[str]:
    """The interesting words after `type KIND`: vxlan id and port, macvlan mode."""
    pairs = {words[i]: words[i + 1] for i in range(len(words) - 1)}
    shown = {"id": "VNI", "mode": "mode", "dstport": "port", "remote": "remote"}
    return [f"{label} {pairs[key]}" for key, label in shown.items() if key in pairs]


# ------------------------------------------------------------------------------- the graph
def topology_dot(topology: Topology, title: Iterable[str] = (),
                 changed: Drawn | None = None, every_default_bridge: bool = False) -> str:
    """The DOT text; `title` replaces the scenario's name and description as the caption,
    what `changed` holds is drawn in red (a training lab's stage: what it added)."""
    dot = _draw(topology, title, changed, every_default_bridge)
    return "graph " + _quote(topology.name) + " {\n" + "\n".join(dot.lines) + "\n}\n"


@dataclass(frozen=True)
class Drawn:
    """The nodes (id -> label) and edges of a picture, to compare two of them."""

    nodes: dict[str, tuple[str, ...]]
    edges: frozenset[EdgeKey]


def drawn(topology: Topology, every_default_bridge: bool = False) -> Drawn:
    dot = _draw(topology, every_default_bridge=every_default_bridge)
    return Drawn(dict(dot.labels), frozenset(dot.edge_keys))


def _draw(topology: Topology, title: Iterable[str] = (), changed: Drawn | None = None,
          every_default_bridge: bool = False) -> _Dot:
    dot = _Dot(every_default_bridge=every_default_bridge)
    if changed is not None:
        dot.changed_nodes, dot.changed_edges = frozenset(changed.nodes), changed.edges
    caption = list(title) or [_title(topology)]
    dot.raw(f"graph [label={_label(caption)}, labelloc=t, fontname=Helvetica, "
            "fontsize=12, newrank=true, nodesep=0.3, ranksep=0.5];")
    dot.raw('node [fontname=Helvetica, fontsize=10];')
    dot.raw('edge [fontname=Helvetica, fontsize=9];')
    for segment in topology.segments.values():
        dot.node(_segment_id(segment.name), "segment",
                 [f"segment {segment.name}", f"MTU {segment.mtu}"])
    gateways = sorted({str(h.gateway) for h in topology.hosts.values()})
    dot.node(UPSTREAM, "upstream", [UPSTREAM, str(UPSTREAM_WAN_ADDRESS.ip)])
    dot.edge(UPSTREAM, _segment_id(DEFAULT_SEGMENT), gateways)
    for peer in topology.peers.values():
        label = [peer.name + (" (implicit)" if peer.implicit else "")]
        label += [str(peer.address)] if peer.address else []
        label += [f"DHCP {peer.dhcp_range}"] if peer.dhcp_range else []
        dot.node(_peer_id(peer.name), "peer", label)
        dot.edge(_peer_id(peer.name), _segment_id(peer.segment))
    tunnels = _Tunnels(topology)
    engine = engines.get(topology.engine)
    for host in topology.hosts.values():
        _host_cluster(dot, host, tunnels, engine)
    for a, b, label in tunnels.edges():
        dot.edge(a, b, [label], style="dashed", color="#1f5fbf", constraint="false")
    return dot


def _title(topology: Topology) -> str:
    return f"{topology.name}: {topology.description}" if topology.description else topology.name


def _segment_id(name: str) -> str:
    return f"segment:{name}"


def _peer_id(name: str) -> str:
    return f"peer:{name}"


def _id(host: Host, name: str) -> str:
    return f"{host.name}/{name}"


def _host_cluster(dot: _Dot, host: Host, tunnels: _Tunnels, engine: engines.Engine) -> None:
    state = effective_host(host)
    picture = setup_picture(host.setup)
    nics = {UNDERLAY_NIC: DEFAULT_SEGMENT, **{n: nic.segment for n, nic in host.interfaces.items()}}
    instance_edges = [(inst, device, nic, _nic_parent(nic)) for inst in state.instances
                      for device, nic in state.nics(inst).items() if _nic_parent(nic)]
    implicit_bridge = DEFAULT_BRIDGE not in state.networks and (dot.every_default_bridge or any(
        parent == DEFAULT_BRIDGE for *_, parent in instance_edges))

    dot.raw(f"subgraph {_quote('cluster_' + host.name)} {{")
    dot.indent += 1
    dot.raw(f"label={_label([host.name])}; style=rounded; color=\"#7f7f7f\";")
    for name in nics:
        label = [name] + ([str(host.underlay)] if name == UNDERLAY_NIC else [])
        mtu = host.interfaces[name].mtu if name in host.interfaces else None
        label += [f"MTU {mtu}"] if mtu else []
        dot.node(_id(host, name), "nic", label + picture.addresses.get(name, []))
    for link in picture.links.values():
        label = [link.name, link.kind, *link.details, *picture.addresses.get(link.name, [])]
        dot.node(_id(host, link.name), "link", label)
    for name, config in state.networks.items():
        dot.node(_id(host, name), "network", _network_label(name, state, config, engine))
    if implicit_bridge:
        init = " ".join(engine.admin_argv("init"))
        dot.node(_id(host, DEFAULT_BRIDGE), "network",
                 [DEFAULT_BRIDGE, f"{engine.title} bridge ({init})"])
    for name, inst in state.instances.items():
        dot.node(_id(host, name), "instance", [name, f"image {inst.image}"])
    # named but made by nothing drawn (a setup line not understood, a typo LXD will refuse)
    referenced = [name for edge in picture.edges for name in edge[:2]]
    referenced += [c["parent"] for c in state.networks.values() if c.get("parent")]
    referenced += [n for c in state.networks.values() for n in _external_interfaces(c)]
    referenced += [parent for *_, parent in instance_edges]
    for name in dict.fromkeys(referenced):
        if _id(host, name) not in dot.nodes:
            dot.node(_id(host, name), "unknown", [name])
    dot.indent -= 1
    dot.raw("}")

    for name, segment in nics.items():
        dot.edge(_id(host, name), _segment_id(segment))
    for a, b, label in picture.edges:
        dot.edge(_id(host, a), _id(host, b), [label])
    for name, config in state.networks.items():
        if config.get("parent"):  # macvlan/physical/sriov networks sit on a host NIC
            dot.edge(_id(host, name), _id(host, config["parent"]), ["parent"])
        for external in _external_interfaces(config):
            dot.edge(_id(host, name), _id(host, external), ["external"])
        tunnels.add(host, name, config)
    for port, remote, label in picture.tunnels:
        tunnels.add_end(host.name, port, remote, label)
    natted = [n for n, c in state.networks.items() if c.get("ipv4.nat") == "true"]
    for name in natted + ([DEFAULT_BRIDGE] if implicit_bridge else []):
        dot.edge(_id(host, name), _id(host, UNDERLAY_NIC), ["NAT"], style="dotted")
    for inst, device, nic, parent in instance_edges:
        dot.edge(_id(host, inst), _id(host, parent), _nic_label(device, nic))


def _external_interfaces(config: dict[str, str]) -> list[str]:
    return [n.strip() for n in config.get("bridge.external_interfaces", "").split(",") if n.strip()]


def _nic_parent(nic: dict[str, str]) -> str | None:
    # both set only after an override of a `network=` NIC; LXD then wants `network=` cleared,
    # and `parent` is what the scenario means
    return nic.get("parent") or nic.get("network")


def _nic_label(device: str, nic: dict[str, str]) -> list[str]:
    label = [f"{device} {nic['nictype']}" if nic.get("nictype") else device]
    for key, shown in (("ipv4.address", ""), ("vlan", "vlan "), ("mtu", "mtu "),
                       ("hwaddr", "")):
        if nic.get(key):
            label.append(shown + nic[key])
    if nic.get("security.mac_filtering") == "true":
        label.append("mac filtering")
    return label


def _network_label(name: str, state: EffectiveHost, config: dict[str, str],
                   engine: engines.Engine) -> list[str]:
    kind = state.network_types.get(name, "bridge")
    driver = " (openvswitch)" if config.get("bridge.driver") == "openvswitch" else ""
    label = [name, f"{engine.title} {kind}{driver}"]
    if config.get("bridge.mode") == "fan":
        label.append(f"fan {config.get('fan.overlay_subnet', '240.0.0.0/8')} over "
                     f"{config.get('fan.underlay_subnet', 'auto')}")
    for key in ("ipv4.address", "ipv6.address"):
        if config.get(key) and config[key] != "none":
            label.append(config[key])
    for key in ("ipv4.dhcp.ranges", "dns.domain", "dns.mode", "bridge.mtu", "parent"):
        if config.get(key):
            label.append(f"{key} {config[key]}")
    for tunnel, keys in _tunnel_keys(config).items():
        parts = [keys.get("protocol", "?")]
        if "id" in keys:
            parts.append(f"id {keys['id']}")
        if "remote" in keys:
            parts.append(f"-> {keys['remote']}")
        elif _multicast_group(keys):
            parts.append(f"multicast {_multicast_group(keys)}")
        label.append(f"tunnel {tunnel}: " + " ".join(parts))
    return label


def _multicast_group(keys: dict[str, str]) -> str | None:
    """A VXLAN tunnel without `remote` is multicast, to LXD's default group unless set."""
    if keys.get("protocol") == "vxlan" and "remote" not in keys:
        return keys.get("group", DEFAULT_VXLAN_GROUP)
    return None


def _tunnel_keys(config: dict[str, str]) -> dict[str, dict[str, str]]:
    tunnels: dict[str, dict[str, str]] = {}
    for key, value in config.items():
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == "tunnel":
            tunnels.setdefault(parts[1], {})[parts[2]] = value
    return tunnels


class _Tunnels:
    """One dashed edge per tunnel, between the ends on both hosts when both are known.

    An end is an LXD network with `tunnel.*` keys or an OVS tunnel port; the far host is found
    by the remote address (a host's underlay, or an address its setup gives a link).
    """

    def __init__(self, topology: Topology):
        self.owner: dict[str, tuple[str, str]] = {}  # address -> (host, node holding it)
        for name, host in topology.hosts.items():
            self.owner[str(host.underlay.ip)] = (name, UNDERLAY_NIC)
            for link, addresses in setup_picture(host.setup).addresses.items():
                for address in addresses:
                    self.owner.setdefault(address.split("/")[0], (name, link))
        self.ends: list[tuple[str, str, str, str]] = []  # (host, node, remote, label)
        self.multicast: dict[tuple[str, str], list[str]] = {}  # (group, label) -> nodes

    def add(self, host: Host, network: str, config: dict[str, str]) -> None:
        for keys in _tunnel_keys(config).values():
            label = keys.get("protocol", "tunnel") + (f" {keys['id']}" if "id" in keys else "")
            group = _multicast_group(keys)
            if group:
                self.multicast.setdefault((group, label), []).append(f"{host.name}/{network}")
            else:
                self.add_end(host.name, network, keys.get("remote", ""), label)

    def add_end(self, host: str, node: str, remote: str, label: str) -> None:
        self.ends.append((host, node, remote, label))

    def edges(self) -> list[tuple[str, str, str]]:
        edges: list[tuple[str, str, str]] = []
        drawn: set[frozenset[str]] = set()
        for host, node, remote, label in self.ends:
            if remote not in self.owner:
                continue  # multicast or an address outside the scenario: the label says it
            other, holder = self.owner[remote]
            mine = {a for a, (h, _) in self.owner.items() if h == host}
            back = [(n, lab) for h, n, r, lab in self.ends if h == other and r in mine]
            # two tunnels between the same hosts (GRE and VXLAN): the end of the same kind
            far = next((n for n, lab in back if lab == label), back[0][0] if back else holder)
            key = frozenset((f"{host}/{node}", f"{other}/{far}"))
            if key not in drawn:
                drawn.add(key)
                edges.append((f"{host}/{node}", f"{other}/{far}", label))
        for (group, label), nodes in self.multicast.items():
            # a star from the first member: every member hears every other through the group
            edges += [(nodes[0], node, f"{label} {group}") for node in nodes[1:]]
        return edges


# ------------------------------------------------------------------------------- rendering
def graphviz_available() -> bool:
    return shutil.which("dot") is not None


def render(dot_text: str, fmt: str = "svg") -> bytes | None:
    """`dot -T<fmt>` output, or None when Graphviz is not installed or fails."""
    if not graphviz_available():
        return None
    try:
        done = subprocess.run(["dot", f"-T{fmt}"], input=dot_text.encode(), capture_output=True,
                              timeout=DOT_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 and done.stdout else None


def render_svg(dot_text: str) -> str | None:
    svg = render(dot_text, "svg")
    return svg.decode("utf-8") if svg and b"<svg" in svg else None


def topology_svg(topology: Topology) -> str | None:
    """The diagram for the HTML report; None (never an exception) when it cannot be drawn."""
    try:
        return render_svg(topology_dot(topology))
    except Exception:  # a drawing problem must never fail a run
        return None
