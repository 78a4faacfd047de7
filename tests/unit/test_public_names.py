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


PACKAGES = sorted(m.name for m in pkgutil.walk_packages(labkit.__path__, "labkit.") if m.ispkg)


@pytest.mark.parametrize("name", PACKAGES)
def test_no_package_exports_a_name_of_one_of_its_modules(name):
    """``from labkit.kafka import send`` once gave the module ``labkit.kafka.send`` instead of the
    function: a submodule, once imported, is an attribute of its package and hides the lazy export."""
    package = importlib.import_module(name)
    modules = {m.name for m in pkgutil.iter_modules(package.__path__)}
    assert modules & set(getattr(package, "__all__", ())) == set()
