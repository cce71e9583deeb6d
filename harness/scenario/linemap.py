"""Map lines of a rendered jinja2 template back to lines of the template file.

Without loops, a rendered scenario has the lines of its template (block tags keep their
line), and the map is the identity. A loop repeats lines: the map then aligns both texts
(difflib), maps identical and one-for-one substituted lines exactly, and sends a line
of a repeated block to the most similar template line near where it is expected.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from difflib import SequenceMatcher
from functools import cache

_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}")

LineMap = Callable[[int], int]


def identity(line: int) -> int:
    return line


def line_map(source: str, rendered: str) -> LineMap:
    """A function from 1-based rendered lines to 1-based source lines."""
    src, out = source.splitlines(), rendered.splitlines()
    if len(src) == len(out) or not src:
        return identity
    exact: dict[int, int] = {}  # 0-based rendered index -> 0-based source index
    guesses: dict[int, int] = {}
    matcher = SequenceMatcher(None, src, out, autojunk=False)
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag == "equal" or (tag == "replace" and a1 - a0 == b1 - b0):
            exact.update({b0 + k: a0 + k for k in range(b1 - b0)})
        else:
            guesses.update({b: min(a0 + (b - b0), len(src) - 1) for b in range(b0, b1)})
    # template lines without their jinja2 parts compare best with what they render to
    stripped = [_JINJA.sub("", line).strip() for line in src]

    @cache
    def lookup(line: int) -> int:
        index = line - 1
        if index in exact:
            return exact[index] + 1
        if index not in guesses:
            return max(1, min(line, len(src)))
        text = out[index].strip()
        guess = guesses[index]

        def score(j: int) -> tuple[float, int]:
            return SequenceMatcher(None, stripped[j], text).ratio(), -abs(j - guess)

        best = max(range(len(src)), key=score)
        return (best if score(best)[0] >= 0.5 else guess) + 1

    return lookup
