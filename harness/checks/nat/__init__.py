"""`nat`: the instance's packet reaches upstream from the host's address; the reply comes back.

params.py: its parameters (part of the scenario format); check.py: the check."""
