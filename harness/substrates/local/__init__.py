"""The local substrate: every node is a network namespace on this machine (see substrate.py)."""

from harness.substrates.local.substrate import REQUIRED_TOOLS, LocalSubstrate

__all__ = ["REQUIRED_TOOLS", "LocalSubstrate"]
