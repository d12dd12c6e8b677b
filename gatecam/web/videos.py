"""The day page's timelapse: the kept MP4 when there is one, else one encode at a time.

A finished day is rendered by the scheduler (gatecam.export.daily); a day still open, or
not rendered yet, is encoded here when the page asks, into the same derived folder, while
the page shows how far it got. One encode runs at a time: each costs a core for seconds,
and on a small server two at once would only both be slower.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gatecam.export.daily import FPS, render_day, stored_video
from gatecam.export.selection import Contents
from gatecam.storage import ImageStore

log = logging.getLogger(__name__)

_Key = tuple[str, str, str]


@dataclass
class _Encode:
    """How far one encode got, in images of its day."""

    total: int
    done: int = 0
    failed: str | None = None

    def step(self) -> None:
        self.done += 1


@dataclass
class Videos:
    """The kept timelapses of one archive (``folder``: None for a store with no disk here)."""

    folder: Path | None
    _encodes: dict[_Key, _Encode] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def kept(self, contents: Contents) -> Path | None:
        """The kept MP4 of ``contents``' day at the default rate, if it shows these images."""
        return None if self.folder is None else stored_video(self.folder, contents, FPS)

    def progress(self, contents: Contents, store: ImageStore) -> dict[str, Any]:
        """Where the day's video stands: ``ready``; ``encoding`` (started now if nothing
        else is), with ``done`` of ``total`` images; ``waiting`` behind another day's
        encode; or ``stream``: it cannot be kept here, so it is encoded as it is sent."""
        if self.folder is None:
            return {"state": "stream", "reason": "the store keeps no derived files"}
        s = contents.selection
        key = (s.terminal, s.stream, s.first.isoformat())
        with self._lock:
            running = self._encodes.get(key)
            if running is not None and running.failed is not None:
                del self._encodes[key]
                return {"state": "stream", "reason": running.failed}
            if running is None and self.kept(contents) is not None:
                return {"state": "ready"}
            if running is None:
                if any(e.failed is None for e in self._encodes.values()):
                    return {"state": "waiting"}
                running = self._encodes[key] = _Encode(len(contents.items))
                thread = threading.Thread(
                    target=self._encode,
                    args=(key, running, self.folder, contents, store),
                    name=f"timelapse {'/'.join(key)}",
                    daemon=True,
                )
                thread.start()
            return {"state": "encoding", "done": running.done, "total": running.total}

    def _encode(
        self, key: _Key, running: _Encode, folder: Path, contents: Contents, store: ImageStore
    ) -> None:
        failed: str | None = None
        try:
            render_day(folder, contents, store, on_frame=running.step)
        except OSError as exc:
            # A folder this server may not write (a read-only archive): the page then
            # plays the video as it is encoded, as it did before any was kept.
            log.warning("web: cannot keep the timelapse of %s: %s", "/".join(key), exc)
            failed = f"cannot keep it: {exc}"
        except Exception as exc:
            # Whatever went wrong, this encode must end: a registry that kept it running
            # would keep every other day waiting.
            log.exception("web: the timelapse of %s failed", "/".join(key))
            failed = f"the encode failed: {exc}"
        with self._lock:
            if failed is None:
                self._encodes.pop(key, None)
            else:
                running.failed = failed
