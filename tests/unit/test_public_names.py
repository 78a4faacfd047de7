"""Every name a labkit module lists in ``__all__`` exists (``from labkit.x import *`` works)."""

import importlib
import pkgutil

import pytest

import labkit

MODULES = sorted(m.name for m in pkgutil.walk_packages(labkit.__path__, "labkit.") if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist(name):
    module = importlib.import_module(name)
    missing = [n for n in getattr(module, "__all__", ()) if not hasattr(module, n)]
    assert missing == [], f"{name}.__all__ lists names it does not define: {missing}"
