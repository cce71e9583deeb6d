"""Check types, one package each; the package's name is the check type's name.

- `params.py`: the check's parameters as a scenario gives them (a `CheckParams` subclass,
  pure pydantic: the scenario loader reads it and nothing else of the check);
- `check.py`: the check itself (spec -> probes -> observation), registered with
  `harness.checks.base.register`, imported only when a check of that type runs.

Adding a check type is adding its package here, a scenario that uses it, and the
regenerated schemas/scenario.schema.json; nothing else names check types.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from harness.scenario.fields import CheckParams


@cache
def check_params() -> dict[str, type[CheckParams]]:
    """Check type -> its parameters' model, for every check package."""
    found: dict[str, type[CheckParams]] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}.params")
        models = [value for value in vars(module).values()
                  if isinstance(value, type) and issubclass(value, CheckParams)
                  and value.__module__ == module.__name__]
        if len(models) != 1:
            raise TypeError(f"{module.__name__} must define one CheckParams subclass, "
                            f"not {len(models)}")
        found[info.name] = models[0]
    return found
