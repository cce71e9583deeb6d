"""`fan`: the instance's address follows the fan mapping, and other hosts' slices are reached

params.py: its parameters (part of the scenario format); check.py: the check."""
