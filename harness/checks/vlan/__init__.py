"""`vlan`: an instance's frames leave on a trunk tagged with `vid`, and only `vid` comes back in.

params.py: its parameters (part of the scenario format); check.py: the check."""
