"""Server-sent events: screens published by the card thread, streamed to every open page.

The card monitor and the tap run in their own thread, while the pages are
served by uvicorn's event loop, so publish() hands each screen to the loop
with call_soon_threadsafe. The broker keeps the screen on display, so a page
opened or reloaded later (for example after the language switch) shows it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import AsyncIterator, Protocol

__all__ = ["Screen", "EventBroker", "format_event"]

log = logging.getLogger(__name__)

# Screens a slow page may fall behind by before its oldest screen is dropped.
QUEUE_SIZE = 16
# Queued after close(): ends every event stream, so the server can stop without waiting for pages to leave.
_CLOSED = object()


class Screen(Protocol):
    def render(self, language: str) -> dict[str, object]: ...


def format_event(event: str, data: dict[str, object]) -> str:
    """Encode one server-sent event; the JSON has no newline, so it fits one data line."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


class EventBroker:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: set[asyncio.Queue] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._current: Screen | None = None
        self._closed = False

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind the event loop that serves the pages; call it from that loop at startup."""
        self._loop = loop

    @property
    def current(self) -> Screen | None:
        return self._current

    def publish(self, screen: Screen) -> None:
        """Show screen on every open page; safe to call from any thread."""
        with self._lock:
            self._current = screen
            queues = list(self._queues)
        if self._loop is None or self._loop.is_closed():
            return
        for queue in queues:
            self._loop.call_soon_threadsafe(self._offer, queue, screen)

    def close(self) -> None:
        """End every event stream now and any stream opened later; safe to call from any thread."""
        with self._lock:
            self._closed = True
            queues = list(self._queues)
        if self._loop is None or self._loop.is_closed():
            return
        for queue in queues:
            self._loop.call_soon_threadsafe(self._offer, queue, _CLOSED)

    @staticmethod
    def _offer(queue: asyncio.Queue, screen: Screen) -> None:
        if queue.full():
            queue.get_nowait()
            log.warning("a terminal page fell %d screens behind; dropped the oldest", QUEUE_SIZE)
        queue.put_nowait(screen)

    async def subscribe(self, keepalive_seconds: float) -> AsyncIterator[Screen | None]:
        """Yield the screen on display, then each new one; None after keepalive_seconds without a screen."""
        queue: asyncio.Queue = asyncio.Queue(QUEUE_SIZE)
        with self._lock:
            if self._closed:
                return
            self._queues.add(queue)
            current = self._current
        try:
            if current is not None:
                yield current
            while True:
                try:
                    screen = await asyncio.wait_for(queue.get(), keepalive_seconds)
                except asyncio.TimeoutError:
                    yield None
                    continue
                if screen is _CLOSED:
                    return
                yield screen
        finally:
            with self._lock:
                self._queues.discard(queue)
