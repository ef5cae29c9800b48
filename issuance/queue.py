"""The issuance queue: residents waiting for a card, from the server or from a register file.

From the server, the queue is GET /api/v1/issuance/queue (administrator
token): one resident per entitled household without an active card, with
reason "reissue" where the household's card was revoked, as {"count": n,
"residents": [resident fields as resident_to_dict writes them, plus
"reason": "new" or "reissue" and "revoked_card", the number of the revoked
card a reissue replaces]}. Offline, the queue is every valid
resident of a register file who has no card in this station's journal.
A queue entry's position is its number in the listing, which `kartu issuance
show` accepts in place of a NIK.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx

from card.cardnumber import is_valid_card_number
from card.i18n import N_, TranslatedError
from issuance.register import Resident, read_register
from issuance.server_client import RegistrationError, ServerUnreachableError

__all__ = [
    "QueueEntry", "QueueError", "RegisterQueue", "mask_number", "register_queue", "resident_from_dict",
    "resident_to_dict", "search", "server_queue", "server_resident", "find_entry", "REASONS",
]

REASONS = ("new", "reissue")
_DATE_FIELDS = ("birth_date",)


class QueueError(TranslatedError, LookupError):
    """The queue could not be read, or an entry was not found."""


@dataclass(frozen=True)
class QueueEntry:
    position: int
    resident: Resident
    reason: str = "new"
    # For a reissue: the number of the revoked card that the new card replaces.
    old_card: str | None = None


@dataclass(frozen=True)
class RegisterQueue:
    entries: list[QueueEntry]
    rejected_rows: int


def resident_to_dict(resident: Resident) -> dict:
    fields = dict(resident.__dict__)
    fields["birth_date"] = resident.birth_date.isoformat()
    return fields


def resident_from_dict(fields: dict) -> Resident:
    """Build a Resident from resident_to_dict's form; raise QueueError naming a missing or invalid field."""
    names = Resident.__dataclass_fields__
    try:
        values = {name: fields[name] for name in names}
        values["birth_date"] = date.fromisoformat(values["birth_date"])
        values["desil"] = int(values["desil"])
    except KeyError as exc:
        raise QueueError(N_("queue entry has no field {field!r}"), field=exc.args[0]) from None
    except (TypeError, ValueError) as exc:
        raise QueueError(N_("queue entry has an invalid field: {error}"), error=str(exc)) from None
    return Resident(**values)


def mask_number(number: str) -> str:
    """Mask a NIK or KK number for display: the region code (6 digits) and the last 4 digits stay visible."""
    if len(number) != 16:
        return "*" * len(number)
    return f"{number[:6]}******{number[-4:]}"


def _niks_with_card(db: sqlite3.Connection) -> set[str]:
    return {nik for (nik,) in db.execute("SELECT DISTINCT nik FROM cards")}


def register_queue(register: Path, db: sqlite3.Connection) -> RegisterQueue:
    """Return the register's valid residents that have no card in the station journal, in register order.

    Raises QueueError when the register cannot be read.
    """
    try:
        result = read_register(register)
    except OSError as exc:
        raise QueueError(
            N_("cannot read the register {path}: {error}; check the path"), path=str(register), error=exc.strerror
        ) from None
    issued = _niks_with_card(db)
    waiting = [resident for resident in result.residents if resident.nik not in issued]
    entries = [QueueEntry(position, resident) for position, resident in enumerate(waiting, start=1)]
    return RegisterQueue(entries, len(result.errors))


def server_queue(server_url: str, admin_token: str, client: httpx.Client | None = None) -> list[QueueEntry]:
    """Fetch the queue from the server; raise ServerUnreachableError, or RegistrationError on a refusal."""
    url = f"{server_url.rstrip('/')}/api/v1/issuance/queue"
    headers = {"Authorization": f"Bearer {admin_token}"}
    try:
        response = (client or httpx).get(url, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        raise ServerUnreachableError(N_("server {url} unreachable: {error}"), url=url, error=exc) from None
    if response.status_code != 200:
        raise RegistrationError(N_("server rejected the queue request (HTTP {status}): {detail}"),
                                status=response.status_code, detail=response.text[:300])
    try:
        rows = response.json()["residents"]
    except (ValueError, KeyError, TypeError):
        raise QueueError(N_("server {url} returned no 'residents' list"), url=url) from None
    entries = []
    for position, row in enumerate(rows, start=1):
        reason = row.get("reason", "new")
        if reason not in REASONS:
            raise QueueError(
                N_("queue entry {position} has reason {reason!r}; expected one of {choices}"),
                position=position, reason=reason, choices=", ".join(REASONS),
            )
        entries.append(QueueEntry(position, resident_from_dict(row), reason, _revoked_card(row, position)))
    return entries


def _revoked_card(row: dict, position: int) -> str | None:
    """Return the queue row's revoked card number, None when it has none; raise QueueError when it is invalid."""
    number = row.get("revoked_card")
    if number is None:
        return None
    if not (isinstance(number, str) and is_valid_card_number(number)):
        raise QueueError(N_("queue entry {position} has an invalid revoked card number {number!r}"),
                         position=position, number=number)
    return number


def server_resident(server_url: str, admin_token: str, nik: str, client: httpx.Client | None = None) -> QueueEntry:
    """Fetch one resident by NIK from the server, card or no card; raise QueueError when there is none."""
    url = f"{server_url.rstrip('/')}/api/v1/issuance/residents/lookup"
    try:
        response = (client or httpx).post(url, json={"nik": nik}, headers={"Authorization": f"Bearer {admin_token}"},
                                          timeout=30)
    except httpx.HTTPError as exc:
        raise ServerUnreachableError(N_("server {url} unreachable: {error}"), url=url, error=exc) from None
    if response.status_code == 404:
        raise QueueError(N_("the server has no resident with NIK {nik}; check the NIK or import the register"),
                         nik=nik)
    if response.status_code != 200:
        raise RegistrationError(N_("server rejected the resident request (HTTP {status}): {detail}"),
                                status=response.status_code, detail=response.text[:300])
    row = response.json()
    return QueueEntry(1, resident_from_dict(row), row.get("reason", "new"))


def search(entries: list[QueueEntry], text: str) -> list[QueueEntry]:
    """Return the entries that match text: digits match the start of a NIK or KK, words all occur in the name."""
    query = text.strip()
    if not query:
        return list(entries)
    if query.isdigit():
        return [entry for entry in entries
                if entry.resident.nik.startswith(query) or entry.resident.kk.startswith(query)]
    words = query.upper().split()
    return [entry for entry in entries if all(word in entry.resident.name.upper() for word in words)]


def find_entry(entries: list[QueueEntry], key: str) -> QueueEntry:
    """Return the entry whose position (1, 2, ...) or full NIK is key; raise QueueError if there is none."""
    key = key.strip()
    for entry in entries:
        if key == entry.resident.nik or (len(key) < 16 and key.isdigit() and int(key) == entry.position):
            return entry
    raise QueueError(N_("no resident {id} in the queue; list it with 'kartu issuance queue'"), id=key)
