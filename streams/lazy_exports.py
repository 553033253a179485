"""Lazy package exports: ``from streams.worker import WorkerSettings`` without eager imports.

The subpackages of ``streams`` import each other's *modules* (the worker's app wires the control
consumer, the control layer updates the worker's registry), so an ``__init__`` that imported every
public name up front would make the import order matter and would pull Faust into a CLI that only
signs a command. Each ``__init__`` therefore lists its public API in ``__all__`` and resolves a
name from its home module on first access (PEP 562).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, Sequence[str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Build a package's ``__getattr__`` and ``__dir__`` from ``{submodule: names}``.

    Args:
        package: The package's ``__name__``.
        exports: Submodule (relative to ``package``) → the public names it defines.

    Returns:
        ``(__getattr__, __dir__)`` to assign at the package's top level.
    """
    home = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = home.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    def __dir__() -> list[str]:
        return sorted(home)

    return __getattr__, __dir__
