"""The module's order API on :18082 (``POST /api/v1/orders``, ``/api/v1/stats``, ``/api/v1/dlt/count``, ``/health``).

Importing this package is cheap: FastAPI is loaded with :mod:`labkit.api.server`, when ``ApiServer`` or
``serve`` is first used.
"""

from labkit.lazy import exports

DEFAULT_PORT = 18082  # the module's order API port

PUBLIC = {
    "labkit.api.server": ["ApiServer", "serve"],
}
__all__ = ["DEFAULT_PORT", *(name for names in PUBLIC.values() for name in names)]
__getattr__, __dir__ = exports(__name__, PUBLIC)
