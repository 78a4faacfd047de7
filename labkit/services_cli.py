"""Where the service commands (``labkit consumer``, ``labkit api``, ``labkit groups``, ``labkit dlt``)
plug into the ``labkit`` parser: each module contributes an ``add_parser(subparsers)`` function."""

from __future__ import annotations

import importlib

_MODULES = ("labkit.consumer_service", "labkit.api", "labkit.inspect_cli")


def _parsers():
    found = []
    for name in _MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        found.append(module.add_parser)
    return found


PARSERS = _parsers()
