"""`fan`: the instance's address follows the fan mapping, and other hosts' slices are reached
by VXLAN encapsulation to the underlay address the mapping names.

params.py: its parameters (part of the scenario format); check.py: the check."""
