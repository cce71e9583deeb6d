"""`dns`: the LXD bridge's dnsmasq answers an instance's name with its address.

params.py: its parameters (part of the scenario format); check.py: the check."""
