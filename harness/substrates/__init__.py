"""Where hosts come from: this machine's namespaces, Vagrant VMs, or existing SSH hosts.

The registry below is the one place substrate names are written: the CLI's `--substrate`
choices, the scenario schema's `substrate:` enum, the pytest plugin's help and `harness doctor`
read them from here. Built-in substrates are listed as "module:Class" and imported when first
used (the CLI must not pay for fabric or pylxd to print its help); another substrate registers
its class with `@register("name")`.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.substrates.base import Substrate

#: name -> the class, or "module:Class" until first used; the first entry is the default
_REGISTRY: dict[str, str | type[Substrate]] = {
    "local": "harness.substrates.local:LocalSubstrate",
    "vagrant": "harness.substrates.vagrant:VagrantSubstrate",
    "ssh": "harness.substrates.ssh:SshSubstrate",
}


def register(name: str) -> Callable[[type[Substrate]], type[Substrate]]:
    """Class decorator: make a substrate available under `name` everywhere."""

    def add(cls: type[Substrate]) -> type[Substrate]:
        _REGISTRY[name] = cls
        return cls
    return add


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def default_name() -> str:
    """The substrate of a scenario that names none."""
    return next(iter(_REGISTRY))


def substrate_class(name: str) -> type[Substrate]:
    if name not in _REGISTRY:
        raise ValueError(f"unknown substrate {name!r}; this build knows: {', '.join(names())}")
    entry = _REGISTRY[name]
    if isinstance(entry, str):
        module, _, attribute = entry.partition(":")
        entry = _REGISTRY[name] = getattr(importlib.import_module(module), attribute)
    return entry


def name_of(cls: type) -> str:
    """The registered name of a substrate class (or of the registered class it extends)."""
    for klass in cls.__mro__:
        for name, entry in _REGISTRY.items():
            if isinstance(entry, str) and entry.partition(":")[0] in sys.modules:
                entry = substrate_class(name)  # imported already: no cost
            if entry is klass:
                return name
    return "?"


def make_substrate(name: str, work_root: Path | None = None) -> Substrate:
    return substrate_class(name)(work_root)
