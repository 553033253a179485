"""Every exception class a package defines derives from that package's root error."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

from engine.errors import EngineError
from streams.errors import StreamsError
from workers.errors import WorkersError

ROOTS = {"engine": EngineError, "streams": StreamsError, "workers": WorkersError}


def _modules(package: str) -> list[str]:
    pkg = importlib.import_module(package)
    found = [package]
    for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}."):
        found.append(info.name)
    return found


@pytest.mark.parametrize("package", sorted(ROOTS))
def test_every_exception_derives_from_the_package_root(package: str) -> None:
    root = ROOTS[package]
    strays = []
    for name in _modules(package):
        module = importlib.import_module(name)
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            defined_here = cls.__module__ == module.__name__
            if defined_here and issubclass(cls, BaseException) and not issubclass(cls, root):
                strays.append(f"{name}.{cls_name}")
    assert not strays, f"not derived from {root.__name__}: {strays}"
