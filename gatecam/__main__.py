"""Allow ``python -m gatecam``."""

from gatecam.cli import main

main()
