"""The module's order API on :18082 (``POST /api/v1/orders``, ``/api/v1/stats``, ``/api/v1/dlt/count``, ``/health``).

Importing this package is cheap: FastAPI is loaded by :mod:`labkit.api.server` only when an API starts.
"""

DEFAULT_PORT = 18082  # the module's order API port
