"""Old import paths that keep working, with a ``DeprecationWarning`` naming the new one."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping
from typing import Any


def moved_names(old_module: str, new_locations: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that serves names which moved to other modules.

    Args:
        old_module: The module the names used to live in (for the message).
        new_locations: ``{name: "new.module"}``, or ``{name: "new.module:new_name"}`` for a
            name that was renamed too; ``{"*": "new.module"}`` forwards every other name.

    Returns:
        A function to assign to the old module's ``__getattr__``.
    """

    def __getattr__(name: str) -> Any:
        target = new_locations.get(name, new_locations.get("*"))
        if target is None or name.startswith("__"):
            raise AttributeError(f"module {old_module!r} has no attribute {name!r}")
        module, _, new_name = target.partition(":")
        new_name = new_name or name
        value = getattr(importlib.import_module(module), new_name)
        warnings.warn(
            f"{old_module}.{name} moved to {module}.{new_name}; import it from there "
            f"(the old path will be removed in a future release).",
            DeprecationWarning,
            stacklevel=2,
        )
        return value

    return __getattr__
