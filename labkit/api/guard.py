"""What keeps a web page from driving the order API: the checks every request passes before an endpoint.

The API has no login: anything that can reach its port may use it. A page open in the student's
browser can reach ``localhost:18082`` too, and a plain ``<form method=post>`` (a "simple" cross-origin
request, no CORS preflight) would post orders or switch failure injection on; DNS rebinding would even
let such a page read the answers. So, in this order (one JSON line each, nothing reaches the endpoint):

* the request head must be small (431 over :data:`MAX_HEADER_BYTES`): curl, httpx and browsers send a
  few hundred bytes; uvicorn alone accepts tens of kilobytes of headers on every request;
* ``Host`` must name this API (421): ``localhost``, ``127.0.0.1``, ``[::1]``, the address it is bound
  to, the names in ``LABKIT_API_ALLOWED_HOSTS`` / ``--allowed-host`` (``*``: any). Bound to all
  interfaces (``--host 0.0.0.0``, docker), any IP address and the machine's own names are allowed too:
  a rebinding page always sends its own *domain name*, never an IP address. A request with no ``Host``
  at all (HTTP/1.0: uvicorn refuses an HTTP/1.1 one) passes: every browser sends one, so no web page
  can send such a request;
* an ``Origin`` header, when there is one, must be local (403): ``http(s)://localhost|127.0.0.1|[::1]``
  on any port (JupyterLab's page), or the API's own origin (its ``/docs``). Browsers send ``Origin`` with
  every cross-origin POST; curl, httpx and the notebooks send none;
* a state-changing request (POST, PUT, PATCH, DELETE) that declares a ``Content-Type`` must declare
  ``application/json`` (415): the three a form or a simple request can send (urlencoded, multipart,
  text/plain) are refused. A request without a body needs none (the module's
  ``curl -X POST ".../simulate-transient-error?enabled=true"``); a body without any ``Content-Type``
  (httpx's ``content=``) is judged as JSON, as notebook 04 shows;
* the body is read here, bounded while it arrives: a declared ``Content-Length`` over the limit is a
  413 before a byte is read, a stream over it a 413 as soon as it crosses it, a body that stops
  arriving a 408 after ``body_timeout_s``; a client that disconnects mid-upload is one log line.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = ["RequestGuard", "HostPolicy", "BODY_TIMEOUT_S", "MAX_HEADER_BYTES", "LOCAL_NAMES", "WILDCARDS"]

log = logging.getLogger("labkit.api.server")

BODY_TIMEOUT_S = 10.0  # a 64 KiB order body arrives in milliseconds; a stalled upload frees its connection
MAX_HEADER_BYTES = 8192  # every header name and value together; nginx's default buffer for one line
LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARDS = frozenset({"", "0.0.0.0", "::", "*"})
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ALLOWED_HOSTS_ENV = "LABKIT_API_ALLOWED_HOSTS"


def _hostname(value: str) -> str:
    """``"[::1]:18082"`` -> ``"::1"``, ``"LocalHost.:80"`` -> ``"localhost"``."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    if value.count(":") > 1:  # a bare IPv6 address
        return value
    return value.rsplit(":", 1)[0].rstrip(".") if ":" in value else value.rstrip(".")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class HostPolicy:
    """Which ``Host`` names this API answers to (see the module doc)."""

    names: frozenset[str]
    any_ip: bool = False
    any_host: bool = False

    @classmethod
    def for_bind(cls, bind_host: str = "127.0.0.1", allowed: Iterable[str] = ()) -> HostPolicy:
        extra = [a for a in allowed if a.strip()]
        extra += [a for a in os.environ.get(ALLOWED_HOSTS_ENV, "").split(",") if a.strip()]
        names = set(LOCAL_NAMES) | {_hostname(a) for a in extra}
        wildcard = bind_host.strip().strip("[]") in WILDCARDS
        if wildcard:
            names |= {n.lower().rstrip(".") for n in (socket.gethostname(), socket.getfqdn()) if n}
        else:
            names.add(_hostname(bind_host))
        return cls(frozenset(names), any_ip=wildcard, any_host="*" in names)

    def allows(self, host: str) -> bool:
        name = _hostname(host)
        return self.any_host or name in self.names or (self.any_ip and _is_ip(name))


def _port_of(value: str) -> int | None:
    tail = value.strip().rsplit("]", 1)[-1]
    if tail.count(":") != 1:
        return None
    digits = tail.rsplit(":", 1)[1]
    return int(digits) if digits.isdigit() else None


def _local_origin(origin: str, host: str | None, scheme: str) -> bool:
    """A page of localhost (any port), or the API's own page (same scheme, name and port as ``Host``)."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    if parts.hostname.lower() in LOCAL_NAMES:
        return True
    if host is None or parts.scheme != scheme:
        return False
    default = {"http": 80, "https": 443}[scheme]
    return (parts.hostname.lower() == _hostname(host)
            and (port or default) == (_port_of(host) or default))


class RequestGuard:
    """ASGI middleware: the Host, Origin and Content-Type checks, then the body, read within bounds
    and handed to the app (see the module doc)."""

    def __init__(self, app: Any, *, hosts: HostPolicy, max_body_bytes: int,
                 body_timeout_s: float = BODY_TIMEOUT_S) -> None:
        self.app, self.hosts = app, hosts
        self.max_body_bytes, self.body_timeout_s = max_body_bytes, body_timeout_s

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: dict[str, str] = {}
        size = 0
        for key, value in scope.get("headers", ()):
            size += len(key) + len(value)
            headers.setdefault(key.decode("latin-1").lower(), value.decode("latin-1"))
        if size > MAX_HEADER_BYTES:
            await _answer(send, 431, "request_header_fields_too_large",
                          f"the request's headers are {size} bytes; the limit is {MAX_HEADER_BYTES}")
            return
        host, origin = headers.get("host"), headers.get("origin")
        method = scope.get("method", "GET").upper()
        if host is not None and not self.hosts.allows(host):
            await _answer(send, 421, "misdirected_request",
                          f"Host {_hostname(host)!r} is not this API's address; call it as http://localhost:<port> "
                          f"(or allow the name: --allowed-host / {ALLOWED_HOSTS_ENV})")
            return
        if origin is not None and not _local_origin(origin, host, scope.get("scheme", "http")):
            await _answer(send, 403, "cross_origin_refused",
                          f"requests from web pages at {origin[:100]} are refused: this API accepts pages of "
                          "localhost only (curl, httpx and the notebooks send no Origin)")
            return
        if method in STATE_CHANGING and "content-type" in headers:
            media = headers["content-type"].split(";", 1)[0].strip().lower()
            if media != "application/json":
                await _answer(send, 415, "unsupported_media_type",
                              f"Content-Type {media or 'empty'!r} is not accepted: send JSON with "
                              "-H \"Content-Type: application/json\"")
                return
        if method in ("GET", "HEAD", "OPTIONS") and "content-length" not in headers \
                and "transfer-encoding" not in headers:
            await self.app(scope, receive, send)
            return
        body = await self._read_body(scope, headers, receive, send)
        if body is None:
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read_body(self, scope: dict, headers: dict[str, str], receive: Any, send: Any) -> bytes | None:
        """The whole body, or None once the answer (413 / 408) was sent or the client left."""
        declared = headers.get("content-length")
        limit = self.max_body_bytes
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            await _answer(send, 413, "payload_too_large",
                          f"request body is {int(declared)} bytes; the limit is {limit}")
            return None
        chunks: list[bytes] = []
        size = 0
        deadline = time.monotonic() + self.body_timeout_s
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                log.warning("%s %s: the request body did not arrive within %g s (%d of %s bytes): answered 408",
                            scope.get("method"), scope.get("path"), self.body_timeout_s, size, declared or "?")
                await _answer(send, 408, "request_timeout",
                              f"the request body did not arrive within {self.body_timeout_s:g} s")
                return None
            if message["type"] == "http.disconnect":
                client = scope.get("client") or ("?", 0)
                log.warning("client %s:%s disconnected during the upload of %s %s (%d of %s bytes received); "
                            "nothing was done", client[0], client[1], scope.get("method"), scope.get("path"),
                            size, declared or "?")
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _answer(send, 413, "payload_too_large",
                              f"request body is over {limit} bytes (the limit); nothing was done")
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes, receive: Any) -> Any:
    """A ``receive`` that gives the app the body read already, then the client's next messages."""
    sent = False

    async def replay() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _answer(send: Any, status: int, error: str, message: str) -> None:
    body = json.dumps({"error": error, "message": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
