"""Is a Kafka broker answering at host:port? One raw Metadata request, bounded by a timeout.

Raw bytes instead of kafka-python so a probe costs ~1 ms, never retries in the background, and
tells "nothing listens" apart from "something listens but is not Kafka" (a web server, say).
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass

_METADATA_V0 = 3  # api key; v0 with an empty topic list means "all topics"


@dataclass(frozen=True)
class Probe:
    """What a single probe found: ``kafka`` (answered), ``closed`` (nothing listens), ``foreign``."""

    state: str
    detail: str = ""
    brokers: int = 0

    @property
    def ok(self) -> bool:
        return self.state == "kafka"


def _request(correlation_id: int) -> bytes:
    client = b"labkit-probe"
    body = struct.pack(">hhih", _METADATA_V0, 0, correlation_id, len(client)) + client
    body += struct.pack(">i", 0)  # topics: empty array
    return struct.pack(">i", len(body)) + body


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed by peer")
        data += chunk
    return data


def probe(host: str, port: int, timeout_s: float = 2.0) -> Probe:
    """Send one Metadata request; never raises, never waits longer than ``timeout_s``."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except (TimeoutError, ConnectionRefusedError, OSError) as exc:
        return Probe("closed", str(exc))
    with sock:
        sock.settimeout(timeout_s)
        try:
            sock.sendall(_request(correlation_id=7))
            (size,) = struct.unpack(">i", _recv_exactly(sock, 4))
            if not 8 <= size <= 10_000_000:
                return Probe("foreign", f"answered with a non-Kafka frame (size field {size})")
            payload = _recv_exactly(sock, size)
            correlation, brokers = struct.unpack(">ii", payload[:8])
        except (TimeoutError, ConnectionError, OSError, struct.error) as exc:
            return Probe("foreign", f"accepted the connection but did not answer a Kafka request ({exc})")
        if correlation != 7:
            return Probe("foreign", "answered, but not with a Kafka response")
        if brokers < 1:
            return Probe("foreign", "a Kafka broker answered but lists no brokers yet (still starting)")
        return Probe("kafka", brokers=brokers)


def wait_until_ready(host: str, port: int, deadline_s: float, alive=lambda: True) -> Probe:
    """Probe until Kafka answers, ``alive()`` turns False, or the deadline passes."""
    end = time.monotonic() + deadline_s
    pause = 0.01
    last = Probe("closed", "not probed yet")
    while True:
        last = probe(host, port, timeout_s=min(2.0, max(0.1, end - time.monotonic())))
        if last.ok or not alive() or time.monotonic() >= end:
            return last
        time.sleep(pause)
        pause = min(pause * 2, 0.1)  # a probe costs ~1 ms: a ready broker is seen within 0.1 s


def port_is_free(host: str, port: int) -> bool:
    """True when nothing accepts connections on host:port."""
    return probe(host, port, timeout_s=0.5).state == "closed"
