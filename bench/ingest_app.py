"""App factory for bench/ingest.py: `uvicorn --factory bench.ingest_app:create` in each worker process.

The database URL and admin token come from KARTU_BENCH_DB and KARTU_ADMIN_TOKEN.
"""

from __future__ import annotations

import os

from server.app import create_app


def create():
    return create_app(os.environ["KARTU_BENCH_DB"], os.environ["KARTU_ADMIN_TOKEN"])
