"""`vxlan`: instance traffic between two hosts crosses the underlay as VXLAN with the right VNI.

params.py: its parameters (part of the scenario format); check.py: the check."""
