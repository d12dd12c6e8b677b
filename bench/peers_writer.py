"""A writer in a process of its own: batches of images through ``queries.insert_images``.

``python bench/peers_writer.py URL --batch 60 --interval 0.5`` stores a batch of new images
(newer than any the web bench built, one stream after another) every ``--interval``
seconds, as the scheduler does after each download batch, until SIGINT or SIGTERM. Prints
``{"ready": true}`` after the first batch, and the batches and images stored at the end.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from datetime import UTC, datetime, timedelta
from types import FrameType

from web import STREAMS, TERMINAL

from gatecam.database import queries
from gatecam.database.engine import Database
from gatecam.database.queries import ImageRecord


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--batch", type=int, default=60)
    parser.add_argument("--interval", type=float, default=0.5)
    args = parser.parse_args()
    stop = threading.Event()

    def finish(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, finish)
    signal.signal(signal.SIGTERM, finish)
    db = Database(args.url)
    start = datetime.now(UTC).replace(microsecond=0)
    batches = stored = 0
    try:
        while not stop.is_set():
            records = []
            for _ in range(args.batch):
                n = stored + len(records)
                stream = STREAMS[n % len(STREAMS)]
                ts = start + timedelta(seconds=n)
                path = f"{TERMINAL}/{stream}/{ts:%Y-%m-%d}/{ts:%H%M%S}.jpg"
                records.append(ImageRecord(TERMINAL, stream, path, ts, 125_000))
            with db.session_scope() as session:
                stored += queries.insert_images(session, records, batch_size=args.batch)
            batches += 1
            if batches == 1:
                print(json.dumps({"ready": True}), flush=True)
            stop.wait(args.interval)
    finally:
        db.dispose()
    print(json.dumps({"batches": batches, "images": stored}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
