"""Mininet's side of bench/plumbing.py: N+1 hosts on one Linux bridge, built and torn down.

Run by Debian's python3 (package `mininet`), inside a namespace of the benchmark's own:
Mininet keeps its switches and the outer veth ends in the namespace it runs in, so nothing
reaches the machine's own network. Prints {"build": s, "stop": s} as JSON.
"""

import json
import sys
import time

from mininet.log import setLogLevel
from mininet.net import Mininet
from mininet.nodelib import LinuxBridge
from mininet.topo import Topo


class Star(Topo):
    """One switch, `nodes` hosts each linked to it (like the harness's fabric bridge)."""

    def build(self, nodes: int = 2) -> None:
        switch = self.addSwitch("s1")
        for index in range(nodes):
            self.addLink(self.addHost(f"h{index}"), switch)


def main() -> None:
    nodes = int(sys.argv[1])
    setLogLevel("error")
    Mininet.inited = True  # skip fixLimits(): it would raise machine-wide kernel limits
    started = time.monotonic()
    net = Mininet(topo=Star(nodes=nodes), switch=LinuxBridge, controller=None,
                  waitConnected=False)
    net.start()
    built = time.monotonic() - started
    started = time.monotonic()
    net.stop()
    print(json.dumps({"build": built, "stop": time.monotonic() - started}))


if __name__ == "__main__":
    main()
