"""`flow`: a TCP handshake, a UDP datagram or an ICMP echo gets from `from` to `to`.

params.py: its parameters (part of the scenario format); check.py: the check."""
