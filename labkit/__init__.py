"""labkit: the engine of the Kafka error-handling course (DLT, retries, rebalancing, monitoring).

Import what you need from its modules, e.g. ``from labkit.backoff import exponential``.
"""

__version__ = "0.1.0"

import sys as _sys

if "IPython" in _sys.modules:  # in a notebook: returned figures render as images
    from labkit.display import enable_png as _enable_png

    _enable_png()
