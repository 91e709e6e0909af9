"""``python -m edge``: serve the edge node with the settings from the environment."""

from __future__ import annotations

import logging
import sys

import uvicorn

from edge.app import create_app
from edge.settings import SettingsError, load_settings


def main() -> None:
    try:
        settings = load_settings()
    except SettingsError as error:
        sys.exit(f"edge: {error}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # httpx logs every provider request at INFO: one line per model call is the spool's
    # job, not the log's (and writing it cost as much as the content filter).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()
