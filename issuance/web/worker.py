"""One thread that owns the open Station, so every station.db and card-reader step runs in order on it.

sqlite3 connections belong to the thread that opened them, and a station has one
card reader, so the web handlers hand their station work to this thread and wait.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from issuance.station import Station

__all__ = ["StationWorker"]

T = TypeVar("T")


class StationWorker:
    """Runs callables that take the Station, one at a time, on a single thread that opened it."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._station: Station | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="station")

    def call(self, work: Callable[[Station], T]) -> T:
        """Run work(station) on the station thread and return its result or raise its exception."""
        return self._executor.submit(self._run, work).result()

    def _run(self, work: Callable[[Station], T]) -> T:
        if self._station is None:
            self._station = Station(self._directory)
        return work(self._station)

    def close(self) -> None:
        def close_station() -> None:
            if self._station is not None:
                self._station.close()
                self._station = None

        self._executor.submit(close_station).result()
        self._executor.shutdown()
