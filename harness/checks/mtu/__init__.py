"""`mtu`: the largest IPv4 packet (total length, DF set) that gets from `from` to `to`.

params.py: its parameters (part of the scenario format); check.py: the check."""
