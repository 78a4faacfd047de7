"""The module's order API on :18082, in Python: it produces orders *and* consumes them, like the
module's Java API, so every ``curl`` command of Labs 1-5 works as written.

Endpoints (OpenAPI at ``/openapi.json``, interactive docs at ``/docs``)::

    POST /api/v1/orders                              202 written to `orders` (topic, partition, offset)
                                                     400 not JSON · 413 too large · 422 wrong shape · 503 no broker
    POST /api/v1/config/simulate-transient-error     200 ?enabled=true|false[&rate=&failFirst=&latencyMs=]
    GET  /api/v1/config                              200 the failure-injection switches
    GET  /api/v1/stats                               200 processed, retries, DLT by reason, in flight, partitions
    GET  /api/v1/dlt/count                           200 records in `orders.DLT`, read from the topic · 503
    GET  /health                                     200 UP (broker answers, consumer owns partitions) · 503 DOWN

Any endpoint: 421 a ``Host`` that is not this API · 403 a non-local ``Origin`` · 415 a POST declaring a
``Content-Type`` other than JSON · 408 a body that stops arriving (:mod:`labkit.api.guard`).

**Who checks what.** :mod:`labkit.api.guard` first keeps web pages out; the API checks the *shape* of a
request (:mod:`labkit.api.validation`), the consumer the *business rules*. The endpoints
(:mod:`labkit.api.app`) call an :class:`~labkit.api.service.ApiService`; this module serves them
(:func:`serve`, :class:`ApiServer`).

Every Kafka call is bounded; no broker means a 503 with a one-line JSON message, never a hang.
Logs (``labkit.engine.processor``: ``Retry n/N ... attempt``, ``sent to DLT``, ``rebalance``) go to the
console and to ``--log-file``: ``grep -E "(Retry|attempt|DLT)" labkit-api.log`` is the twin of the
module's ``docker logs m04-java-api | grep ...``.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from labkit.api import DEFAULT_PORT
from labkit.api.app import create_app
from labkit.api.consumers import group_id_of
from labkit.api.service import ApiService
from labkit.paths import PrivateFileHandler
from labkit.settings import Settings, load

__all__ = ["DEFAULT_PORT", "ApiServer", "PortInUse", "configure_logging", "serve"]

log = logging.getLogger("labkit.api.server")

LOG_FORMAT = "%(asctime)s %(levelname)-7s [%(name)s] %(message)s"


class PortInUse(OSError):
    """The API's port is taken (another ``labkit api``?)."""




def configure_logging(log_file: str | Path | None = None, level: int = logging.INFO,
                      console: bool = True) -> Callable[[], None]:
    """Send labkit's and uvicorn's logs to the console and (if given) a file; returns a function
    that undoes it (handlers removed and closed, levels and propagation restored).

    The log file is appended to, created ``0600`` (missing directories ``0700``), never through a link:
    a link at its path is :class:`~labkit.paths.UnsafePath` and nothing is changed."""
    formatter = logging.Formatter(LOG_FORMAT)
    handlers: list[logging.Handler] = []
    if log_file:
        handlers.append(PrivateFileHandler(log_file))
    if console:
        handlers.insert(0, logging.StreamHandler(sys.stderr))
    for h in handlers:
        h.setFormatter(formatter)
    saved = []
    for name in ("labkit", "uvicorn"):
        logger = logging.getLogger(name)
        saved.append((logger, logger.level, logger.propagate))
        logger.setLevel(level)
        logger.propagate = not console  # with a console handler here, do not print twice via root
        for h in handlers:
            logger.addHandler(h)

    def undo() -> None:
        for logger, old_level, old_propagate in saved:
            for h in handlers:
                logger.removeHandler(h)
            logger.setLevel(old_level)
            logger.propagate = old_propagate
        for h in handlers:
            h.close()

    return undo


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, or :class:`PortInUse` with one clear line."""
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say so; without it,
    # Nagle + delayed ACK add ~40 ms to every response.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(f"port {port} on {host} is already in use (another labkit api?); "
                            f"stop it or choose another --port") from None
        raise
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _server(app: FastAPI, access_log: bool):
    import uvicorn

    config = uvicorn.Config(app, log_config=None, access_log=access_log, timeout_graceful_shutdown=5,
                            lifespan="on")
    return uvicorn.Server(config)


def serve(host: str = "127.0.0.1", port: int = DEFAULT_PORT, settings: Settings | None = None, *,
          mode: str = "pause", consume: bool = True, log_file: str | Path | None = None, **app_kwargs) -> int:
    """Run the API until SIGTERM / Ctrl+C, then stop the consumer cleanly. Returns 0.

    The port is bound *before* anything else, so a busy port fails at once (:class:`PortInUse`); an app
    that cannot be made (``consumer="share"`` on the embedded broker) frees it before any log is set up.
    Requests must name this API in ``Host`` (:mod:`labkit.api.guard`: the local names, ``host``, and
    ``allowed_hosts`` such as a docker service name).
    """
    sock = bind(host, port)
    try:
        app = create_app(settings, consume=consume, mode=mode, bind_host=host, **app_kwargs)
        configure_logging(log_file)
    except BaseException:
        sock.close()
        raise
    shown = f"[{host}]" if ":" in host else host
    log.info("labkit api on http://%s:%d (docs: /docs)%s", shown, sock.getsockname()[1],
             f", log file {log_file}" if log_file else "")
    stopped_by: list[int] = []
    previous = {s: signal.signal(s, lambda n, f: stopped_by.append(n)) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        _server(app, access_log=True).run(sockets=[sock])  # uvicorn handles the signals while it runs
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        sock.close()
    if stopped_by:
        log.info("stopped by %s", signal.Signals(stopped_by[0]).name)
    return 0


# The consuming APIs this process runs, by (bootstrap servers, group id): one per group, all stopped
# when the process (a notebook kernel) exits, so none keeps consuming from a dead notebook.
_RUNNING: dict[tuple[str, str], ApiServer] = {}


@atexit.register
def _stop_all() -> None:
    for server in list(_RUNNING.values()):
        with contextlib.suppress(Exception):
            server.stop(timeout_s=10)


class ApiServer:
    """The API in a background thread (notebooks, tests, benchmarks)::

        with ApiServer(settings, port=0) as api:     # port 0: a free one
            httpx.get(api.url + "/health", timeout=10)
    """

    def __init__(self, settings: Settings | None = None, host: str = "127.0.0.1", port: int = DEFAULT_PORT, *,
                 log_file: str | Path | None = None, access_log: bool = False, **app_kwargs):
        self.settings, self.host, self.port = settings, host, port
        self.log_file, self.access_log, self.app_kwargs = log_file, access_log, app_kwargs
        self.app: FastAPI | None = None
        self._undo_logging: Callable[[], None] | None = None
        self._thread: threading.Thread | None = None
        self._server = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def service(self) -> ApiService:
        return self.app.state.service

    def start(self, timeout_s: float = 20.0, alone: bool = True) -> ApiServer:
        """Serve in a background thread. A consuming API first stops the one this process started
        before in the same group (a notebook cell run twice leaves one consumer, not two); with
        ``alone`` it then makes sure no other consumer (a terminal service, another kernel) shares
        its group, else stops and raises :class:`~labkit.observe.members.ForeignConsumers`."""
        consuming = self.app_kwargs.get("consume", True)
        key = self._group_key()
        if consuming:
            previous = _RUNNING.pop(key, None)
            if previous is not None and previous is not self:
                log.info("stopping the API this process started before on %s (group %s)", previous.url, key[1])
                previous.stop()
        sock = bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        if self.log_file:
            try:
                self._undo_logging = configure_logging(self.log_file, console=False)
            except BaseException:
                sock.close()
                raise
        try:
            self.app = create_app(self.settings, bind_host=self.host, **self.app_kwargs)
        except BaseException:  # e.g. a share consumer on the embedded broker: free the port, keep no log handler
            sock.close()
            if self._undo_logging is not None:
                self._undo_logging()
                self._undo_logging = None
            raise
        self._server = _server(self.app, self.access_log)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name=f"labkit-api-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the API did not start on {self.url} within {timeout_s} s")
            time.sleep(0.02)
        if consuming:
            _RUNNING[key] = self
            if alone:
                self._require_alone(timeout_s)
        return self

    def _group_key(self) -> tuple[str, str]:
        settings = self.settings or load()
        return settings.bootstrap_servers, group_id_of(settings, self.app_kwargs.get("consumer", "group"),
                                                       self.app_kwargs.get("share_config"))

    def _require_alone(self, timeout_s: float) -> None:
        try:
            self.service.consumer.join(self.service.settings, timeout_s)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout_s: float = 40.0) -> None:
        if _RUNNING.get(self._group_key()) is self:
            del _RUNNING[self._group_key()]
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        if self._undo_logging is not None:
            self._undo_logging()
            self._undo_logging = None

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
