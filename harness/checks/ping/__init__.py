"""`ping`: ICMP reachability between endpoints, one pair or a whole matrix.

params.py: its parameters (part of the scenario format); check.py: the check."""
