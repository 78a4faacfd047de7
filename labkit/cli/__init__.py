"""The ``labkit`` command: one module per command group, :mod:`labkit.cli.app` builds the parser."""

from labkit.cli.app import main

__all__ = ["main"]
