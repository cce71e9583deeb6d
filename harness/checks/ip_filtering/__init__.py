"""`ip_filtering`: frames with a spoofed IPv4 source or ARP sender never leave the instance.

params.py: its parameters (part of the scenario format); check.py: the check."""
