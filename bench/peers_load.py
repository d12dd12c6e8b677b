"""A plain httpx load client in a process of its own, for bench/peers.py's web comparisons.

``python bench/peers_load.py --port P --seconds 20 --clients 50 --routes /api/stats,/``:
the clients go round the routes (each client starting at its own), following
``next_cursor`` on ``/api/images``, and the process prints one JSON line: requests,
p50/p99 ms and errors per route and in all, the seconds the load took (until the last
answer) and the CPU seconds the process used. ``--close`` opens a new connection for
every request; ``--raw`` drives the same load with bench/web.py's own client (hand-written
HTTP/1.1 on uvloop) instead of httpx.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from typing import Any

import httpx

REQUEST_TIMEOUT = 10.0
# gatecam web closes a connection idle for 5 s; httpx's default expiry is the same 5 s, so a
# connection could be picked just as the server closes it (a ReadError, not the server's).
KEEPALIVE_EXPIRY = 4.0
DEFAULT_ROUTES = "/api/stats,/api/images?limit=100,/healthz,/metrics,/"


def pct(times: list[float], q: float) -> float:
    if not times:
        return float("nan")
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(times: dict[str, list[float]], errors: dict[str, dict[str, int]]) -> dict[str, Any]:
    every = [t for ts in times.values() for t in ts]
    return {
        "routes": {
            name: {
                "requests": len(ts),
                "p50": pct(ts, 0.5),
                "p99": pct(ts, 0.99),
                "errors": sum(errors[name].values()),
                "statuses": errors[name],
            }
            for name, ts in times.items()
        },
        "requests": len(every),
        "p50": pct(every, 0.5),
        "p99": pct(every, 0.99),
        "errors": sum(sum(e.values()) for e in errors.values()),
    }


async def httpx_load(
    base: str, token: str, routes: list[str], clients: int, seconds: float, close: bool
) -> dict[str, Any]:
    times: dict[str, list[float]] = {name: [] for name in routes}
    errors: dict[str, dict[str, int]] = {name: {} for name in routes}
    limits = httpx.Limits(
        max_connections=clients,
        max_keepalive_connections=0 if close else clients,
        keepalive_expiry=KEEPALIVE_EXPIRY,
    )
    headers = {"Authorization": f"Bearer {token}"}
    if close:
        headers["Connection"] = "close"
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=REQUEST_TIMEOUT
    ) as client:
        until = time.monotonic() + seconds

        async def one(offset: int) -> None:
            cursor: str | None = None
            n = offset
            while time.monotonic() < until:
                name = routes[n % len(routes)]
                n += 1
                path = name
                if name.startswith("/api/images") and cursor:
                    path = f"{name}&cursor={cursor}"
                started = time.perf_counter()
                try:
                    response = await client.get(path)
                except httpx.HTTPError as exc:
                    kind = type(exc).__name__
                    errors[name][kind] = errors[name].get(kind, 0) + 1
                    continue
                times[name].append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    code = str(response.status_code)
                    errors[name][code] = errors[name].get(code, 0) + 1
                elif name.startswith("/api/images"):
                    cursor = response.json().get("next_cursor")

        started = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(clients)))
        took = time.perf_counter() - started
    return {**summary(times, errors), "load_seconds": took}


def raw_load(port: int, seconds: float) -> dict[str, Any]:
    """bench/web.py's own load (its routes, 50 clients, its token) on uvloop."""
    import uvloop
    from web import load

    started = time.perf_counter()
    routes = uvloop.run(load(port, seconds))
    took = time.perf_counter() - started
    result = summary(
        {name: r.times for name, r in routes.items()},
        {name: r.statuses for name, r in routes.items()},
    )
    return {**result, "load_seconds": took}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", default="bench-token")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--routes", default=DEFAULT_ROUTES, help="comma-separated paths")
    parser.add_argument("--close", action="store_true", help="a new connection per request")
    parser.add_argument("--raw", action="store_true", help="bench/web.py's client instead")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.raw:
        result = raw_load(args.port, args.seconds)
    else:
        result = asyncio.run(
            httpx_load(
                f"http://127.0.0.1:{args.port}",
                args.token,
                args.routes.split(","),
                args.clients,
                args.seconds,
                args.close,
            )
        )
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["elapsed"] = time.perf_counter() - started
    result["cpu"] = usage.ru_utime + usage.ru_stime
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
