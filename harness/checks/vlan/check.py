"""`vlan`: an instance's frames leave on a trunk tagged with `vid`, and only `vid` comes back in.

Out: the instance sends marked broadcast frames while the trunk (`on: HOST:IFACE`) is
sniffed; every one must carry VID `vid`. In: marked frames are injected into the trunk
tagged `vid`, tagged with another VID, and untagged, while the instance's own NIC is
sniffed: only the `vid` frame may arrive, and untagged. On the local substrate the trunk
is sniffed and fed at its fabric-side end, i.e. on the wire, outside the host.
"""

from __future__ import annotations

import secrets

from harness.checks.base import Check, CheckContext, Inconclusive, Observation, register
from harness.checks.sniffing import SNIFF_LIMIT, window_line
from harness.hostnet import ovs

REPEAT = 3


@register
class Vlan(Check):

    def needed(self, ctx: CheckContext) -> tuple[str, ...]:
        host = self.params["on"].partition(":")[0]
        # an OVS that could not start (not installed) would only produce a confusing failure
        return ("openvswitch",) if _uses_ovs(ctx, host) else ()

    def observe(self, ctx: CheckContext, part: str) -> Observation:
        host, _, iface = self.params["on"].partition(":")
        vid = int(self.params["vid"])
        other = vid + 1 if vid < 4094 else vid - 1
        instance = self._instance(ctx, host)
        trunk_netns, trunk_iface, where = _trunk(ctx, host, iface)
        inst_netns = ctx.netns(instance)
        mac = ctx.instance_mac(*instance.split(":"))
        evidence = [f"trunk {self.params['on']} sniffed and fed at {where}"]
        node = ctx.lab.hosts[host]
        if node.ovs_datapath:
            why = ctx.lab.capability_notes.get("openvswitch_datapath", "")
            userspace = node.ovs_datapath == ovs.USERSPACE
            evidence.append(f"Open vSwitch on {host}: datapath_type {node.ovs_datapath}"
                            + (f" (userspace): {why}" if userspace and why else ""))

        # out: instance -> trunk
        out_mark = f"harness-vlan-out-{secrets.token_hex(4)}"
        sniffer = ctx.probes.start(
            trunk_netns, "frames.watch", wait_ready=True, iface=trunk_iface, marks=[out_mark],
            duration=SNIFF_LIMIT, count=REPEAT, pcap=ctx.pcap(self.spec.id, "trunk-out"))
        ctx.probes.call(inst_netns, "frames.send_marked", iface="eth0", repeat=REPEAT,
                        frames=[{"mark": out_mark, "src": mac}])
        seen = sniffer.finish()
        out_tags = seen["seen"][out_mark]
        evidence.append(window_line(f"the trunk ({where})", seen))
        out_ok = bool(out_tags) and all(tag == vid for tag in out_tags)
        evidence.append(f"{instance} sent {REPEAT} frames; on the trunk: {_tags(out_tags)}")

        # in: trunk -> instance, with the right VID, another VID, and none
        marks = {label: f"harness-vlan-in-{label}-{secrets.token_hex(3)}"
                 for label in (str(vid), str(other), "untagged")}
        sniffer = ctx.probes.start(
            inst_netns, "frames.watch", wait_ready=True, iface="eth0", marks=list(marks.values()),
            duration=SNIFF_LIMIT, pcap=ctx.pcap(self.spec.id, "instance-in"))
        ctx.probes.call(trunk_netns, "frames.send_marked", iface=trunk_iface, repeat=REPEAT,
                        frames=[{"mark": marks[str(vid)], "vlan": vid},
                                {"mark": marks[str(other)], "vlan": other},
                                {"mark": marks["untagged"]}])
        seen = sniffer.finish()
        arrived = seen["seen"]
        evidence.append(window_line(f"{instance} eth0", seen))
        reached = {label: arrived[mark] for label, mark in marks.items()}
        for label, tags in reached.items():
            sent = f"VID {label}" if label != "untagged" else "untagged"
            fate = f"reached {instance} {_tags(tags)}" if tags else f"never reached {instance}"
            evidence.append(f"injected {sent} x{REPEAT} into the trunk: {fate}")
        own = reached[str(vid)]
        in_ok = bool(own) and all(tag is None for tag in own) \
            and not reached[str(other)] and not reached["untagged"]

        if out_ok and in_ok:
            return Observation(True, f"{instance} is on VLAN {vid} of {self.params['on']}: "
                               f"frames leave tagged {vid}; only VID {vid} comes in",
                               evidence, _pcaps(ctx, self.spec.id))
        problems = []
        wrong = []  # what was seen going wrong: positive evidence, unlike "never arrived"
        if not out_tags:
            problems.append(f"no frame of {instance} reached the trunk")
        elif not out_ok:
            wrong.append(f"frames of {instance} leave {_tags(out_tags)}, not tagged {vid}")
        if not own:
            problems.append(f"VID {vid} from the trunk never reached {instance}")
        elif not all(tag is None for tag in own):
            wrong.append(f"VID {vid} from the trunk reached {instance} still tagged")
        for label in (str(other), "untagged"):
            if reached[label]:
                sent = f"VID {label}" if label != "untagged" else "untagged frames"
                wrong.append(f"{sent} from the trunk reached {instance}")
        stimulus = "; ".join(wrong) or None
        return Observation(False, "; ".join(wrong + problems), evidence,
                           _pcaps(ctx, self.spec.id), stimulus=stimulus)

    def _instance(self, ctx: CheckContext, host: str) -> str:
        if self.params.get("instance"):
            return str(self.params["instance"])
        instances = ctx.topology.hosts[host].instances
        if not instances:
            raise Inconclusive(f"{host} has no instance to send on VLAN {self.params['vid']}")
        return f"{host}:{next(iter(instances))}"


def _uses_ovs(ctx: CheckContext, host: str) -> bool:
    return host in ctx.topology.hosts and ovs.needed_by(ctx.topology.hosts[host])


def _trunk(ctx: CheckContext, host: str, iface: str) -> tuple[str, str, str]:
    """Where to sniff and inject: the fabric-side end of the host's NIC (a veth's other end,
    a VM's tap), else the NIC itself."""
    node = ctx.lab.hosts[host]
    link = node.links.get(iface)
    if link and "fabric" in ctx.lab.nodes:
        fabric = ctx.lab.nodes["fabric"]
        return f"/run/netns/{fabric.netns}", link[1], f"its fabric-side end {link[1]}"
    return ctx.host_netns(host), iface, f"{host} {iface}"


def _tags(tags: list[int | None]) -> str:
    if not tags:
        return "none seen"
    counts: dict[str, int] = {}
    for tag in tags:
        key = "untagged" if tag is None else f"VID {tag}"
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{key} x{n}" for key, n in counts.items())


def _pcaps(ctx: CheckContext, check_id: str) -> list[str]:
    return [ctx.pcap(check_id, "trunk-out"), ctx.pcap(check_id, "instance-in")]
