"""The message of a server error response, shown to the person at the terminal in their language.

The server's 4xx bodies are JSON with an English sentence in "detail". A
body that also carries "message_id" and "message_en" gives the text in both
languages. The enrolment rejections have an English detail only, and the
terminal's catalogue contains the same English sentences, so they are
translated here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

from card.i18n import N_, Localized, translate

__all__ = ["ServerMessage", "server_message"]

# At most this many characters of a body that is not a JSON error are shown.
MAX_BODY_CHARS = 300

# Details the server sends in English only, as its enrolment route words them.
_KNOWN_DETAILS = (
    N_("enrolment code is not valid; check it or ask an administrator for a new one"),
    N_("enrolment code was already used; ask an administrator for a new one"),
)
_EXPIRED = re.compile(r"enrolment code expired at (?P<expired>\S+); ask an administrator for a new one")
_EXPIRED_TEMPLATE = N_("enrolment code expired at {expired}; ask an administrator for a new one")


@dataclass(frozen=True)
class ServerMessage(Localized):
    """A server's error text as a message parameter: English, plus the server's Indonesian text when it sent one."""

    english: str
    indonesian: str | None = None

    def localize(self, language: str) -> str:
        if language == "en":
            return self.english
        if language == "id" and self.indonesian:
            return self.indonesian
        expired = _EXPIRED.fullmatch(self.english)
        if expired is not None:
            return translate(_EXPIRED_TEMPLATE, language, expired=expired["expired"])
        if self.english in _KNOWN_DETAILS:
            return translate(self.english, language)
        return self.english

    def __str__(self) -> str:
        return self.english


def server_message(response: httpx.Response) -> ServerMessage:
    """Return the message of an error response: message_en/message_id, else detail, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        english, indonesian = body.get("message_en"), body.get("message_id")
        if isinstance(english, str) and english:
            return ServerMessage(english, indonesian if isinstance(indonesian, str) else None)
        detail = body.get("detail")
        if isinstance(detail, str) and detail:
            return ServerMessage(detail)
    text = response.text.strip()[:MAX_BODY_CHARS]
    return ServerMessage(text or f"HTTP {response.status_code}")
