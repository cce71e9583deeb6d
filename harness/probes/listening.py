"""Sniffing that is shown to listen before anything is sent, and ends when the check says so.

Two things made captures lie under load: a sniffer reported "ready" when its socket was
made, not when frames really reached it; and its window was a fixed number of seconds from
its start, which a busy machine could use up before the stimulus was even sent. Here:

- listening is proven: the sniffer sends a sentinel frame of its own out of the interface
  (a random source MAC, EtherType 0x88b6, a random token) until its own capture, through the
  same filter, has seen it; only then is the check told "ready";
- the window lasts until the check says its stimulus is over (`Running.stop()`, the stop
  signal of stopping.py), plus up to SETTLE seconds for frames still on their way (less once
  `count` frames are in); `duration` only bounds it when nobody says so.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.sendrecv import AsyncSniffer, sendp

from harness.probes.stopping import stop_requested

SENTINEL_ETHERTYPE = 0x88B6
#: seconds a sniffer may take to see its own sentinel frame before it counts as deaf
READY_WITHIN = 10.0
#: seconds of capture after the check's "stop", for frames still on their way
SETTLE = 0.3


class NotListening(RuntimeError):
    """The capture never saw its own sentinel frame: it would see nothing else either."""


@dataclass
class Window:
    packets: list
    listening_after: float  # seconds from start until the sentinel came back
    seconds: float  # how long it listened after that
    ended: str  # "stopped by the check", "count reached", "after the N s limit"

    def describe(self) -> dict:
        return {"listening_after": round(self.listening_after, 3),
                "window": round(self.seconds, 3), "ended": self.ended}


def start_listening(iface: str, bpf: str | None = None, lfilter: Callable | None = None,
                    count: int = 0, promisc: bool = True) -> AsyncSniffer:
    """A capture of `iface` (through `bpf`, then `lfilter`), returned once it has seen a
    sentinel frame of its own go out: only then is it listening. Sentinels are not kept."""
    token = secrets.token_hex(8).encode()
    seen = threading.Event()

    def keep(packet) -> bool:
        if packet.haslayer(Ether) and packet[Ether].type == SENTINEL_ETHERTYPE:
            if packet.haslayer(Raw) and token in bytes(packet[Raw].load):
                seen.set()
            return False
        return lfilter(packet) if lfilter is not None else True

    sentinel_bpf = f"ether proto {SENTINEL_ETHERTYPE:#06x}"
    sniffer = AsyncSniffer(iface=iface, filter=f"({bpf}) or ({sentinel_bpf})" if bpf else None,
                           lfilter=keep, count=count, promisc=promisc, store=True)
    started = time.monotonic()
    sniffer.start()
    mac = "02:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(5))
    sentinel = Ether(src=mac, dst=mac, type=SENTINEL_ETHERTYPE) / Raw(b"harness-sentinel " + token)
    pause = 0.01  # the first sentinel may go before the socket is open: resend, backing off
    while not seen.wait(pause):
        pause = min(pause * 2, 0.2)
        # `exception`: scapy 2.6+; hosts reached over SSH may have Debian 12's 2.5
        failure = getattr(sniffer, "exception", None)
        if failure is not None or (sniffer.thread and not sniffer.thread.is_alive()):
            raise NotListening(f"the capture on {iface} ended before it listened: "
                               f"{failure or 'no reason given'}")
        if time.monotonic() - started > READY_WITHIN:
            _end(sniffer)
            raise NotListening(f"the capture on {iface} never saw its own sentinel frame in "
                               f"{READY_WITHIN:.0f} s: it is not listening")
        try:
            sendp(sentinel, iface=iface, verbose=False)
        except (OSError, ValueError) as exc:  # no such interface, interface down
            _end(sniffer, quiet=True)
            raise NotListening(f"the capture on {iface} cannot listen: {exc}") from None
    return sniffer


def sniff_window(iface: str, bpf: str | None = None, lfilter: Callable | None = None,
                 duration: float = 30.0, count: int = 0, promisc: bool = True,
                 ready: Callable[[], None] | None = None) -> Window:
    """Sniff `iface` (through `bpf`, then `lfilter`) from a proven start until stopped."""
    stop = stop_requested()  # before `ready`: only then may a stop come
    started = time.monotonic()
    sniffer = start_listening(iface, bpf, lfilter, count, promisc)
    listening = time.monotonic()
    if ready is not None:
        ready()
    limit = listening + duration
    while not stop.is_set() and time.monotonic() < limit and sniffer.thread.is_alive():
        time.sleep(0.02)
    if stop.is_set():
        # frames still on their way; a capture that reaches its `count` meanwhile (or has
        # already) can see nothing more, so it does not wait the settle out
        sniffer.thread.join(SETTLE)
        ended = "count reached" if not sniffer.thread.is_alive() else "stopped by the check"
    elif not sniffer.thread.is_alive():
        ended = "count reached"
    else:
        ended = f"after the {duration:.0f} s limit"
    packets = _end(sniffer)
    return Window(packets, listening - started, time.monotonic() - listening, ended)


def _end(sniffer: AsyncSniffer, quiet: bool = False) -> list:
    try:
        if sniffer.running:
            sniffer.stop()
        else:
            sniffer.join()
    except Exception:
        if not quiet:
            raise
        return []
    return list(sniffer.results or [])
