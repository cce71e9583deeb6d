"""`start_refused`: LXD refuses to start an instance, for the stated reason.

params.py: its parameters (part of the scenario format); check.py: the check."""
