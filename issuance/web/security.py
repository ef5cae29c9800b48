"""Access control of the station's web UI: only the clerk who opened the address that `kartu issuance serve` printed.

At start the server makes a random access token and prints a login URL with it.
Opening that URL sets an HttpOnly, SameSite=Strict session cookie derived from the
token, and every other page requires that cookie. Every POST also carries a form field
derived from the token, and its Origin header, when sent, must be this server. Requests
whose Host header is not this loopback address are rejected, so a web page that rebinds
its own DNS name to 127.0.0.1 cannot reach the UI.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

__all__ = ["COOKIE_NAME", "AccessGuard", "new_access_token"]

COOKIE_NAME = "kartu_station"
TOKEN_BYTES = 32
LOOPBACK_NAMES = ("127.0.0.1", "localhost")


def new_access_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


@dataclass(frozen=True)
class AccessGuard:
    """The checks for one running server: its access token and the port it listens on."""

    token: str
    port: int

    def _derive(self, purpose: bytes) -> str:
        return hmac.new(self.token.encode("ascii"), purpose, hashlib.sha256).hexdigest()

    @property
    def session_value(self) -> str:
        return self._derive(b"kartu-station-session")

    @property
    def form_value(self) -> str:
        return self._derive(b"kartu-station-form")

    def token_matches(self, candidate: str | None) -> bool:
        return candidate is not None and hmac.compare_digest(candidate.encode("utf-8"), self.token.encode("ascii"))

    def session_matches(self, cookie: str | None) -> bool:
        return cookie is not None and hmac.compare_digest(cookie.encode("utf-8"), self.session_value.encode("ascii"))

    def form_matches(self, field: str | None) -> bool:
        return field is not None and hmac.compare_digest(field.encode("utf-8"), self.form_value.encode("ascii"))

    def host_allowed(self, host: str | None) -> bool:
        """Return whether the Host header names this server: 127.0.0.1 or localhost with its port."""
        return host in {f"{name}:{self.port}" for name in LOOPBACK_NAMES}

    def origin_allowed(self, origin: str | None) -> bool:
        """Return whether a POST's Origin header is absent or names this server."""
        if origin is None:
            return True
        return origin in {f"http://{name}:{self.port}" for name in LOOPBACK_NAMES}
