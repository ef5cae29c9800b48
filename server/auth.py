"""Caller checks: the administrator token and signed terminal requests.

Every route takes one of these as a parameter:

- Admin: `Authorization: Bearer <admin token>`, compared in constant time
  with the token the app was created with.
- CurrentTerminal: a request signed with the terminal's enrolled key as
  card.request_auth describes; a successful call updates the terminal's
  last_seen.

A failed check returns 401 with a JSON detail that states what failed and
what to do next. The detail never contains the token.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from card.keys import public_key_from_spki
from card.request_auth import (
    HEADER_TERMINAL,
    BadSignatureError,
    ClockSkewError,
    InvalidHeaderError,
    check_request,
)
from server.db import SessionDep
from server.fields import TERMINAL_ID_PATTERN
from server.models import Terminal
from server.periods import utc_datetime

__all__ = ["Administrator", "Admin", "CurrentTerminal", "require_admin", "require_terminal"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Administrator:
    """The caller who presented the admin token."""


def _unauthorized(detail: str, scheme: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": scheme})


def require_admin(request: Request) -> Administrator:
    header = request.headers.get("authorization")
    if header is None:
        raise _unauthorized("missing Authorization header; send 'Authorization: Bearer <admin token>'", "Bearer")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("Authorization header must be 'Bearer <admin token>'", "Bearer")
    expected = request.app.state.settings.admin_token
    if not hmac.compare_digest(token.strip().encode("utf-8"), expected.encode("utf-8")):
        client = request.client.host if request.client else "unknown"
        logger.warning("invalid admin token from %s on %s %s", client, request.method, request.url.path)
        raise _unauthorized("invalid admin token", "Bearer")
    return Administrator()


async def read_body(request: Request) -> bytes:
    """Return the raw request body; Starlette caches it, so the route can still parse it."""
    return await request.body()


def _request_target(request: Request) -> str:
    """Return the path and query exactly as the client sent them, which is what it signed."""
    raw_path = request.scope.get("raw_path") or request.scope["path"].encode("utf-8")
    target = raw_path.decode("latin-1")
    query = request.scope.get("query_string", b"")
    if query:
        target += "?" + query.decode("latin-1")
    return target


def require_terminal(
    request: Request, body: Annotated[bytes, Depends(read_body)], session: SessionDep
) -> Terminal:
    terminal_id = request.headers.get(HEADER_TERMINAL)
    if not terminal_id:
        raise _unauthorized(
            f"missing {HEADER_TERMINAL} header; terminal calls must carry the X-Kartu-* signature headers",
            "X-Kartu-Signature",
        )
    if not TERMINAL_ID_PATTERN.match(terminal_id):
        raise _unauthorized(f"{HEADER_TERMINAL} is not a valid terminal id", "X-Kartu-Signature")

    terminal = session.get(Terminal, terminal_id)
    if terminal is None:
        logger.warning("request from unknown terminal %s", terminal_id)
        raise _unauthorized(
            f"unknown terminal '{terminal_id}'; enrol it with a one-time code first", "X-Kartu-Signature"
        )

    settings = request.app.state.settings
    now = int(settings.clock())
    public_key = public_key_from_spki(terminal.public_key)
    try:
        check_request(
            public_key, request.method, _request_target(request), body, request.headers, now, settings.max_skew
        )
    except ClockSkewError as exc:
        logger.warning("terminal %s clock skew: request time %d, server time %d", terminal_id, exc.request_time, now)
        raise _unauthorized(f"terminal '{terminal_id}': {exc}", "X-Kartu-Signature") from None
    except InvalidHeaderError as exc:
        raise _unauthorized(f"terminal '{terminal_id}': {exc}", "X-Kartu-Signature") from None
    except BadSignatureError:
        logger.warning("terminal %s sent a request whose signature does not verify", terminal_id)
        raise _unauthorized(
            f"request signature does not verify with the key enrolled for terminal '{terminal_id}'",
            "X-Kartu-Signature",
        ) from None

    terminal.last_seen = utc_datetime(now)
    session.commit()
    return terminal


Admin = Annotated[Administrator, Depends(require_admin)]
CurrentTerminal = Annotated[Terminal, Depends(require_terminal)]
