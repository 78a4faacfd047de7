"""``python -m labkit.cli``: the ``labkit`` command without its console script."""

import sys

from labkit.cli import main

if __name__ == "__main__":  # not when a tool (pytest --doctest-modules) merely imports it
    sys.exit(main())
