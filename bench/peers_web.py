"""The web app beside datasette, and under a mixed load while a writer stores images.

One archive of ``IMAGES`` images and as many runs, built as bench/web.py builds its own, in
one SQLite file. gatecam serves it with ``gatecam web`` (uvicorn, its own process, token
set); datasette serves the same file (``datasette serve``, uvicorn too, with uvloop and
httptools). Both run at once and are measured in turn, A, B, A, B, so a busy moment of the
shared machine weighs on both alike.

- pages: ``wrk`` (if installed, else bench/peers_load.py's httpx client) with 50
  connections on one URL: gatecam's ``/api/images?limit=100`` against datasette's
  ``/<db>/images.json?_size=100``, and ``/api/stats`` against ``/<db>/stream_counters.json``;
- mixed: bench/peers_load.py (httpx, its own process), 50 clients for 20 s over the five
  routes bench/web.py uses, while bench/peers_writer.py stores 60 images every 0.5 s;
  then each factor that sets it apart from bench/web.py's own figures, measured in pairs.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from peers_common import Figure, Line, load_average, median, missing, spread
from web import TOKEN, build, free_port, process, serving, wait_for_port

from gatecam.database.engine import Database
from gatecam.database.migrate import upgrade

IMAGES = 200_000
CLIENTS = 50
PAGE_SECONDS = 5.0
PAGE_ROUNDS = 5
MIXED_SECONDS = 20.0
FACTOR_SECONDS = 8.0
FACTOR_ROUNDS = 2
WRITER_BATCH = 60
WRITER_INTERVAL = 0.5
TARGET_PAGES = 2.0
TARGET_PAGES_P99_MS = 250.0
TARGET_STATS = 5.0
TARGET_MIXED_RPS = 400.0
TARGET_MIXED_P99_MS = 300.0
HERE = Path(__file__).resolve().parent
# The bench extra's datasette beside this Python, else one on PATH.
_BESIDE = Path(sys.executable).with_name("datasette")
DATASETTE = str(_BESIDE) if _BESIDE.exists() else (shutil.which("datasette") or "datasette")
MIXED_ROUTES = ("/api/stats", "/api/images?limit=100", "/healthz", "/metrics", "/")


@dataclass(frozen=True)
class Served:
    """The archive, and the servers on it."""

    url: str
    path: Path
    gatecam: int
    datasette: int | None


@contextmanager
def archive(images: int) -> Iterator[tuple[str, Path, Path]]:
    """A SQLite archive of ``images`` images built as bench/web.py builds its own."""
    with tempfile.TemporaryDirectory(prefix="gatecam-bench-peers-web-") as tmp:
        path = Path(tmp) / "gatecam.db"
        url = f"sqlite:///{path}"
        folder = Path(tmp) / "images"
        folder.mkdir()
        db = Database(url)
        try:
            upgrade(db)
            started = time.perf_counter()
            build(db, images, datetime.now(UTC).replace(microsecond=0))
        finally:
            db.dispose()
        print(f"  ({images:,} images and runs built in {time.perf_counter() - started:.0f} s)")
        yield url, path, folder


@contextmanager
def datasette(path: Path) -> Iterator[int]:
    port = free_port()
    args = [
        DATASETTE, "serve", str(path), "--host", "127.0.0.1", "--port", str(port),
        # Its best shot at a page: no facet suggestions computed beside each answer.
        "--setting", "suggest_facets", "off",
        "--setting", "sql_time_limit_ms", "10000",
    ]  # fmt: skip
    with process(args) as proc:
        wait_for_port(port, proc)
        yield port


@contextmanager
def servers(images: int, with_datasette: bool) -> Iterator[Served]:
    with ExitStack() as stack:
        url, path, folder = stack.enter_context(archive(images))
        port, _ = stack.enter_context(serving(url, folder))
        peer = stack.enter_context(datasette(path)) if with_datasette else None
        yield Served(url, path, port, peer)


# -- one URL under load ------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass(frozen=True)
class Rate:
    rps: float
    p99: float
    errors: int


def wrk(port: int, path: str, seconds: float) -> Rate:
    """wrk with 50 connections on one URL, one thread (the machine has 2 cores)."""
    args = [
        "wrk", "-t1", f"-c{CLIENTS}", f"-d{seconds:g}s", "--timeout", "10s", "--latency",
        "-H", f"Authorization: Bearer {TOKEN}", f"http://127.0.0.1:{port}{path}",
    ]  # fmt: skip
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.MULTILINE)
    if rps is None or p99 is None:
        raise RuntimeError(f"wrk said: {out.strip()[-300:]}")
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors += int(non_2xx.group(1)) if non_2xx else 0
    return Rate(float(rps.group(1)), float(p99.group(1)) * _UNITS[p99.group(2)], errors)


def httpx_rate(port: int, path: str, seconds: float) -> Rate:
    result = run_load(port, seconds, routes=(path,))
    return Rate(rps(result), result["p99"], result["errors"])


def run_load(
    port: int,
    seconds: float,
    *,
    routes: tuple[str, ...] = MIXED_ROUTES,
    close: bool = False,
    raw: bool = False,
) -> dict[str, Any]:
    """bench/peers_load.py in its own process; its JSON line."""
    args = [sys.executable, str(HERE / "peers_load.py"), "--port", str(port)]
    args += ["--seconds", str(seconds), "--clients", str(CLIENTS), "--token", TOKEN]
    args += ["--routes", ",".join(routes)]
    if close:
        args.append("--close")
    if raw:
        args.append("--raw")
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def compare_pages(images: int = IMAGES, rounds: int = PAGE_ROUNDS) -> list[Line | Figure | str]:
    out: list[Line | Figure | str] = []
    skipped = missing(DATASETTE)
    if skipped:
        return [f"pages vs datasette: {skipped}"]
    tool = "wrk" if missing("wrk") is None else "httpx"
    measure = wrk if tool == "wrk" else httpx_rate
    pairs = (
        ("/api/images?limit=100", "/gatecam/images.json?_size=100", TARGET_PAGES, "images"),
        ("/api/stats", "/gatecam/stream_counters.json", TARGET_STATS, "stats"),
    )
    started_load = load_average()
    with servers(images, with_datasette=True) as served:
        assert served.datasette is not None
        rates: dict[str, list[Rate]] = {}
        for ours, theirs, _, name in pairs:
            # Warm-up: first queries, page caches, the servers' imports.
            measure(served.gatecam, ours, 1.0)
            measure(served.datasette, theirs, 1.0)
            rates[f"ours {name}"], rates[f"peer {name}"] = [], []
        for _ in range(rounds):
            for ours, theirs, _, name in pairs:
                rates[f"ours {name}"].append(measure(served.gatecam, ours, PAGE_SECONDS))
                rates[f"peer {name}"].append(measure(served.datasette, theirs, PAGE_SECONDS))
    out.append(
        f"  (load: {tool}, {CLIENTS} connections, {PAGE_SECONDS:g} s a round, {rounds} rounds; "
        f"load average {started_load:.1f} -> {load_average():.1f})"
    )
    for ours, _, target, name in pairs:
        mine, peer = rates[f"ours {name}"], rates[f"peer {name}"]
        out.append(
            f"  ({ours}: gatecam {spread([r.rps for r in mine])}, "
            f"datasette {spread([r.rps for r in peer])} req/s)"
        )
        out.append(
            Line(
                f"{ours} vs datasette",
                median([r.rps for r in mine]),
                median([r.rps for r in peer]),
                "req/s",
                at_least=target,
            )
        )
        out.append(
            Figure(
                f"{ours} p99 (datasette {median([r.p99 for r in peer]):.0f} ms)",
                median([r.p99 for r in mine]),
                "ms",
                at_most=TARGET_PAGES_P99_MS if name == "images" else None,
            )
        )
        errors = sum(r.errors for r in mine), sum(r.errors for r in peer)
        if any(errors):
            out.append(f"  ({ours}: {errors[0]} errors; datasette {errors[1]})")
    return out


# -- the mixed load ------------------------------------------------------------------------------


@contextmanager
def writer(url: str) -> Iterator[None]:
    """bench/peers_writer.py storing batches into the archive, from its first batch on."""
    args = [sys.executable, str(HERE / "peers_writer.py"), url]
    args += ["--batch", str(WRITER_BATCH), "--interval", str(WRITER_INTERVAL)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        if not proc.stdout.readline():
            raise RuntimeError(f"the writer exited with {proc.wait()} before its first batch")
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    if proc.returncode:
        raise RuntimeError(f"the writer exited with {proc.returncode}")


def rps(result: dict[str, Any]) -> float:
    """Answers a second, over the time until the last answer came."""
    return float(result["requests"]) / float(result["load_seconds"])


def mixed_lines(result: dict[str, Any]) -> list[Figure | str]:
    out: list[Figure | str] = []
    out.append(f"  {'route':<24} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for name, r in result["routes"].items():
        extra = f"  {r['statuses']}" if r["statuses"] else ""
        out.append(
            f"  {name:<24} {r['requests']:>8} {r['p50']:>8.1f} {r['p99']:>8.1f} "
            f"{r['errors']:>6}{extra}"
        )
    out.append(Figure("mixed load, httpx, writer on: req/s", rps(result), "req/s",
                      at_least=TARGET_MIXED_RPS))  # fmt: skip
    out.append(Figure("mixed load: p50", result["p50"], "ms"))
    out.append(Figure("mixed load: p99", result["p99"], "ms", at_most=TARGET_MIXED_P99_MS))
    out.append(Figure("mixed load: errors", result["errors"], "", at_most=0))
    return out


def paired(
    a: dict[str, Any], b: dict[str, Any], rounds: int, port: int, url: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Runs two load settings in turn, ``rounds`` times; a setting is run_load's keywords
    plus ``writer`` (whether the writer stores meanwhile)."""
    first: list[dict[str, Any]] = []
    second: list[dict[str, Any]] = []
    for _ in range(rounds):
        for setting, results in ((a, first), (b, second)):
            options = {k: v for k, v in setting.items() if k != "writer"}
            with ExitStack() as stack:
                if setting.get("writer", True):
                    stack.enter_context(writer(url))
                results.append(run_load(port, FACTOR_SECONDS, **options))
    return first, second


def factor_line(label: str, a: list[dict[str, Any]], b: list[dict[str, Any]]) -> str:
    ra = median([rps(r) for r in a])
    rb = median([rps(r) for r in b])
    pa, pb = median([r["p99"] for r in a]), median([r["p99"] for r in b])
    return (
        f"  {label:<44} {ra:>7.0f} vs {rb:>7.0f} req/s ({ra / rb:4.2f}x), "
        f"p99 {pa:4.0f} vs {pb:4.0f} ms"
    )


def compare_mixed(
    images: int = IMAGES, seconds: float = MIXED_SECONDS, rounds: int = FACTOR_ROUNDS
) -> list[Line | Figure | str]:
    out: list[Line | Figure | str] = [f"  (load average {load_average():.1f} at the start)"]
    with servers(images, with_datasette=False) as served:
        run_load(served.gatecam, 1.0)  # warm-up
        with writer(served.url):
            result = run_load(served.gatecam, seconds)
        out.extend(mixed_lines(result))
        out.append(
            f"  (the client used {result['cpu']:.1f} CPU s, "
            f"{1000 * result['cpu'] / max(1, result['requests']):.2f} ms a request)"
        )
        out.append(
            f"  factors, {FACTOR_SECONDS:g} s runs, in turn, median of {rounds}: "
            "the first setting vs the second"
        )
        # The client: httpx on asyncio against bench/web.py's hand-written HTTP/1.1 on uvloop.
        a, b = paired({}, {"raw": True}, rounds, served.gatecam, served.url)
        out.append(factor_line("client: httpx vs web.py's raw uvloop client", a, b))
        cpu_a = median([1000 * r["cpu"] / max(1, r["requests"]) for r in a])
        cpu_b = median([1000 * r["cpu"] / max(1, r["requests"]) for r in b])
        label = "client CPU a request: httpx vs raw"
        out.append(f"  {label:<44} {cpu_a:>7.2f} vs {cpu_b:>7.2f} ms")
        a, b = paired({"close": True}, {}, rounds, served.gatecam, served.url)
        out.append(factor_line("connections: one per request vs kept alive", a, b))
        # The writer with the client that leaves the server the bottleneck: with httpx the
        # client's own cost hides what the server does.
        a, b = paired({"raw": True}, {"raw": True, "writer": False}, rounds, served.gatecam,
                      served.url)  # fmt: skip
        out.append(factor_line("writer, raw client: on (redraw) vs off", a, b))
        # Each route alone, by the cheapest client there is, so the figure is the server's.
        measure = wrk if missing("wrk") is None else httpx_rate
        for route in MIXED_ROUTES:
            with writer(served.url):
                rate = measure(served.gatecam, route, FACTOR_SECONDS)
            out.append(
                f"  {'route alone (' + measure.__name__ + '): ' + route:<44} "
                f"{rate.rps:>7.0f} req/s, p99 {rate.p99:4.0f} ms, {rate.errors} errors"
            )
    out.append(f"  (load average {load_average():.1f} at the end)")
    return out
