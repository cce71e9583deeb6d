"""How checks use sniffers: started before the stimulus (proven listening, see
probes/listening.py), stopped right after it, and what that window was in the evidence."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

#: upper bound of a capture window; a check ends it as soon as its stimulus is over
SNIFF_LIMIT = 30.0


def finish_all(sniffers: Iterable[Any]) -> list[dict]:
    """Stop every sniffer first (their settling overlaps), then collect each one's result."""
    sniffers = list(sniffers)
    for sniffer in sniffers:
        sniffer.stop()
    return [sniffer.result() for sniffer in sniffers]


def window_line(where: str, seen: dict) -> str:
    if "listening_after" not in seen:  # an older remote probe copy
        return f"capture at {where}: {seen.get('count', '?')} packet(s)"
    return (f"capture at {where}: listening (its sentinel frame seen) "
            f"{seen['listening_after']:.2f} s after start, then {seen['window']:.2f} s, "
            f"{seen['ended']}")
