"""`macvlan`: an instance NIC on a macvlan of a host's physical NIC sits directly on that LAN.

params.py: its parameters (part of the scenario format); check.py: the check."""
