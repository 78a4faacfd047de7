"""labkit: the engine of the Kafka error-handling course (DLT, retries, rebalancing, monitoring).

Import what you need from its modules, e.g. ``from labkit.policy import RetryPolicy``.
"""

__version__ = "0.1.0"

import sys as _sys

if "IPython" in _sys.modules:  # in a notebook: returned figures render as images, event tables without NaN
    from labkit.notebook.display import enable_commands as _enable_commands
    from labkit.notebook.display import enable_png as _enable_png
    from labkit.notebook.display import enable_progress as _enable_progress
    from labkit.notebook.display import enable_tables as _enable_tables

    _enable_png()
    _enable_tables()
    _enable_progress()  # a wait longer than 3 s says what it waits for
    _enable_commands()  # !kafka-topics in a cell works in any Jupyter, not only the one labkit lab starts

import logging as _logging

# A library stays quiet unless the application configures logging (the services and notebooks
# that want the log lines do); without this, warnings from consumer threads land in random cells.
_logging.getLogger("labkit").addHandler(_logging.NullHandler())
