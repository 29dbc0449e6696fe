"""Logging set-up shared by the CLI and the workers: one line per record, no request bodies or keys. The access
log's lines are JSON objects that carry their own time, written bare so that a log shipper reads them as JSON."""

from __future__ import annotations

import logging

ACCESS_LOGGER = "latency_slayer.access"


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines would log every upstream URL
    access_log = logging.getLogger(ACCESS_LOGGER)
    if not access_log.handlers:  # the CLI configures its process, then the app it serves there does again
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        access_log.addHandler(handler)
        access_log.propagate = False
