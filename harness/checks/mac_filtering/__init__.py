"""`mac_filtering`: frames with a spoofed source MAC never leave the instance; genuine ones do.

params.py: its parameters (part of the scenario format); check.py: the check."""
