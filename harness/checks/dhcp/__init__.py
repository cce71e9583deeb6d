"""`dhcp`: what DHCP hands out, seen by fresh exchanges made from inside the instance.

params.py: its parameters (part of the scenario format); check.py: the check."""
