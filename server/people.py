"""Staff accounts: creating them, hashing passwords with Argon2id and checking a login.

Passwords are hashed with Argon2id in the RFC 9106 low-memory profile
(3 passes over 64 MiB, 4 lanes). A stored hash made with older parameters is
replaced at the next successful login.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from functools import cache

from argon2 import PasswordHasher
from argon2.profiles import RFC_9106_LOW_MEMORY
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from card.i18n import N_, TranslatedError
from server.models import Programme
from server.models_people import ROLE_OPERATOR, ROLES, StaffUser

__all__ = [
    "AccountError",
    "MIN_PASSWORD_LENGTH",
    "USERNAME_PATTERN",
    "create_user",
    "authenticate",
    "hash_password",
    "check_new_account",
]

logger = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
USERNAME_PATTERN = re.compile(r"^[a-z][a-z0-9._-]{2,63}$")

_hasher = PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY)


@cache
def _dummy_hash() -> str:
    """Return the hash verified against when the username is unknown.

    A failed login then takes the same time whether or not the account
    exists. It is computed at the first login rather than at import, because
    one Argon2id hash with these parameters takes about 0.2 s and every
    `kartu` command imports this module.
    """
    return _hasher.hash("kartu-bahagia-no-such-user")


class AccountError(TranslatedError, ValueError):
    """An account that cannot be created as requested; field names the input at fault.

    message(language) is the rule that the field breaks, without the field name.
    """

    def __init__(self, field: str, template: str, **params: object):
        super().__init__(template, **params)
        self.field = field


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_new_account(username: str, password: str, role: str, opd: str | None) -> None:
    """Raise AccountError when the fields of a new account break a rule."""
    if not USERNAME_PATTERN.match(username):
        raise AccountError(
            "username", N_("must be 3 to 64 characters: a lower-case letter, then letters, digits, '.', '_' or '-'")
        )
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise AccountError(
            "password", N_("must be {minimum} to {maximum} characters long"),
            minimum=MIN_PASSWORD_LENGTH, maximum=MAX_PASSWORD_LENGTH,
        )
    if role not in ROLES:
        raise AccountError("role", N_("must be one of {roles}"), roles=", ".join(ROLES))
    if role == ROLE_OPERATOR and not (opd and opd.strip()):
        raise AccountError("opd", N_("is required for an operator: the OPD whose programmes the operator manages"))
    if role != ROLE_OPERATOR and opd is not None:
        raise AccountError("opd", N_("must be empty for the role {role}; only operators belong to an OPD"), role=role)


def _check_owner_opd(session: Session, opd: str) -> None:
    owners = session.scalars(select(Programme.owner_opd).distinct().order_by(Programme.owner_opd)).all()
    if opd not in owners:
        known = ", ".join(f"'{owner}'" for owner in owners)
        raise AccountError("opd", N_("'{opd}' owns no programme; use the OPD of a programme: {known}"),
                           opd=opd, known=known)


def create_user(
    session: Session, username: str, password: str, role: str, opd: str | None, now: datetime
) -> StaffUser:
    """Insert and commit a new active account; raise AccountError for bad input or a taken username.

    An operator's OPD must own at least one programme, because an operator
    sees only the programmes of their OPD.
    """
    check_new_account(username, password, role, opd)
    if opd is not None:
        _check_owner_opd(session, opd.strip())
    user = StaffUser(
        username=username,
        password_hash=hash_password(password),
        role=role,
        opd=opd.strip() if opd else None,
        active=True,
        created_at=now,
    )
    session.add(user)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise AccountError("username", N_("'{username}' is already taken; choose another username"),
                           username=username) from None
    logger.info("created staff account %d (%s), role %s", user.id, username, role)
    return user


def authenticate(session: Session, username: str, password: str) -> StaffUser | None:
    """Return the active account whose password matches, else None."""
    user = session.scalars(select(StaffUser).where(StaffUser.username == username)).one_or_none()
    stored_hash = user.password_hash if user is not None else _dummy_hash()
    try:
        _hasher.verify(stored_hash, password)
    except VerifyMismatchError:
        return None
    except (VerificationError, InvalidHashError):
        logger.error("stored password hash of staff account %s cannot be verified", user.id if user else "-")
        return None
    if user is None or not user.active:
        return None
    if _hasher.check_needs_rehash(stored_hash):
        user.password_hash = hash_password(password)
        session.commit()
    return user
