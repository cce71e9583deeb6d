"""Flow probes: one TCP handshake, UDP datagram or ICMP echo, with a listener at the far end.

`listen` runs in the receiving namespace: it binds the port when it is free (a TCP listener
that accepts, a UDP socket that answers), and watches the namespace's IP stack with a raw
socket, which sees every packet of the protocol that gets past the namespace's input path,
whether or not a program owns the port. It says "ready" only once the watcher has seen a
sentinel of its own, sent to the namespace's loopback. `connect` runs in the sending
namespace: it sends the stimulus through the kernel's own sockets and sniffs its outgoing
interface (proven listening the same way, with a sentinel frame), so that what came back is
known exactly: a handshake, a TCP RST, an ICMP error (and from whom), or nothing.

Every stimulus carries a token (in the TCP payload after the handshake, the UDP payload, the
ICMP echo data), so arrivals are matched to this probe and to nothing else on the wire.
"""

from __future__ import annotations

import errno
import random
import secrets
import select
import socket
import time
from collections.abc import Callable

from scapy.config import conf
from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import ICMP, IP, TCP, UDP, ICMPerror, IPerror, TCPerror, UDPerror
from scapy.packet import Raw
from scapy.utils import wrpcap

from harness.probes.listening import start_listening
from harness.probes.stopping import stop_requested

IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)  # Linux's value; Python < 3.12 lacks the name
PROTOCOLS = {"tcp": socket.IPPROTO_TCP, "udp": socket.IPPROTO_UDP, "icmp": socket.IPPROTO_ICMP}
#: ICMP destination-unreachable codes, as a person reads them
UNREACHABLE = {0: "net unreachable", 1: "host unreachable", 2: "protocol unreachable",
               3: "port unreachable", 4: "fragmentation needed", 9: "net prohibited",
               10: "host prohibited", 13: "administratively prohibited"}


# ------------------------------------------------------------------------------ receiving side

def listen(proto: str, port: int = 0, token: str = "", duration: float = 5.0,
           ready: Callable[[], None] | None = None) -> dict:
    """Listen for the flow marked `token` for at most `duration` seconds.

    Returns what arrived: `arrivals` (packets the raw watcher saw: source, ports, whether
    the token was in them), `accepted` (TCP connections accepted, with the data they sent),
    `answered` (UDP datagrams answered), and whether the port could be bound (`bound`; when
    another program owns it, `bind_error` says so and that program answers instead).
    """
    number = PROTOCOLS[proto]
    # the check's stop (runner.Running.stop): the sender is done, answer with what was seen
    stop = stop_requested()
    result: dict = {"proto": proto, "port": port, "bound": False, "bind_error": None,
                    "arrivals": [], "accepted": [], "answered": [], "addresses": _addresses()}
    watcher = socket.socket(socket.AF_INET, socket.SOCK_RAW, number)
    server = _bind(proto, port, result)
    try:
        result["listening_after"] = round(_prove_listening(watcher, proto, port), 3)
        if ready is not None:
            ready()
        deadline = time.monotonic() + duration
        sockets = [s for s in (watcher, server) if s is not None]
        clients: list[socket.socket] = []
        while time.monotonic() < deadline and not stop.is_set() \
                and not _done(proto, result, token):
            readable, _, _ = select.select(sockets + clients, [], [],
                                           max(0.0, min(0.1, deadline - time.monotonic())))
            for sock in readable:
                if sock is watcher:
                    _watch(watcher.recv(65535), proto, port, token, result)
                elif sock is server and proto == "tcp":
                    client, peer = server.accept()
                    if peer[0].startswith("127."):  # the sentinel's own connection
                        client.close()
                        continue
                    client.setblocking(False)
                    clients.append(client)
                    result["accepted"].append({"from": peer[0], "sport": peer[1], "data": ""})
                elif sock is server:
                    data, ancillary, _flags, peer = server.recvmsg(65535, 256)
                    if peer[0].startswith("127."):  # the sentinel
                        continue
                    text = data.decode(errors="replace")
                    # answer from the address it was sent to (conntrack and NAT expect that)
                    server.sendmsg([f"answer {text}".encode()], _pktinfo(ancillary), 0, peer)
                    result["answered"].append({"from": peer[0], "sport": peer[1], "data": text})
                else:
                    _read_client(sock, clients, result)
        for client in clients:
            client.close()
    finally:
        watcher.close()
        if server is not None:
            server.close()
    return result


def _prove_listening(watcher: socket.socket, proto: str, port: int,
                     within: float = 10.0) -> float:
    """Seconds until the watcher saw a packet of the protocol that this namespace sent to its
    own loopback (the port's SYN, a datagram, an echo request): only then is it listening."""
    mark = f"harness-sentinel-{secrets.token_hex(4)}".encode()
    started = time.monotonic()
    while time.monotonic() - started < within:
        _send_sentinel(proto, port, mark)
        until = time.monotonic() + 0.2
        while time.monotonic() < until:
            readable, _, _ = select.select([watcher], [], [], 0.05)
            if readable and _is_sentinel(IP(watcher.recv(65535)), proto, port, mark):
                return time.monotonic() - started
    raise RuntimeError(f"the {proto} watcher never saw its own sentinel on loopback in "
                       f"{within:.0f} s: it is not listening")


def _send_sentinel(proto: str, port: int, mark: bytes) -> None:
    if proto == "udp":
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(mark, ("127.0.0.1", port))
    elif proto == "tcp":
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setblocking(False)
            try:
                sock.connect(("127.0.0.1", port))
            except (BlockingIOError, ConnectionRefusedError):
                pass
    else:
        with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
            sock.sendto(bytes(ICMP(type=8, id=1, seq=1) / Raw(mark)), ("127.0.0.1", 0))


def _is_sentinel(packet, proto: str, port: int, mark: bytes) -> bool:
    if packet.src != "127.0.0.1":
        return False
    if proto == "tcp":
        return packet.haslayer(TCP) and packet[TCP].dport == port
    if proto == "udp":
        return packet.haslayer(UDP) and mark in bytes(packet[UDP].payload)
    return packet.haslayer(ICMP) and mark in bytes(packet[ICMP].payload)


def _addresses() -> list[str]:
    return sorted({ip for iface in conf.ifaces.values() for ip in iface.ips.get(4, [])
                   if not ip.startswith("127.")})


def _bind(proto: str, port: int, result: dict) -> socket.socket | None:
    if proto == "icmp":
        return None  # the kernel answers echo requests itself
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    server = socket.socket(socket.AF_INET, kind)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        server.bind(("0.0.0.0", port))
    except OSError as exc:
        server.close()
        result["bind_error"] = f"{errno.errorcode.get(exc.errno or 0, exc.errno)}: " \
                               f"{exc.strerror} (another program owns {proto} port {port})"
        return None
    if proto == "tcp":
        server.listen(8)
    else:
        server.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
    server.setblocking(False)
    result["bound"] = True
    return server


def _pktinfo(ancillary: list) -> list:
    """The reply's source address: the destination of the datagram answered (in_pktinfo
    with the interface index cleared, so routing picks the way back)."""
    for level, kind, data in ancillary:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO:
            return [(level, kind, b"\0" * 4 + data[8:12] + b"\0" * 4)]
    return []


def _read_client(client: socket.socket, clients: list[socket.socket], result: dict) -> None:
    peer = client.getpeername()
    try:
        data = client.recv(4096)
    except OSError:
        data = b""
    entry = next((a for a in result["accepted"]
                  if (a["from"], a["sport"]) == (peer[0], peer[1])), None)
    if data and entry is not None:
        entry["data"] += data.decode(errors="replace")
        try:
            client.sendall(b"answer " + data)
        except OSError:
            pass
    if not data:
        clients.remove(client)
        client.close()


def _watch(data: bytes, proto: str, port: int, token: str, result: dict) -> None:
    packet = IP(data)
    if packet.src.startswith("127."):
        return  # the sentinel, or this namespace talking to itself
    arrival: dict = {"src": packet.src, "dst": packet.dst, "at": time.monotonic()}
    if proto == "tcp" and packet.haslayer(TCP):
        segment = packet[TCP]
        if segment.dport != port or not (int(segment.flags) & 0x02):  # SYNs only
            return
        arrival.update(sport=int(segment.sport), dport=int(segment.dport), kind="SYN")
    elif proto == "udp" and packet.haslayer(UDP):
        datagram = packet[UDP]
        if datagram.dport != port:
            return
        arrival.update(sport=int(datagram.sport), dport=int(datagram.dport), kind="datagram",
                       token=bool(token) and token.encode() in bytes(datagram.payload))
    elif proto == "icmp" and packet.haslayer(ICMP):
        if packet[ICMP].type != 8 or token.encode() not in bytes(packet[ICMP].payload):
            return
        arrival.update(kind="echo request", ident=int(packet[ICMP].id), token=True)
    else:
        return
    result["arrivals"].append(arrival)


def _done(proto: str, result: dict, token: str) -> bool:
    if proto == "tcp":
        return any(token in a["data"] for a in result["accepted"])
    if proto == "udp":
        # a program that owns the address more precisely (dnsmasq on its own address) gets
        # the datagram instead of our socket: then the watcher's sighting has to do
        seen = [a for a in result["arrivals"] if a.get("token")]
        return any(token in a["data"] for a in result["answered"]) or bool(
            seen and time.monotonic() - seen[0]["at"] > 0.5)
    return bool(result["arrivals"])


# ------------------------------------------------------------------------------ sending side

def connect(proto: str, dst: str, port: int = 0, token: str = "", timeout: float = 2.0,
            attempts: int = 2, pcap: str | None = None,
            ready: Callable[[], None] | None = None) -> dict:
    """Send one flow to `dst` and report exactly what came back.

    `outcome` is one of: "answered" (TCP handshake completed, UDP answer, echo reply),
    "reset" (TCP RST), "icmp-error" (ICMP destination unreachable and the like), "refused"
    (ECONNREFUSED, but the capture holds neither a RST nor an ICMP error),
    "local-error" (the sender's own kernel refused: no route, ...), "silence" (nothing came
    back in `timeout` seconds after each of `attempts` tries).
    """
    route_iface, src, _gateway = conf.route.route(dst)
    result: dict = {"proto": proto, "dst": dst, "port": port, "iface": route_iface, "src": src,
                    "sport": None, "sent": 0, "outcome": "silence", "errno": None,
                    "handshake": False, "answer": None, "answer_from": None, "rst_from": None,
                    "icmp_errors": [], "seen_leaving": 0, "seconds": 0.0, "pcap": pcap}
    sniffer = start_listening(route_iface, f"host {dst} or icmp", promisc=False)
    started = time.monotonic()
    try:
        if proto == "tcp":
            _tcp(dst, port, token, timeout, attempts, result)
        elif proto == "udp":
            _udp(dst, port, token, timeout, attempts, result)
        else:
            _icmp(dst, token, timeout, attempts, result)
        time.sleep(0.05)  # the capture gets the last answer's copy too
    finally:
        result["seconds"] = round(time.monotonic() - started, 3)
        packets = sniffer.stop(join=True) or []
    if pcap:
        wrpcap(pcap, packets, linktype=1)
    _read_capture(packets, result)
    result["next_hop"] = _gateway if _gateway not in ("0.0.0.0", None) else dst
    result["next_hop_mac"] = _neighbour(result["next_hop"])
    return result


def _neighbour(address: str) -> str | None:
    """The MAC this namespace's neighbour table holds for `address` (who answered ARP)."""
    try:
        with open("/proc/net/arp") as table:  # this namespace's: /proc/net follows setns
            for line in table.read().splitlines()[1:]:
                fields = line.split()
                if fields and fields[0] == address and fields[3] != "00:00:00:00:00:00":
                    return fields[3]
    except OSError:
        pass
    return None


def _errno_name(exc: OSError) -> str:
    return f"{errno.errorcode.get(exc.errno or 0, exc.errno)}: {exc.strerror}"


def _tcp(dst: str, port: int, token: str, timeout: float, attempts: int, result: dict) -> None:
    # the kernel retransmits the SYN itself; `attempts` fresh sockets add nothing there
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_SYNCNT, max(1, attempts))
    sock.settimeout(timeout * attempts)
    try:
        sock.bind(("0.0.0.0", 0))
        result["sport"] = sock.getsockname()[1]
        result["sent"] = 1
        try:
            sock.connect((dst, port))
        except TimeoutError:
            result["outcome"] = "silence"
            return
        except OSError as exc:
            result["errno"] = _errno_name(exc)
            # the capture tells a RST from an ICMP error (both give ECONNREFUSED)
            result["outcome"] = {errno.ETIMEDOUT: "silence", errno.ECONNREFUSED: "refused",
                                 errno.ENETUNREACH: "local-error"}.get(exc.errno, "icmp-error")
            return
        result["handshake"] = True
        result["outcome"] = "answered"
        result["answer_from"] = sock.getpeername()[0]
        sock.sendall(token.encode())
        sock.settimeout(timeout)
        try:
            result["answer"] = sock.recv(4096).decode(errors="replace") or None
        except (TimeoutError, OSError):
            pass
    finally:
        sock.close()


def _udp(dst: str, port: int, token: str, timeout: float, attempts: int, result: dict) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(timeout)
    try:
        sock.connect((dst, port))  # a connected socket hears of ICMP port unreachable
        result["sport"] = sock.getsockname()[1]
        payload = _dns_query(token) if port == 53 else token.encode()
        for _ in range(attempts):
            try:
                sock.send(payload)
                result["sent"] += 1
                data = sock.recv(65535)
            except TimeoutError:
                continue
            except OSError as exc:
                result["errno"] = _errno_name(exc)
                result["outcome"] = "icmp-error" if result["sent"] else "local-error"
                return
            result["outcome"] = "answered"
            result["answer"] = data.decode(errors="replace")
            result["answer_from"] = dst
            return
    finally:
        sock.close()


def _dns_query(token: str) -> bytes:
    """A DNS query for TOKEN.test: a resolver on the port answers it (NXDOMAIN at least),
    and the token is in the payload as a label."""
    return bytes(DNS(id=random.randrange(1, 0xFFFF), rd=1, qd=DNSQR(qname=f"{token}.test")))


def _icmp(dst: str, token: str, timeout: float, attempts: int, result: dict) -> None:
    ident = random.randrange(1, 0xFFFF)
    result["sport"] = ident
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    try:
        for seq in range(1, attempts + 1):
            echo = bytes(ICMP(type=8, id=ident, seq=seq) / Raw(token.encode()))
            try:
                sock.sendto(echo, (dst, 0))
                result["sent"] += 1
            except OSError as exc:
                result["errno"] = _errno_name(exc)
                result["outcome"] = "local-error"
                return
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                readable, _, _ = select.select([sock], [], [], deadline - time.monotonic())
                if not readable:
                    break
                packet = IP(sock.recv(65535))
                icmp = packet.getlayer(ICMP)
                if icmp is not None and icmp.type == 0 and icmp.id == ident:
                    result["outcome"] = "answered"
                    result["answer_from"] = packet.src
                    result["answer"] = bytes(icmp.payload).decode(errors="replace")
                    return
                if icmp is not None and icmp.type in (3, 11) and packet.haslayer(ICMPerror) \
                        and packet[ICMPerror].id == ident:
                    result["outcome"] = "icmp-error"
                    return  # details come from the capture
    finally:
        sock.close()


def _ours(packet, result: dict) -> bool:
    """Is this an ICMP error about the flow `result` describes?"""
    if not packet.haslayer(IPerror) or packet[IPerror].dst != result["dst"]:
        return False
    if result["proto"] == "tcp" and packet.haslayer(TCPerror):
        return packet[TCPerror].sport == result["sport"]
    if result["proto"] == "udp" and packet.haslayer(UDPerror):
        return packet[UDPerror].sport == result["sport"]
    if result["proto"] == "icmp" and packet.haslayer(ICMPerror):
        return packet[ICMPerror].id == result["sport"]
    return False


def _read_capture(packets, result: dict) -> None:
    """Fill in what the capture proves: our packets leaving, RSTs, ICMP errors."""
    dst, sport = result["dst"], result["sport"]
    for packet in packets:
        if not packet.haslayer(IP):
            continue
        ip = packet[IP]
        if ip.dst == dst and _is_stimulus(packet, result):
            result["seen_leaving"] += 1
        elif packet.haslayer(TCP) and not packet.haslayer(IPerror) and ip.src == dst \
                and packet[TCP].dport == sport and int(packet[TCP].flags) & 0x04:
            result["rst_from"] = ip.src
            if result["outcome"] in ("silence", "refused", "icmp-error"):
                result["outcome"] = "reset"
        elif packet.haslayer(ICMP) and packet[ICMP].type in (3, 5, 11, 12) \
                and _ours(packet, result):
            icmp = packet[ICMP]
            error = {"from": ip.src, "type": int(icmp.type), "code": int(icmp.code),
                     "meaning": describe_icmp(int(icmp.type), int(icmp.code))}
            if error not in result["icmp_errors"]:
                result["icmp_errors"].append(error)
            if result["outcome"] in ("silence", "refused") and not result["rst_from"]:
                result["outcome"] = "icmp-error"


def _is_stimulus(packet, result: dict) -> bool:
    proto, sport = result["proto"], result["sport"]
    if proto == "tcp":
        return packet.haslayer(TCP) and packet[TCP].sport == sport \
            and bool(int(packet[TCP].flags) & 0x02)
    if proto == "udp":
        return packet.haslayer(UDP) and packet[UDP].sport == sport
    return packet.haslayer(ICMP) and packet[ICMP].type == 8 and packet[ICMP].id == sport


def describe_icmp(kind: int, code: int) -> str:
    if kind == 3:
        return f"destination unreachable ({UNREACHABLE.get(code, f'code {code}')})"
    return {5: "redirect", 11: "time exceeded", 12: "parameter problem"}.get(kind, f"type {kind}")

