"""Camera sources: each knows how to list what exists and how to address one image."""

from gatecam.sources.draydog import DrayDogSource

__all__ = ["DrayDogSource"]
