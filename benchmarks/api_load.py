"""Produce latency (p50/p99) and requests per second of ``POST /api/v1/orders``, 1 and 8 clients.

    python benchmarks/api_load.py [--requests 1000] [--seconds 10] [--clients 1,8] [--engine kafka|embedded]

Loopback only: a broker on 127.0.0.1 (a free port, private state dir) and ``labkit api`` as its own
process on 127.0.0.1 with its in-process consumer running, as in the labs. Each level sends at most
``--requests`` orders or stops after ``--seconds``, whichever comes first, over keep-alive
connections (asyncio + httpx, one connection per client). Latency = request sent -> 202 received,
which includes the broker's acknowledgement (acks=all).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time

import httpx
from isolated import free_port, private_state_dir, stop_process

from labkit import broker
from labkit.kafka import topics
from labkit.settings import load


async def level(url: str, clients: int, max_requests: int, seconds: float, tag: str) -> dict:
    latencies: list[float] = []
    errors = 0
    sent = 0
    deadline = time.perf_counter() + seconds

    async def client(n: int) -> None:
        nonlocal errors, sent
        async with httpx.AsyncClient(base_url=url, timeout=10, limits=httpx.Limits(max_connections=1)) as http:
            while sent < max_requests and time.perf_counter() < deadline:
                sent += 1
                body = {"orderId": f"BENCH-{tag}-{n}-{sent}", "amount": 100, "status": "PENDING"}
                t0 = time.perf_counter()
                r = await http.post("/api/v1/orders", json=body)
                if r.status_code == 202:
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors += 1

    start = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    elapsed = time.perf_counter() - start
    latencies.sort()
    q = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else latencies * 99
    return {"clients": clients, "requests": len(latencies), "errors": errors, "seconds": elapsed,
            "rps": len(latencies) / elapsed, "p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000}


def wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"labkit api exited with {proc.returncode}: {proc.stderr.read()}")
        try:
            if httpx.get(url + "/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("the API did not become healthy in time")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="max requests per level (default 1000)")
    parser.add_argument("--seconds", type=float, default=10.0, help="max seconds per level (default 10)")
    parser.add_argument("--clients", default="1,8", help="concurrency levels (default 1,8)")
    parser.add_argument("--engine", default="kafka", choices=["kafka", "embedded"])
    parser.add_argument("--warmup", type=int, default=50, help="requests sent before measuring (default 50)")
    args = parser.parse_args(argv)

    private_state_dir("labkit-bench-")
    settings = load(bootstrap_servers=f"127.0.0.1:{free_port()}")
    broker.up(args.engine, settings=settings)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = None
    try:
        topics.create(settings)
        proc = subprocess.Popen(
            [sys.executable, "-m", "labkit.cli", "--bootstrap-server", settings.bootstrap_servers, "api",
             "--port", str(port), "--log-file", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
        wait_healthy(url, proc)
        asyncio.run(level(url, 1, args.warmup, args.seconds, "warmup"))
        rows = [asyncio.run(level(url, int(c), args.requests, args.seconds, f"c{c}"))
                for c in args.clients.split(",")]
    finally:
        stop_process(proc)
        broker.down(settings=settings)
        if args.engine == "kafka":
            broker.reset(settings=settings)

    print(f"POST /api/v1/orders on loopback, engine {args.engine}, acks=all, consumer running in the API")
    print(f"{'clients':>7} {'requests':>8} {'errors':>6} {'seconds':>7} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7}")
    for r in rows:
        print(f"{r['clients']:>7} {r['requests']:>8} {r['errors']:>6} {r['seconds']:>7.2f} {r['rps']:>8.0f} "
              f"{r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
