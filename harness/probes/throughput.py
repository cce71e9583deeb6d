"""Throughput probes: a paced UDP stream, measured where it arrives.

`send` offers a steady stream of numbered datagrams at a given rate, for a bounded time and
number of bytes. `receive` counts what arrives per time slice. A rate limit is then read off
the receiver's slices once the limiter's burst allowance is spent: the offered rate must be
well above the limit, and the receiver sees the limit.

Rates are counted in Ethernet frame bits (UDP payload + 8 + 20 + 14 bytes), what `tc`
limiters count on a veth.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time
from collections.abc import Callable

from scapy.config import conf
from scapy.sendrecv import AsyncSniffer
from scapy.utils import wrpcap

FRAME_OVERHEAD = 8 + 20 + 14  # UDP, IPv4, Ethernet headers
HEADER = struct.Struct("!8sIQ")  # token (8 bytes), sequence number, sender's nanoseconds
PAYLOAD = 1400  # a datagram fits a 1500-byte MTU unfragmented
SLICE = 0.1  # seconds per receiver time slice
MAX_SECONDS = 10.0
MAX_BYTES = 200_000_000
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux's value


def _arrival(ancillary: list) -> float:
    """The kernel's receive time (SCM_TIMESTAMPNS), else now."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            seconds, nanoseconds = struct.unpack("qq", data[:16])
            return seconds + nanoseconds / 1e9
    return time.time()


def send(dst: str, port: int, token: str, mbit: float, seconds: float = 3.0,
         payload: int = PAYLOAD, max_bytes: int = MAX_BYTES) -> dict:
    """Offer `mbit` Mbit/s of UDP to `dst`:`port` for `seconds` (bounded) and report what
    went out: datagrams, bytes, the rate offered (`offered_mbit`: every try, kept at pace
    unless the sender lacks CPU) and sent (`sent_mbit`: what the local queue took), and
    local send errors."""
    seconds = min(seconds, MAX_SECONDS)
    frame_bits = (payload + FRAME_OVERHEAD) * 8
    gap = frame_bits / (mbit * 1e6)  # seconds between datagrams at the asked rate
    mark = token.encode()[:8].ljust(8, b"\0")
    filler = b"\0" * (payload - HEADER.size)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # non-blocking: a limiter on this very host pushes back on a blocking socket, which would
    # slow the offer down to the limit; here the offer keeps its pace and the refusals count
    sock.setblocking(False)
    sent = errors = queue_full = 0
    first_error = None
    started = time.monotonic()
    try:
        sock.connect((dst, port))
        next_at = started
        while True:
            now = time.monotonic()
            if now - started >= seconds or (sent + 1) * payload > max_bytes:
                break
            if now < next_at:
                time.sleep(min(next_at - now, 0.002))
                continue
            try:
                sock.send(HEADER.pack(mark, sent, time.monotonic_ns()) + filler)
                sent += 1
            except (BlockingIOError, InterruptedError):
                queue_full += 1  # the local queue is full: that datagram is lost here
            except OSError as exc:  # ENOBUFS from a full queue, ECONNREFUSED from ICMP
                errors += 1
                first_error = first_error or f"{exc.strerror} (errno {exc.errno})"
            next_at += gap
            if now - next_at > 0.05:  # fell behind (a busy machine): never burst to catch up
                next_at = now
    finally:
        sock.close()
    took = time.monotonic() - started
    attempts = sent + queue_full + errors
    return {"dst": dst, "port": port, "datagrams": sent, "payload": payload,
            "bytes": sent * payload, "seconds": round(took, 3),
            "offered_mbit": round(attempts * frame_bits / took / 1e6, 3) if took else 0.0,
            "sent_mbit": round(sent * frame_bits / took / 1e6, 3) if took else 0.0,
            "asked_mbit": mbit, "queue_full": queue_full, "send_errors": errors,
            "first_error": first_error}


def receive(port: int, token: str, seconds: float = 5.0, quiet: float = 0.5,
            towards: str | None = None, pcap: str | None = None, sample: int = 60,
            ready: Callable[[], None] | None = None) -> dict:
    """Count the datagrams marked `token` arriving on `port` for at most `seconds`.

    Stops `quiet` seconds after the last one once the stream has started. Returns bytes per
    `SLICE` from the first arrival (`slices`), totals, sequence gaps (lost datagrams) and
    the senders seen. With `pcap`, the first `sample` packets of the stream on the interface
    that leads `towards` the sender are written there (a sample, not the whole stream).
    """
    seconds = min(seconds, MAX_SECONDS + 2)
    sniffer = None
    if pcap:
        iface = conf.route.route(towards or "0.0.0.0")[0]
        started = threading.Event()
        sniffer = AsyncSniffer(iface=iface, filter=f"udp port {port}", count=sample,
                               store=True, started_callback=started.set)
        sniffer.start()
        started.wait(5)
    mark = token.encode()[:8].ljust(8, b"\0")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    # the kernel's arrival time of each datagram: a receiver the scheduler makes late reads
    # a burst from its buffer, which must not look like a burst on the wire
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.bind(("0.0.0.0", port))
    sock.setblocking(False)
    if ready is not None:
        ready()
    slices: list[int] = []
    first = last = None  # kernel arrival times (seconds, wall clock)
    read_last = None  # when this loop last read one (monotonic)
    datagrams = frame_bytes = highest = 0
    senders: set[str] = set()
    deadline = time.monotonic() + seconds
    try:
        while True:
            now = time.monotonic()
            if now >= deadline or (read_last is not None and now - read_last > quiet):
                break
            readable, _, _ = select.select([sock], [], [], min(0.05, deadline - now))
            if not readable:
                continue
            while True:
                try:
                    data, ancillary, _flags, peer = sock.recvmsg(65535, 64)
                except BlockingIOError:
                    break
                if len(data) < HEADER.size or data[:8] != mark:
                    continue
                read_last = time.monotonic()
                arrived = _arrival(ancillary)
                first = arrived if first is None else first
                last = arrived
                index = max(0, int((arrived - first) / SLICE))
                slices.extend([0] * (index + 1 - len(slices)))
                size = len(data) + FRAME_OVERHEAD
                slices[index] += size
                frame_bytes += size
                datagrams += 1
                highest = max(highest, HEADER.unpack(data[:HEADER.size])[1])
                senders.add(peer[0])
    finally:
        sock.close()
        if sniffer is not None:
            try:
                packets = sniffer.stop(join=True)
            except Exception:  # it stopped by itself after `sample` packets
                packets = sniffer.results
            wrpcap(pcap, packets or [], linktype=1)
    return {"port": port, "datagrams": datagrams, "frame_bytes": frame_bytes,
            "clock": "kernel arrival time",
            "seconds": round((last - first), 3) if first is not None and last else 0.0,
            "slice": SLICE, "slices": slices, "lost": max(0, highest + 1 - datagrams),
            "senders": sorted(senders)}
