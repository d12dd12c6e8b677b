"""Originals plus a manifest, streamed as a tar or zip archive while the images are read."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from gatecam.export.selection import Contents, Item, Sink
from gatecam.health.coverage import missed_dict
from gatecam.storage import ImageStore

logger = logging.getLogger(__name__)

FORMATS = ("tar", "zip")
MEDIA_TYPES = {"tar": "application/x-tar", "zip": "application/zip"}
_IMAGE_FIELDS = [
    "file",
    "terminal",
    "stream",
    "captured_utc",
    "captured_local",
    "size",
    "sha256",
    "health",
]
# One row per stretch the site published no image ("not published") and per image it listed
# that the archive missed ("missed": its capture time, URL and why), as coverage tells them.
_GAP_FIELDS = [
    "kind",
    "start_utc",
    "end_utc",
    "start_local",
    "end_local",
    "minutes",
    "open",
    "url",
    "reason",
]


class _Writer:
    """Adds named members to a tar or zip archive that writes into a Sink."""

    def __init__(self, fmt: str, sink: Sink) -> None:
        self.fmt = fmt
        self._tar: tarfile.TarFile | None = None
        self._zip: zipfile.ZipFile | None = None
        if fmt == "tar":
            # "w|": a stream of blocks, never seeking back, so it can go out as it is made.
            self._tar = tarfile.open(  # noqa: SIM115 - closed by close(), after the last member
                fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT
            )
        else:
            # JPEGs do not compress: stored members cost no CPU and stream just as well.
            self._zip = zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED)

    def add(self, name: str, data: bytes, moment: datetime) -> None:
        if self._tar is not None:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), int(moment.timestamp()), 0o644
            self._tar.addfile(info, io.BytesIO(data))
        else:
            assert self._zip is not None
            stamp = moment.astimezone(UTC).timetuple()[:6]
            self._zip.writestr(zipfile.ZipInfo(name, date_time=stamp), data)

    def close(self) -> None:
        if self._tar is not None:
            self._tar.close()
        if self._zip is not None:
            self._zip.close()


def _local(moment: datetime, contents: Contents) -> str:
    return moment.astimezone(contents.selection.zone).isoformat()


def _image_entry(item: Item, data: bytes, contents: Contents) -> dict[str, Any]:
    s = contents.selection
    return {
        "file": item.key,
        "terminal": s.terminal,
        "stream": s.stream,
        "captured_utc": item.timestamp.astimezone(UTC).isoformat(),
        "captured_local": _local(item.timestamp, contents),
        "size": len(data),
        # Of the bytes exported, so a reader can check what it received.
        "sha256": hashlib.sha256(data).hexdigest(),
        "health": item.flag or "",
    }


def _gap_entries(contents: Contents) -> list[dict[str, Any]]:
    return [
        {
            "kind": "not published",
            "start_utc": g.start.astimezone(UTC).isoformat(),
            "end_utc": g.end.astimezone(UTC).isoformat(),
            "start_local": _local(g.start, contents),
            "end_local": _local(g.end, contents),
            "minutes": g.minutes,
            "open": g.open,
            "url": "",
            "reason": "",
        }
        for g in contents.gaps
    ]


def _missed_entries(contents: Contents) -> list[dict[str, Any]]:
    return [
        {
            "kind": "missed",
            "start_utc": m.timestamp.astimezone(UTC).isoformat(),
            "end_utc": m.timestamp.astimezone(UTC).isoformat(),
            "start_local": _local(m.timestamp, contents),
            "end_local": _local(m.timestamp, contents),
            "minutes": 0,
            "open": False,
            "url": m.url,
            "reason": m.reason,
        }
        for m in contents.missed
    ]


def _csv(fields: list[str], rows: list[dict[str, Any]]) -> bytes:
    text = io.StringIO()
    writer = csv.DictWriter(text, fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue().encode()


def bundle_chunks(
    contents: Contents,
    store: ImageStore,
    fmt: str,
    *,
    now: datetime | None = None,
    on_image: Callable[[], None] | None = None,
) -> Iterator[bytes]:
    """The tar or zip archive of ``contents``, piece by piece: each image, then the manifest.

    Members keep the archive's layout (``apm/in_gate/2025-09-02/140200.jpg``); the manifest
    (``manifest.json``, ``manifest.csv``, ``gaps.csv``) comes last, as it describes the bytes
    that actually went out. An image whose file cannot be read is listed under ``missing``.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    now = now or datetime.now(UTC)
    sink = Sink()
    writer = _Writer(fmt, sink)
    images: list[dict[str, Any]] = []
    missing: list[dict[str, Any]] = []
    for item in contents.items:
        try:
            data = store.get(item.key)
        except (OSError, ValueError) as exc:
            logger.warning("export: cannot read %s: %s", item.key, exc)
            missing.append({"file": item.key, "captured_utc": item.timestamp.isoformat()})
            continue
        writer.add(item.key, data, item.timestamp)
        images.append(_image_entry(item, data, contents))
        if on_image is not None:
            on_image()
        yield sink.take()
    s = contents.selection
    gaps = _gap_entries(contents)
    manifest = {
        "terminal": s.terminal,
        "stream": s.stream,
        "from": s.first.isoformat(),
        "to": s.last.isoformat(),
        "time_zone": s.zone.key,
        "start_utc": s.start.isoformat(),
        "end_utc": s.end.isoformat(),
        "generated_at": now.isoformat(),
        "gap_minutes": 20,
        "images": images,
        "gaps": gaps,
        # Listed by the site and never stored (``missing``: held, but unreadable now).
        "missed": len(contents.missed),
        "missed_images": [missed_dict(m) for m in contents.missed],
        "missing": missing,
    }
    writer.add("manifest.json", json.dumps(manifest, indent=1).encode() + b"\n", now)
    writer.add("manifest.csv", _csv(_IMAGE_FIELDS, images), now)
    rows = sorted([*gaps, *_missed_entries(contents)], key=lambda r: str(r["start_utc"]))
    writer.add("gaps.csv", _csv(_GAP_FIELDS, rows), now)
    writer.close()
    yield sink.take()
