"""Opaque handles that stand for residents in the station UI's URLs, so no NIK reaches the browser history.

A handle is random and lives as long as the server process: the queue page
makes one for each resident it lists, and the resident pages look it up.
After a restart the old handles are unknown and those pages return 404.
"""

from __future__ import annotations

import secrets
import threading

__all__ = ["HANDLE_BYTES", "ResidentHandles"]

HANDLE_BYTES = 12


class ResidentHandles:
    """A two-way map between NIKs and random URL-safe handles, safe to use from several threads."""

    def __init__(self) -> None:
        self._by_nik: dict[str, str] = {}
        self._by_handle: dict[str, str] = {}
        self._lock = threading.Lock()

    def handle_for(self, nik: str) -> str:
        """Return the handle of nik, making one on first use."""
        with self._lock:
            handle = self._by_nik.get(nik)
            if handle is None:
                handle = secrets.token_urlsafe(HANDLE_BYTES)
                self._by_nik[nik] = handle
                self._by_handle[handle] = nik
            return handle

    def nik_for(self, handle: str) -> str | None:
        """Return the NIK that handle stands for, or None when this server never made it."""
        with self._lock:
            return self._by_handle.get(handle)
