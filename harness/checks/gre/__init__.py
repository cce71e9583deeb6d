"""`gre`: instance traffic between two hosts crosses the underlay as GRE carrying Ethernet.

params.py: its parameters (part of the scenario format); check.py: the check."""
