"""Settings of one server instance, fixed when the app is created."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request

from server.periods import Clock

__all__ = ["Settings", "SettingsDep", "get_settings", "MIN_ADMIN_TOKEN_LENGTH", "ENROLMENT_CODE_LIFETIME"]

# secrets.token_urlsafe(32) gives 43 characters; shorter tokens are likely typed by hand.
MIN_ADMIN_TOKEN_LENGTH = 32
ENROLMENT_CODE_LIFETIME = timedelta(hours=24)


@dataclass(frozen=True)
class Settings:
    admin_token: str = field(repr=False)
    clock: Clock = time.time
    max_skew: int = 300
    """Largest accepted difference, in seconds, between a terminal's request time and the server clock."""
    enrolment_code_lifetime: timedelta = ENROLMENT_CODE_LIFETIME
    max_batch_records: int = 1000
    max_record_bytes: int = 1024
    """Largest accepted signed record; a chip record made by card.records.sign_record is about 280 bytes."""

    def __post_init__(self) -> None:
        if len(self.admin_token) < MIN_ADMIN_TOKEN_LENGTH or not self.admin_token.isprintable():
            raise ValueError(
                f"the admin token must be at least {MIN_ADMIN_TOKEN_LENGTH} printable characters; "
                "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        if any(char.isspace() for char in self.admin_token):
            raise ValueError("the admin token must not contain whitespace")


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]
