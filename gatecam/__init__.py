"""gatecam: archive port-terminal gate camera images on a schedule."""

__version__ = "0.1.0"
