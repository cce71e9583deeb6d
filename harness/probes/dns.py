"""DNS probes: one query, built and parsed with scapy, over an ordinary UDP socket."""

from __future__ import annotations

import random
import socket
import time

from scapy.layers.dns import DNS, DNSQR

RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def query(server: str, name: str, qtype: str = "A", timeout: float = 2.0,
          attempts: int = 2) -> dict:
    """Ask `server` for `name`; return the rcode and the answers."""
    request = DNS(id=random.randrange(0xFFFF), rd=1, qd=DNSQR(qname=name, qtype=qtype))
    result: dict = {"server": server, "name": name, "qtype": qtype, "answered": False,
                    "rcode": None, "answers": [], "attempts": 0}
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(timeout)
    try:
        for _ in range(attempts):
            result["attempts"] += 1
            started = time.monotonic()
            try:
                sock.sendto(bytes(request), (server, 53))
                data, (source, _) = sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError as exc:
                result["error"] = str(exc)
                break
            reply = DNS(data)
            if reply.id != request.id:
                continue
            result["answered"] = True
            result["from"] = source
            result["rtt_ms"] = round((time.monotonic() - started) * 1000, 3)
            result["rcode"] = RCODES.get(reply.rcode, str(reply.rcode))
            for i in range(reply.ancount or 0):
                rr = reply.an[i]
                rdata = rr.rdata.decode() if isinstance(rr.rdata, bytes) else str(rr.rdata)
                result["answers"].append({"name": rr.rrname.decode(), "type": int(rr.type),
                                          "data": rdata, "ttl": int(rr.ttl)})
            break
    finally:
        sock.close()
    return result
