"""Exports of one stream's images: originals with a manifest (tar, zip), or a timelapse MP4."""

from gatecam.export.bundle import FORMATS, bundle_chunks
from gatecam.export.selection import Selection, select_images
from gatecam.export.timelapse import timelapse_chunks

__all__ = ["FORMATS", "Selection", "bundle_chunks", "select_images", "timelapse_chunks"]
