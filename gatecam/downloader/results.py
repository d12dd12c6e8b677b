"""What one run of one stream did, and how it reads in logs, the CLI and its run row."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from gatecam.downloader.fetch import FailedDownload

INTERRUPTED = "stopped before the run ended (Ctrl-C or SIGTERM)"


@dataclass
class RunResult:
    """What one job did for one stream."""

    terminal: str
    stream: str
    days: list[str] = field(default_factory=list)
    discovered: int = 0
    downloaded: int = 0
    pending: int = 0
    failed: list[FailedDownload] = field(default_factory=list)
    error: str | None = None
    interrupted: bool = False
    # Another instance holds this stream's job for this tick: nothing was done here.
    skipped: bool = False
    found_by: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return self.status == "success"

    @property
    def status(self) -> str:
        """What the run stored: every listed image (or it is not published yet) is success.

        Some downloads failed: partial. The listing failed, or none of the images it had to
        fetch was stored: failed. A stop request: interrupted, whatever was stored.
        """
        if self.interrupted:
            return "interrupted"
        if self.error is not None or (self.failed and not self.downloaded):
            return "failed"
        return "partial" if self.failed else "success"

    @property
    def reason(self) -> str | None:
        """Why the run is not a success, in one line; None for a success."""
        if self.interrupted:
            return INTERRUPTED
        if self.error is not None:
            return self.error
        if not self.failed:
            return None
        first = self.failed[0]
        failed = (
            f"{len(self.failed)} downloads failed, first at "
            f"{first.ref.timestamp.isoformat()}: {first.reason}"
        )
        if not self.downloaded:
            return f"none of the {len(self.failed)} new images stored: {failed}"
        return f"{failed} ({self.downloaded} stored)"

    def summary(self) -> str:
        """One line for logs and the CLI."""
        name = f"{self.terminal}/{self.stream}"
        if self.skipped:
            return f"{name}: skipped, another gatecam instance runs this stream's job this tick"
        text = (
            f"{name} {','.join(self.days)}: {self.discovered} listed, "
            f"{self.downloaded} stored, {len(self.failed)} failed, {self.pending} not published yet"
        )
        if self.interrupted:
            return f"{text}; {INTERRUPTED}"
        if self.error:
            return f"{text}; error: {self.error}"
        if self.failed:
            return f"{text}; {self.status}: {self.reason}"
        return text


def one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line and at most ``limit`` characters: a run's reason is one line."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
