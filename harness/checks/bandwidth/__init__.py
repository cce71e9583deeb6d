"""`bandwidth`: the throughput from `from` to `to`, measured at the receiver, is `expect_mbit`.

params.py: its parameters (part of the scenario format); check.py: the check."""
