"""ICMP echo probes: reachability, and DF-set path MTU probing."""

from __future__ import annotations

import errno
import random
import socket
import time

from scapy.layers.inet import ICMP, IP, ICMPerror, IPerror
from scapy.packet import Raw

IP_HEADER = 20
ICMP_HEADER = 8


def _echo(dst: str, ident: int, seq: int, size: int, df: bool, ttl: int) -> bytes:
    payload = b"\x00" * max(0, size - IP_HEADER - ICMP_HEADER)
    # src 0.0.0.0 and id 0: the kernel fills both in (IP_HDRINCL semantics)
    packet = IP(src="0.0.0.0", dst=dst, id=0, ttl=ttl, flags="DF" if df else 0)
    return bytes(packet / ICMP(type=8, id=ident, seq=seq) / Raw(payload))


def ping(dst: str, count: int = 3, size: int = 84, df: bool = False, timeout: float = 2.0,
         interval: float = 0.1, ttl: int = 64) -> dict:
    """Send `count` echo requests of total IP length `size`; report what came back.

    Returns sent/received counts, round-trip times, ICMP errors (with the next-hop MTU of
    "fragmentation needed") and local send errors (EMSGSIZE when the packet does not even
    fit the first link).
    """
    return ping_many([dst], count, size, df, timeout, interval, ttl)["replies"][0]


def ping_many(dsts: list[str], count: int = 3, size: int = 84, df: bool = False,
              timeout: float = 2.0, interval: float = 0.1, ttl: int = 64) -> dict:
    """`ping` to every address in `dsts` at once: round by round, one request to each.

    One result per destination, in the order given (`{"replies": [...]}`), each as `ping`
    reports it; a round ends when every request of it is answered or after `interval`
    (the last one after `timeout`). Sequence numbers tell the destinations apart.
    """
    ident = random.randrange(1, 0xFFFF)
    out = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    ins = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    ins.setblocking(False)
    results = [{"dst": dst, "ident": ident, "size": size, "df": df, "sent": 0, "received": 0,
                "rtt_ms": [], "reply_from": [], "errors": [], "local_errors": []}
               for dst in dsts]
    sent_at: dict[int, tuple[float, dict]] = {}  # sequence number -> (sent when, result)
    try:
        for round_ in range(count):
            for index, (dst, result) in enumerate(zip(dsts, results, strict=True)):
                seq = (round_ * len(dsts) + index) % 0xFFFF + 1
                try:
                    out.sendto(_echo(dst, ident, seq, size, df, ttl), (dst, 0))
                    sent_at[seq] = (time.monotonic(), result)
                    result["sent"] += 1
                except OSError as exc:
                    name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
                    result["local_errors"].append(f"{name}: {exc.strerror}")
            last = round_ == count - 1
            deadline = time.monotonic() + (timeout if last else interval)
            _collect(ins, ident, sent_at, results, deadline)
    finally:
        out.close()
        ins.close()
    return {"replies": results}


def _collect(ins: socket.socket, ident: int, sent_at: dict[int, tuple[float, dict]],
             results: list[dict], deadline: float) -> None:
    while time.monotonic() < deadline:
        if sum(r["received"] for r in results) >= len(sent_at):
            return  # everything answered (or nothing left the host at all)
        try:
            data = ins.recv(65535)
        except BlockingIOError:
            time.sleep(0.005)
            continue
        packet = IP(data)
        icmp = packet.getlayer(ICMP)
        if icmp is None:
            continue
        if icmp.type == 0 and icmp.id == ident and icmp.seq in sent_at:
            sent, result = sent_at[icmp.seq]
            if packet.src != result["dst"]:  # somebody else answered: not the target's reply
                result.setdefault("stray_replies", []).append(packet.src)
                continue
            result["received"] += 1
            result["rtt_ms"].append(round((time.monotonic() - sent) * 1000, 3))
            if packet.src not in result["reply_from"]:
                result["reply_from"].append(packet.src)
        elif icmp.type in (3, 11) and packet.haslayer(IPerror):
            inner = packet[ICMPerror] if packet.haslayer(ICMPerror) else None
            if inner is None or inner.id != ident or inner.seq not in sent_at:
                continue
            result = sent_at[inner.seq][1]
            error = {"from": packet.src, "type": int(icmp.type), "code": int(icmp.code)}
            if icmp.type == 3 and icmp.code == 4:
                error["next_hop_mtu"] = int(icmp.nexthopmtu)
            result["errors"].append(error)
            result["received_errors"] = len(result["errors"])
