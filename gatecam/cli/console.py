"""What the commands share on their way out: the console, log lines, progress bars, stops."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from gatecam.deploy.service import journal_formatter
from gatecam.errors import Interrupted

out = Console(highlight=False, soft_wrap=True)
logger = logging.getLogger("gatecam")


def say(text: str) -> None:
    """One line (or several) on stdout, verbatim: no markup, no highlighting."""
    out.print(text, markup=False)


class _ConsoleHandler(logging.Handler):
    """Log lines printed through a Rich console, so they never cut through its progress bar."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.console.print(self.format(record), markup=False, highlight=False)
        except Exception:
            self.handleError(record)


def setup_logging(verbose: bool = False, console: Console | None = None) -> None:
    handler: logging.Handler
    if console is not None and console.is_terminal:
        handler = _ConsoleHandler(console)
    else:
        handler = logging.StreamHandler(sys.stderr)
    # One format on a terminal and off it, before and after Ctrl-C: ISO 8601 times in UTC.
    formatter = logging.Formatter(
        "%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S+00:00"
    )
    formatter.converter = time.gmtime
    handler.setFormatter(journal_formatter(os.environ) or formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("apscheduler", "httpx", "httpcore", "alembic", "uvicorn", "botocore"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)


def runs_progress() -> Progress:
    """The bar of a backfill: one step per run; transient, so only the result lines stay.

    Off a terminal there is no bar to draw: disabled, it adds no empty line at the end.
    """
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    return Progress(*columns, console=out, transient=True, disable=not out.is_terminal)


def items_progress() -> Progress:
    """A bar of items written, on a terminal only: a script wants no bar."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    return Progress(*columns, console=out, transient=True, disable=not out.is_terminal)


@contextlib.contextmanager
def tables_progress() -> Iterator[Callable[[str, int, int], None]]:
    """A progress bar per table, fed with (table, rows done, rows in all)."""
    columns = (TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=out) as progress:
        tasks: dict[str, Any] = {}

        def _update(table: str, done: int, total: int) -> None:
            if table not in tasks:
                tasks[table] = progress.add_task(table, total=total)
            progress.update(tasks[table], completed=done)

        yield _update


class Stopped(Interrupted):
    """Ctrl-C: what a person asked for, not a failure; said without "error", exit 130."""


class StopSignals:
    """SIGINT and SIGTERM while a command runs: which came first, and what each one does."""

    def __init__(self, on_stop: Callable[[], None] | None) -> None:
        self.on_stop = on_stop
        self.received: signal.Signals | None = None
        self.event = threading.Event()

    @property
    def by_ctrl_c(self) -> bool:
        return self.received == signal.SIGINT

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        first = self.received is None
        if first:
            self.received = signal.Signals(signum)
        self.event.set()
        if self.on_stop is None:
            # A server's loop or a copy's transaction ends where it stands, as on Ctrl-C.
            raise KeyboardInterrupt
        if first:
            name = signal.Signals(signum).name
            logger.info("%s received: finishing the batch in flight", name)
        self.on_stop()

    def calm_end(self, stored: int) -> None:
        """After Ctrl-C, end with one calm line: what was stored stays, nothing is wrong."""
        if self.by_ctrl_c:
            images = "image" if stored == 1 else "images"
            raise Stopped(
                f"stopped by Ctrl-C; {stored:,} {images} stored, the next run picks up the rest"
            )


@contextlib.contextmanager
def stop_signals(on_stop: Callable[[], None] | None = None) -> Iterator[StopSignals]:
    """The one way a command hears SIGINT (Ctrl-C) and SIGTERM (systemctl stop, kill).

    With ``on_stop``, a signal is a request: ``on_stop`` is called (a scheduler finishes the
    batch in flight and records its run) and the command reads ``received`` when it ends.
    Without, a signal raises KeyboardInterrupt in the main thread, SIGTERM as Ctrl-C does.
    The handlers before are back after the block.
    """
    stop = StopSignals(on_stop)
    previous = {sig: signal.signal(sig, stop.handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def serve_until_stopped(serve_forever: Callable[[], None]) -> None:
    """Serve until Ctrl-C or SIGTERM, then return normally (exit 0)."""
    with contextlib.suppress(KeyboardInterrupt), stop_signals():
        serve_forever()
