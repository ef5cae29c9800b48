"""Request bodies read with a size cap while they stream, so an oversized upload is never buffered in full."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import Message

__all__ = ["BodyTooLarge", "read_capped_body", "request_with_body"]


class BodyTooLarge(Exception):
    """The request body grew past the cap; received is how many bytes had arrived when reading stopped."""

    def __init__(self, received: int):
        super().__init__(f"request body exceeds the cap after {received} bytes")
        self.received = received


async def read_capped_body(request: Request, cap: int) -> bytes:
    """Read the whole body, chunked or not, and raise BodyTooLarge as soon as it passes cap bytes."""
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > cap:
            raise BodyTooLarge(received)
        chunks.append(chunk)
    return b"".join(chunks)


def request_with_body(request: Request, body: bytes) -> Request:
    """Return a copy of request whose body is the already-read body, for Starlette's form parser."""
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, receive)
