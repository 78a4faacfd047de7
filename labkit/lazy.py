"""Short imports for notebooks without slow imports for processes: a package re-exports its public
names, and each is imported on first use (PEP 562), so ``from labkit.dlt import read_dlt`` works
while a consumer process that only needs :mod:`labkit.dlt.publish` never loads pandas.

>>> getattr_, dir_ = exports("labkit.wait", {"labkit.wait": ["wait_until"]})
>>> getattr_("wait_until").__name__
'wait_until'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["exports"]


def exports(package: str, names_by_module: dict[str, list[str]]) -> tuple[Callable[[str], Any],
                                                                          Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: each name is imported from its module when first asked."""
    where = {name: module for module, names in names_by_module.items() for name in names}

    def __getattr__(name: str) -> Any:  # noqa: N807 - the module hook's name is fixed by PEP 562
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(where[name]), name)

    def __dir__() -> list[str]:  # noqa: N807
        return sorted(where)

    return __getattr__, __dir__
