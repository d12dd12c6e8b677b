"""Download images straight from the CDN into the image store.

Discovery needs a browser, but downloading needs only plain HTTP, so
this module is one pooled ``httpx.Client`` driven by a thread pool. A single image's failure
never raises: every timestamp ends up downloaded, failed (with a reason a user can read)
or pending (not published yet).

One of the two modules over 400 lines, on purpose: each request's deadline, its retries and
their waits, the body's size cap and the complete-JPEG check are one state machine per image,
read together or not at all.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from hashlib import sha256
from pathlib import Path

import httpx

from gatecam import camerahealth
from gatecam.downloader import metrics
from gatecam.downloader.watchdog import STOP, Watch, Watchdog
from gatecam.errors import InputError
from gatecam.model import ImageRef, check_name
from gatecam.sources.base import Source
from gatecam.storage import ImageStore, LocalStore, image_key
from gatecam.storage.base import is_complete_jpeg

logger = logging.getLogger(__name__)

# Worth asking again: the server or a proxy said "not now".
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# A full image is about 127 KB; anything this large is not one of ours.
MAX_IMAGE_BYTES = 20 * 1024 * 1024
# An image's requests together (retries and thumbnail included) get this many timeouts;
# the waits between them are bounded apart, by max_retry_wait.
IMAGE_TIMEOUTS = 2
# What a download cut short by a stop request says.
STOPPED = "stopped before it was complete"


@dataclass(frozen=True)
class DownloadedImage:
    """An image now stored in the archive; ``key`` is its storage key (``images.filepath``)."""

    ref: ImageRef
    key: str
    file_size: int
    sha256: str
    thumbnail: bool
    url: str
    # Measured from the bytes in hand, so camera health costs no second read of the file.
    figures: camerahealth.Figures | None = None


@dataclass(frozen=True)
class FailedDownload:
    """An image that could not be fetched or stored, with a one-line reason."""

    ref: ImageRef
    reason: str


@dataclass
class DownloadResult:
    """What one call did with each timestamp; ``pending`` were not published yet."""

    downloaded: list[DownloadedImage] = field(default_factory=list)
    failed: list[FailedDownload] = field(default_factory=list)
    pending: list[ImageRef] = field(default_factory=list)


class _BodyLost(Exception):
    """The connection dropped while the body was being read."""


@dataclass
class _Budget:
    """What is left of one image's request time and retry waits, in seconds."""

    requests: float
    waits: float


@dataclass(frozen=True)
class _Fetched:
    """The outcome of GETting one URL, after any retries."""

    url: str
    body: bytes | None = None
    reason: str = ""
    status: int | None = None
    # A missing or invalid image may still have a good thumbnail; a server that kept
    # failing after retries will not serve the thumbnail either.
    try_thumbnail: bool = False


class CdnDownloader:
    """Downloads images from a camera site's CDN, in parallel, over one pooled HTTP client.

    ``source`` tells where each image lives; ``store`` is an ImageStore, or a folder for the
    default local store.
    """

    def __init__(
        self,
        store: ImageStore | Path | str,
        *,
        terminal: str = "apm",
        source: Source,
        concurrency: int = 8,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_retry_wait: float = 30.0,
        publish_grace: timedelta = timedelta(minutes=5),
        clock: Callable[[], datetime] | None = None,
        event_hooks: Mapping[str, list[Callable[..., object]]] | None = None,
        stop: threading.Event | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.store: ImageStore = LocalStore(store) if isinstance(store, (str, Path)) else store
        self.terminal = check_name(terminal, "terminal")
        if concurrency < 1:
            raise InputError(f"concurrency: must be at least 1, not {concurrency}")
        if retries < 0:
            raise InputError(f"retries: must not be negative, not {retries}")
        if timeout <= 0:
            raise InputError(f"timeout: must be positive, not {timeout}")
        if backoff < 0 or max_retry_wait < 0:
            raise InputError("backoff and max_retry_wait must not be negative")
        self.source = source
        self.concurrency = concurrency
        self.retries = retries
        self.backoff = backoff
        self.max_retry_wait = max_retry_wait
        self.timeout = timeout
        # Set by a stop request (SIGTERM, Ctrl-C): downloads in flight give up at once.
        self._stop = stop or threading.Event()
        self._watchdog = Watchdog(self._stop)
        self.publish_grace = publish_grace
        self._clock = clock or (lambda: datetime.now(UTC))
        self._random = random.Random()
        self._closed = False
        # One pool for all workers: keep-alive connections are reused across images, and
        # max_connections keeps us from opening more sockets than we have workers.
        # event_hooks go straight to httpx (tests count the requests in flight with them).
        self._client = httpx.Client(
            timeout=timeout,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            headers={"User-Agent": "gatecam/0.1 (+archiver)"},
            event_hooks={k: list(v) for k, v in (event_hooks or {}).items()},
            transport=transport,
        )

    def __enter__(self) -> CdnDownloader:
        return self

    @property
    def client(self) -> httpx.Client:
        """The pooled HTTP client, shared with discovery's replayed listings."""
        return self._client

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connections; the downloader cannot be used afterwards."""
        self._closed = True
        self._client.close()

    def download_images_direct(
        self, stream_name: str, timestamps: Iterable[datetime], *, terminal: str | None = None
    ) -> DownloadResult:
        """Download the images of ``stream_name`` at ``timestamps`` into the store.

        ``terminal`` defaults to the downloader's own.
        """
        if self._closed:
            raise RuntimeError("the downloader is closed")
        stream = check_name(stream_name, "stream")
        terminal = check_name(terminal or self.terminal, "terminal")
        refs: set[ImageRef] = set()
        for ts in timestamps:
            if ts.tzinfo is None or ts.utcoffset() is None:
                raise InputError(f"timestamp {ts.isoformat()} has no time zone")
            refs.add(ImageRef(terminal, stream, ts.astimezone(UTC)))

        result = DownloadResult()
        if refs:
            workers = min(self.concurrency, len(refs))
            with (
                self._watchdog.running(),
                ThreadPoolExecutor(workers, thread_name_prefix="gatecam-download") as pool,
            ):
                outcomes = list(pool.map(self._download_one, sorted(refs)))
            for outcome in outcomes:
                if isinstance(outcome, DownloadedImage):
                    result.downloaded.append(outcome)
                elif isinstance(outcome, FailedDownload):
                    result.failed.append(outcome)
                else:
                    result.pending.append(outcome)

        metrics.download_finished(terminal, stream, "downloaded", len(result.downloaded))
        metrics.download_finished(terminal, stream, "failed", len(result.failed))
        metrics.download_finished(terminal, stream, "pending", len(result.pending))
        thumbnails = sum(image.thumbnail for image in result.downloaded)
        logger.debug(
            "%s/%s: %d downloaded (%d as thumbnail), %d failed, %d pending",
            terminal,
            stream,
            len(result.downloaded),
            thumbnails,
            len(result.failed),
            len(result.pending),
        )
        return result

    def _download_one(self, ref: ImageRef) -> DownloadedImage | FailedDownload | ImageRef:
        budget = _Budget(IMAGE_TIMEOUTS * self.timeout, self.max_retry_wait)
        full = self._fetch(self.source.image_url(ref), budget)
        chosen, thumbnail = full, False
        if full.status == 404 and self._is_young(ref):
            # Not published yet. Even if its thumbnail is out already,
            # storing that would keep the thumbnail for good: wait for the full image.
            return ref
        if full.body is None and full.try_thumbnail:
            thumb = self._fetch(self.source.image_url(ref, thumbnail=True), budget)
            if thumb.body is not None:
                chosen, thumbnail = thumb, True
            elif thumb.reason != full.reason:
                return self._failed(ref, f"{full.reason}; thumbnail: {thumb.reason}")
        if chosen.body is None:
            return self._failed(ref, full.reason)

        key = image_key(ref)
        try:
            self.store.put(key, chosen.body)
        except OSError as exc:
            where = f"{self.store.describe().rstrip('/')}/{key}"
            return self._failed(ref, f"cannot write {where}: {exc.strerror or exc}")
        return DownloadedImage(
            ref=ref,
            key=key,
            file_size=len(chosen.body),
            sha256=sha256(chosen.body).hexdigest(),
            thumbnail=thumbnail,
            url=chosen.url,
            figures=camerahealth.measure(chosen.body),
        )

    def _is_young(self, ref: ImageRef) -> bool:
        # The CDN publishes about a minute after capture.
        return self._clock() - ref.timestamp < self.publish_grace

    def _failed(self, ref: ImageRef, reason: str) -> FailedDownload:
        # Debug only: the run's one summary line counts the failures and gives the first
        # reason, where a CDN outage would otherwise log a warning for each of hundreds.
        logger.debug(
            "%s/%s %s: %s",
            ref.terminal,
            ref.stream,
            f"{ref.timestamp:%Y-%m-%dT%H:%M:%SZ}",
            reason,
        )
        return FailedDownload(ref, reason)

    def _fetch(self, url: str, budget: _Budget) -> _Fetched:
        """GET ``url``, retrying transient failures; return the valid body or why not."""
        attempts = 0
        problem = ""
        for attempt in range(self.retries + 1):
            if self._stop.is_set():
                return _Fetched(url, reason=STOPPED)
            # One deadline for headers and body, kept by the watchdog (httpx's timeouts are
            # per read); those start at what is left of it, so no connect outlasts it.
            allowed = min(self.timeout, budget.requests)
            if allowed <= 0:
                break  # the image's time is spent: asking again would only hold the run
            attempts = attempt + 1
            started = time.monotonic()
            retry_after: float | None = None
            with self._watchdog.watch(allowed) as watch:
                try:
                    with self._client.stream(
                        "GET", url, timeout=allowed, extensions={"trace": watch.trace}
                    ) as response:
                        watch.answered = True
                        watch.add_stream(response.extensions.get("network_stream"))
                        try:
                            if response.status_code not in RETRY_STATUSES:
                                return self._accept(url, response)
                            _drain_small(response)
                        finally:
                            metrics.cdn_response(response.num_bytes_downloaded)
                        problem = f"HTTP {response.status_code}"
                        if response.status_code == 429:
                            retry_after = _retry_after(response, self._clock())
                except (_BodyLost, httpx.HTTPError) as exc:
                    if watch.cut == STOP or self._stop.is_set():
                        return _Fetched(url, reason=STOPPED)
                    problem = self._problem(exc, watch)
                    if not problem:
                        return _Fetched(url, reason=_one_line(exc))
                finally:
                    budget.requests -= time.monotonic() - started
            if attempt == self.retries:
                break
            wait = self._retry_wait(attempt, retry_after)
            if wait > budget.waits and budget.waits <= 0:
                break  # the wait budget is spent: asking again now would hammer the server
            wait = min(wait, budget.waits)
            logger.debug("retrying %s in %.1f s after %s", url, wait, problem)
            # Event.wait, not sleep: a stop request ends the wait at once.
            if self._stop.wait(wait):
                return _Fetched(url, reason=STOPPED)
            budget.waits -= wait
        plural = "attempt" if attempts == 1 else "attempts"
        return _Fetched(url, reason=f"{problem} after {attempts} {plural}")

    def _problem(self, exc: Exception, watch: Watch) -> str:
        """Why an attempt failed, worth retrying; "" for an error asking again cannot mend."""
        if watch.cut is not None or isinstance(exc, httpx.TimeoutException):
            late = "took longer than" if watch.answered else "no answer within"
            return f"{late} {self.timeout:g} s"
        if isinstance(exc, _BodyLost):
            return str(exc)
        if isinstance(exc, httpx.TransportError):
            return f"connection error ({_one_line(exc)})"
        return ""

    def _retry_wait(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_wait)
        # Jitter keeps parallel workers from retrying in lock step.
        return float(self.backoff * 2**attempt + self._random.uniform(0, self.backoff))

    def _accept(self, url: str, response: httpx.Response) -> _Fetched:
        """Read and check a non-retryable response; only a complete JPEG is accepted."""
        status = response.status_code
        if status != 200:
            _drain_small(response)
            return _Fetched(url, reason=f"HTTP {status}", status=status, try_thumbnail=True)

        def invalid(reason: str) -> _Fetched:
            return _Fetched(url, reason=reason, status=status, try_thumbnail=True)

        media_type = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if not media_type.startswith("image/"):
            return invalid(f"not a JPEG ({media_type or 'no Content-Type'})")
        announced = _content_length(response)
        if announced is not None and announced > MAX_IMAGE_BYTES:
            return invalid(f"too large ({announced} bytes)")
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_IMAGE_BYTES:
                    return invalid(f"too large (over {MAX_IMAGE_BYTES} bytes)")
        except httpx.TimeoutException:
            raise
        except httpx.TransportError as exc:
            # The connection dropped mid-body: a network fault worth retrying, but say what
            # the user would see (a truncated image) rather than the protocol error.
            got = response.num_bytes_downloaded
            expected = f" of {announced}" if announced is not None else ""
            raise _BodyLost(f"truncated (got {got}{expected} bytes)") from exc
        body = b"".join(chunks)
        # Compare the bytes on the wire, not the decoded ones: Content-Length counts those.
        if announced is not None and response.num_bytes_downloaded != announced:
            return invalid(f"truncated (got {response.num_bytes_downloaded} of {announced} bytes)")
        if not body:
            return invalid("empty body (0 bytes)")
        if not body.startswith(b"\xff\xd8\xff"):
            return invalid("not a JPEG (no start marker)")
        if not is_complete_jpeg(body):
            return invalid("incomplete JPEG (no end marker)")
        return _Fetched(url, body=body, status=status)


def _retry_after(response: httpx.Response, now: datetime) -> float | None:
    """The ``Retry-After`` delay in seconds (RFC 9110), or None if absent or malformed.

    Only delay-seconds (digits) or an HTTP-date count; "nan", "-5", "1e308" and the like are
    ignored, so our own backoff applies.
    """
    value = response.headers.get("Retry-After", "").strip()
    if value.isascii() and value.isdigit():
        # Any number of digits is valid; more than nine only means "longer than we wait".
        return float(value) if len(value) <= 9 else 1e9
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # HTTP dates are GMT
    seconds = (when - now).total_seconds()
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def _drain_small(response: httpx.Response) -> None:
    """Read a small error body so the connection can go back to the pool."""
    length = _content_length(response)
    if length is not None and length <= 64 * 1024:
        response.read()


def _content_length(response: httpx.Response) -> int | None:
    try:
        return int(response.headers["Content-Length"])
    except (KeyError, ValueError):
        return None


def _one_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
