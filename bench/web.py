"""The web app under load at a million images, while ``gatecam once`` writes into the database.

Targets, on SQLite and on PostgreSQL with 1,000,000 images and as many runs (a year of
10-minute runs over 19 streams):

- 50 clients for 30 s over /api/stats, /api/images?limit=100 (following next_cursor),
  /healthz, /metrics and / (with a token): at least 500 req/s, p99 at most 250 ms, 0 errors,
  while a ``gatecam once`` against the stand-in stores everything it lists;
- /healthz, /metrics, /api/stats and an /api/images page, one at a time: median at most
  10 ms at 1M, and no slower than with 10,000 images (1.25x allowed for timing noise); both
  archives are served at once and asked in turn, so the machine's moment weighs on both;
- the server's RSS under the load at most 150 MB.

The archive is built through gatecam's own queries: images by ``queries.insert_images``,
runs by bulk INSERT of DownloadRun rows (start_run/finish_run one by one would take most of
an hour for a million), after which the counters that finish_run keeps are set from the
rows, and the newest run of each stream goes through start_run/finish_run. The server is
``gatecam web``, the writer ``gatecam once`` and the stand-in ``gatecam simulate``, each
its own process, all on 127.0.0.1; the clients run on uvloop, so that the load costs the
server's two cores as little as the clients can.

Run from the repository root: ``.venv/bin/python bench/web.py [--skip-postgres]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

import uvloop
from databases import BENCH_DATABASE, postgres_database, sqlite_database
from sqlalchemy import insert, text
from sqlalchemy.exc import SQLAlchemyError

from gatecam.database import queries
from gatecam.database.engine import Database, reason
from gatecam.database.migrate import upgrade
from gatecam.database.models import DownloadRun, StreamCounter
from gatecam.database.queries import ImageRecord

LARGE = 1_000_000
SMALL = 10_000
TERMINAL = "apm"
STREAMS = ("in_gate", "out_gate", *(f"lane_{n:02d}" for n in range(1, 18)))
CLIENTS = 50
SECONDS = 30.0
REQUEST_TIMEOUT = 10.0
TOKEN = "bench-token"
ROUTES = ("/api/stats", "/api/images?limit=100", "/healthz", "/metrics", "/")
SINGLE = ("/healthz", "/metrics", "/api/stats", "/api/images?limit=100")
SINGLE_CALLS = 200
SINGLE_WARMUP = 20
TARGET_RPS = 500.0
TARGET_P99_MS = 250.0
TARGET_SINGLE_MS = 10.0
TARGET_RSS_MB = 150.0
NO_SLOWER = 1.25
POSTGRES_ADMIN_URL = "postgresql+psycopg://root@127.0.0.1:5432/postgres"
GATECAM = str(Path(sys.executable).with_name("gatecam"))
# The streams the job archives during the load: two of the archive's own.
JOB_STREAMS = f"{TERMINAL}/in_gate,{TERMINAL}/out_gate"


# -- building the archive ---------------------------------------------------------------------


def _records(now: datetime, per_stream: int) -> Iterator[ImageRecord]:
    """One image per stream every 10 minutes, newest first, ending an hour ago."""
    for slot in range(per_stream):
        for index, stream in enumerate(STREAMS):
            ts = now - timedelta(hours=1, minutes=10 * slot, seconds=(slot * 7 + index) % 120)
            yield ImageRecord(
                TERMINAL, stream, f"{TERMINAL}/{stream}/{ts:%Y-%m-%d}/{ts:%H%M%S}.jpg", ts, 125_000
            )


def build(db: Database, images: int, now: datetime) -> None:
    """``images`` images and as many runs, as a year of 10-minute runs leaves them."""
    per_stream = images // len(STREAMS)
    # 8 columns x 4,000 rows stays under SQLite's 32,766 bound variables.
    batch = 4_000 if db.dialect == "sqlite" else 10_000
    rows = _records(now, per_stream)
    while chunk := list(islice(rows, 100_000)):
        with db.session_scope() as session:
            queries.insert_images(session, chunk, batch_size=batch)
    runs = (
        {
            "terminal": TERMINAL,
            "camera_id": stream,
            "started_at": now - timedelta(minutes=10 * slot, seconds=30),
            "finished_at": now - timedelta(minutes=10 * slot),
            "status": "failed" if slot % 97 == 0 else "success",
            "days": f"{now - timedelta(minutes=10 * slot):%Y-%m-%d}",
            "discovered": 144,
            "downloaded": 1,
            "failed": 0,
            "pending": 0,
        }
        for slot in range(1, per_stream)
        for stream in STREAMS
    )
    while chunk := list(islice(runs, 50_000)):
        with db.session_scope() as session:
            session.execute(insert(DownloadRun), chunk)
    with db.session_scope() as session:
        # What finish_run would have left, run after run; then one real run per stream.
        session.execute(
            text(
                "UPDATE stream_counters AS c SET"
                f" total_runs = (SELECT count(*) {_RUNS}),"
                f" successful_runs = (SELECT count(*) {_RUNS} AND r.status = 'success')"
            )
        )
        session.execute(text("DELETE FROM minute_counts"))  # all were stamped "now" above
        for stream in STREAMS:
            run = queries.start_run(session, TERMINAL, stream, [f"{now:%Y-%m-%d}"], at=now)
            queries.finish_run(
                session, run, status="success", discovered=144, downloaded=1, failed=0,
                pending=0, error=None, at=now,
            )  # fmt: skip
            session.query(StreamCounter).filter_by(terminal=TERMINAL, camera_id=stream).update(
                {"first_run_at": now - timedelta(minutes=10 * per_stream)}
            )
    if db.dialect == "postgresql":
        # What autovacuum does soon after a big load; gatecam itself never runs ANALYZE.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))


_RUNS = "FROM download_runs r WHERE r.terminal = c.terminal AND r.camera_id = c.camera_id"


# -- processes --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {seconds:g} s")


@contextmanager
def process(
    args: list[str], env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        args, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# -- the load -----------------------------------------------------------------------------------


@dataclass
class Route:
    """Latencies (ms) and errors of one route."""

    times: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[str, int] = field(default_factory=dict)

    def pct(self, q: float) -> float:
        if not self.times:
            return float("nan")
        ordered = sorted(self.times)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _get(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str
) -> tuple[int, bytes]:
    """One HTTP/1.1 GET on a kept-alive connection (uvicorn always sends Content-Length)."""
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def _client(port: int, until: float, offset: int, routes: dict[str, Route]) -> None:
    cursor: str | None = None
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    n = offset
    while time.monotonic() < until:
        name = ROUTES[n % len(ROUTES)]
        n += 1
        path = name
        if name.startswith("/api/images") and cursor:
            path = f"{name}&cursor={cursor}"
        started = time.perf_counter()
        try:
            if conn is None:
                conn = await asyncio.open_connection("127.0.0.1", port)
            status, body = await asyncio.wait_for(_get(*conn, path), REQUEST_TIMEOUT)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            routes[name].errors += 1
            routes[name].statuses[type(exc).__name__] = (
                routes[name].statuses.get(type(exc).__name__, 0) + 1
            )
            if conn is not None:
                conn[1].close()
            conn = None
            continue
        routes[name].times.append((time.perf_counter() - started) * 1000)
        if status != 200:
            routes[name].errors += 1
            routes[name].statuses[str(status)] = routes[name].statuses.get(str(status), 0) + 1
        elif name.startswith("/api/images"):
            cursor = json.loads(body)["next_cursor"]
    if conn is not None:
        conn[1].close()


async def load(port: int, seconds: float) -> dict[str, Route]:
    routes = {name: Route() for name in ROUTES}
    until = time.monotonic() + seconds
    await asyncio.gather(*(_client(port, until, n, routes) for n in range(CLIENTS)))
    return routes


async def single(ports: dict[int, int]) -> dict[int, dict[str, float]]:
    """Median ms of each SINGLE route, one request at a time, per archive size.

    The servers of both sizes answer in turn, request by request, so that whatever else the
    machine is doing at that moment weighs on both alike.
    """
    conns = {size: await asyncio.open_connection("127.0.0.1", port) for size, port in ports.items()}
    times: dict[int, dict[str, list[float]]] = {size: {} for size in ports}
    try:
        for path in SINGLE:
            for _ in range(SINGLE_CALLS):
                for size, (reader, writer) in conns.items():
                    started = time.perf_counter()
                    status, _ = await _get(reader, writer, path)
                    took = (time.perf_counter() - started) * 1000
                    assert status == 200, f"{path}: {status}"
                    times[size].setdefault(path, []).append(took)
    finally:
        for _, writer in conns.values():
            writer.close()
    return {
        size: {path: statistics.median(t[SINGLE_WARMUP:]) for path, t in paths.items()}
        for size, paths in times.items()
    }


# -- one backend ----------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "target met" if ok else "TARGET MISSED"


@contextmanager
def serving(url: str, images: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """``gatecam web`` on the archive at ``url``: its port and process."""
    port = free_port()
    env = {"GATECAM_WEB_TOKEN": TOKEN, "GATECAM_DATABASE_URL": url}
    web = [GATECAM, "web", "--port", str(port), "--download-dir", str(images), "--tz", "UTC"]
    with process(web, env) as server:
        wait_for_port(port, server)
        yield port, server


def measure_load(
    port: int, server: subprocess.Popen[bytes], url: str, images: Path, site: str
) -> dict[str, object]:
    """The mixed load against the server while ``gatecam once`` writes into its database."""
    once = [GATECAM, "once", "--streams", JOB_STREAMS, "--download-dir", str(images)]
    job_env = {"GATECAM_DATABASE_URL": url, "GATECAM_APP_URL": site,
               "GATECAM_CDN_URL": f"{site}/cdn"}  # fmt: skip
    peak = [rss_mb(server.pid)]
    stop = False

    async def sample() -> None:
        while not stop:
            peak.append(rss_mb(server.pid))
            await asyncio.sleep(0.25)

    async def run() -> dict[str, Route]:
        nonlocal stop
        sampler = asyncio.create_task(sample())
        routes = await load(port, SECONDS)
        stop = True
        await sampler
        return routes

    with process(once, job_env) as job:
        started = time.perf_counter()
        routes = uvloop.run(run())
        elapsed = time.perf_counter() - started
        try:
            job.wait(300)
        except subprocess.TimeoutExpired:
            job.kill()
        stderr = job.stderr.read().decode(errors="replace") if job.stderr else ""
    return {
        "routes": routes,
        "elapsed": elapsed,
        "rss": max(peak),
        "job": job.returncode,
        "job_error": stderr.strip().splitlines()[-1:] if job.returncode else [],
    }


Fresh = Callable[[str], AbstractContextManager[str]]


def bench_backend(name: str, fresh: Fresh, site: str, large: int) -> None:
    with ExitStack() as stack:
        archives: dict[int, tuple[str, Path]] = {}
        for size in (SMALL, large):
            url = stack.enter_context(fresh(f"{size}"))
            images = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gatecam-bench-")))
            db = Database(url)
            try:
                upgrade(db)
                started = time.perf_counter()
                build(db, size, datetime.now(UTC).replace(microsecond=0))
                built = time.perf_counter() - started
            finally:
                db.dispose()
            print(f"{name:<11} {size:>9,} images and runs built in {built:.0f} s")
            archives[size] = (url, images)
        servers = {
            size: stack.enter_context(serving(*archive)) for size, archive in archives.items()
        }
        medians = uvloop.run(single({size: port for size, (port, _) in servers.items()}))
        port, server = servers[large]
        result = measure_load(port, server, *archives[large], site)
    small, big = medians[SMALL], medians[large]
    for path in SINGLE:
        ok = big[path] <= TARGET_SINGLE_MS and big[path] <= small[path] * NO_SLOWER
        print(
            f"{name:<11} {path:<24} 10k {small[path]:6.2f} ms  1M {big[path]:6.2f} ms  "
            f"(<= {TARGET_SINGLE_MS:g} ms, no slower than 10k): {verdict(ok)}"
        )
    routes = result["routes"]
    assert isinstance(routes, dict)
    elapsed = float(result["elapsed"])  # type: ignore[arg-type]
    total = sum(len(r.times) for r in routes.values())
    errors = sum(r.errors for r in routes.values())
    rps = total / elapsed
    print(f"{name:<11} {'route':<24} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for path, r in routes.items():
        extra = f"  {r.statuses}" if r.statuses else ""
        print(
            f"{name:<11} {path:<24} {len(r.times):>8} {r.pct(0.5):>8.1f} {r.pct(0.99):>8.1f} "
            f"{r.errors:>6}{extra}"
        )
    everything = Route(times=[t for r in routes.values() for t in r.times])
    p99 = everything.pct(0.99)
    print(
        f"{name:<11} mixed load {rps:.0f} req/s (>= {TARGET_RPS:g}): {verdict(rps >= TARGET_RPS)}"
    )
    print(f"{name:<11} p99 {p99:.0f} ms (<= {TARGET_P99_MS:g}): {verdict(p99 <= TARGET_P99_MS)}")
    print(f"{name:<11} errors {errors} (0): {verdict(errors == 0)}")
    rss = float(result["rss"])  # type: ignore[arg-type]
    rss_ok = verdict(rss <= TARGET_RSS_MB)
    print(f"{name:<11} server RSS {rss:.0f} MB (<= {TARGET_RSS_MB:g}): {rss_ok}")
    job = result["job"]
    why = f" ({result['job_error']})" if job else ""
    print(f"{name:<11} gatecam once exit {job}{why} (0: stored everything): {verdict(job == 0)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres-url",
        default=POSTGRES_ADMIN_URL,
        help="a database on the server, used only to create and drop the bench's own",
    )
    parser.add_argument(
        "--bench-database",
        default=BENCH_DATABASE,
        help=f"the bench creates and drops this name with _<size> (default {BENCH_DATABASE})",
    )
    parser.add_argument("--skip-postgres", action="store_true", help="no PostgreSQL")
    parser.add_argument("--skip-sqlite", action="store_true", help="no SQLite")
    parser.add_argument("--images", type=int, default=LARGE, help=f"the large size ({LARGE:,})")
    args = parser.parse_args()
    backends: list[tuple[str, Fresh]] = []
    if not args.skip_sqlite:
        backends.append(("sqlite", lambda _: sqlite_database()))
    if not args.skip_postgres:
        backends.append(
            (
                "postgresql",
                lambda size: postgres_database(args.postgres_url, f"{args.bench_database}_{size}"),
            )
        )
    print(
        f"{CLIENTS} clients for {SECONDS:g} s over {', '.join(ROUTES)} with a token, while "
        f"`gatecam once` archives {JOB_STREAMS} from the stand-in; {len(STREAMS)} streams"
    )
    status = 0
    port = free_port()
    with process([GATECAM, "simulate", "--port", str(port)]) as standin:
        wait_for_port(port, standin)
        site = f"http://127.0.0.1:{port}"
        for name, fresh in backends:
            try:
                bench_backend(name, fresh, site, args.images)
            except SQLAlchemyError as exc:
                print(f"{name:<11} could not be measured: {reason(exc)}")
                status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())
