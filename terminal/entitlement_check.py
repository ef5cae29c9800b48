"""Verify pulled entitlement sets before the terminal applies them, and apply them without rollback.

The server signs each programme's entitlement set with its sync key
(card.entitlement_set). The terminal applies a set only when all of these
are true. Otherwise it raises EntitlementSetError and leaves every stored
set as it was.
  - The set is a COSE_Sign1 message signed by a sync key of the terminal's
    trust list, and the signature is valid.
  - That key may sign on the set's issue day in WIB: inside its validity
    window and before any revoked-from day.
  - The set is for the programme that was requested, for this terminal's id
    and for its service point.
  - The set was issued at most MAX_SET_AGE before the terminal's clock and at
    most MAX_SET_AHEAD after it, so a set recorded earlier cannot be replayed
    to a terminal that has none.
  - The set was issued after the set of that programme that the terminal
    applied last (meta entitlement_issued_at_ms:<programme>). A set with the same
    issue time is rejected too, because applying a replayed set again would
    start a new generation and drop the local count of records acknowledged
    since the first pull.
  - A delta (card.entitlement_set) applies only to the revision the terminal
    stores (entitlement_sets.revision) and only when the programme's benefit
    kind is the stored one (meta entitlement_kind:<programme>). Otherwise it
    fails with BASE_MISMATCH or KIND_MISMATCH, after which terminal.sync pulls
    the full set. Every household it removes must be stored (REMOVED_NOT_HELD).
    Duplicate or unsorted ids fail decoding (INVALID).

There is no unsigned mode. A terminal enrolled without a root key, or one
whose trust list names no sync key, cannot apply entitlements, and the error
message says to enrol with --root-key and sync again. `kartu demo` enrols its
terminal with a root key, so the demo needs no exception either.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime, timedelta
from typing import Callable

from card import cose
from card.entitlement_set import MAX_SET_BYTES, EntitlementSetFormatError, ProgrammeEntitlements, decode_entitlements
from card.i18n import N_, TranslatedError
from card.trustlist import KeyEntry, Role
from card.verify import WIB
from terminal.status_cover import STATUS_KIND, ensure_schema, record_status_cover
from terminal.store import EntitlementSet, EntitlementUpdate, HouseholdUse, TerminalStore

__all__ = [
    "EntitlementSetError",
    "MAX_SET_AGE",
    "MAX_SET_AHEAD",
    "NEEDS_FULL_SET",
    "stored_revision",
    "verify_entitlement_set",
    "rollback_guard",
    "apply_entitlement_sets",
]

log = logging.getLogger(__name__)

# The server signs a set when the terminal requests it, so a set older than
# this was not made for this pull. The request itself must be within 300 s of
# the server clock (server.settings.max_skew), so MAX_SET_AHEAD matches that.
MAX_SET_AGE = timedelta(minutes=15)
MAX_SET_AHEAD = timedelta(minutes=5)
# Removed ids checked per query, below SQLite's default limit of 999 bound parameters (before 3.32.0).
_REMOVED_CHUNK = 500

MISSING = N_(
    "The server sent the entitlements for {program} without a signed entitlement set. Nothing was changed. "
    "Ask the city's support desk to update the server and give it a sync key, then sync again."
)
NO_TRUST_LIST = N_(
    "This terminal holds no trust list with a sync key, so it cannot check the entitlements for {program}. "
    "Nothing was changed. Enrol the terminal with the city root key (--root-key) and sync again."
)
INVALID = N_(
    "The entitlements for {program} failed verification ({detail}). Nothing was changed. Sync again; if this "
    "repeats, report it to the city's support desk, because the data may have been altered on the way."
)
NOT_SYNC_KEY = N_(
    "The entitlements for {program} are signed by key {kid}, which is not a sync key of trust list {sequence}. "
    "Nothing was changed. Sync again to fetch the latest trust list; if this repeats, report it to the city's "
    "support desk."
)
KEY_NOT_VALID = N_(
    "The entitlements for {program} were signed on {day} by sync key {kid}, which may sign only from "
    "{not_before} to {not_after}. Nothing was changed. Report it to the city's support desk."
)
KEY_REVOKED = N_(
    "The entitlements for {program} were signed on {day} by sync key {kid}, which is revoked from {revoked_from}. "
    "Nothing was changed. Report it to the city's support desk."
)
OTHER_PROGRAMME = N_(
    "The server sent entitlements for {other} when {program} was requested. Nothing was changed. Sync again; "
    "if this repeats, report it to the city's support desk."
)
OTHER_TERMINAL = N_(
    "The entitlements for {program} were made for terminal {other} at service point {other_point}, not for this "
    "terminal {terminal} at service point {point}. Nothing was changed. Check the server address of this "
    "terminal and sync again."
)
STALE = N_(
    "The entitlements for {program} were issued at {issued}, too far from this terminal's clock ({now}). "
    "Nothing was changed. Check the terminal's date and time, then sync again."
)
ROLLBACK = N_(
    "The entitlements for {program} were issued at {issued}, not after the ones this terminal holds (issued at "
    "{held}). Nothing was changed, because older entitlements are never applied. Sync again."
)
BASE_MISMATCH = N_(
    "The changes to the entitlements for {program} apply to revision {base}, but this terminal holds revision "
    "{held}. Nothing was changed. Sync again to fetch the full entitlements."
)
KIND_MISMATCH = N_(
    "The changes to the entitlements for {program} are for benefit kind '{kind}', but this terminal holds the "
    "kind '{held}'. Nothing was changed. Sync again to fetch the full entitlements."
)
REMOVED_NOT_HELD = N_(
    "The changes to the entitlements for {program} remove household {household}, which this terminal does not "
    "hold. Nothing was changed. Sync again; if this repeats, report it to the city's support desk."
)
# Rejections after which terminal.sync requests the full set instead of a delta.
NEEDS_FULL_SET = frozenset((BASE_MISMATCH, KIND_MISMATCH))


class EntitlementSetError(TranslatedError):
    """A rejected entitlement set. message() gives the reason and the next step in a language."""

    def __init__(self, template: str, params: dict[str, object]):
        super().__init__(template, **params)


def _wib_time(milliseconds: int) -> str:
    return datetime.fromtimestamp(milliseconds / 1000, WIB).strftime("%Y-%m-%d %H:%M:%S WIB")


def _signing_key(store: TerminalStore, kid: bytes, program: str) -> KeyEntry:
    sync_keys = {entry.kid: entry for entry in store.trust_keys(Role.SYNC)}
    if not sync_keys:
        raise EntitlementSetError(NO_TRUST_LIST, {"program": program})
    signer = sync_keys.get(kid)
    if signer is None:
        raise EntitlementSetError(
            NOT_SYNC_KEY, {"program": program, "kid": kid.hex(), "sequence": store.trust_list_sequence}
        )
    return signer


def _verified_payload(store: TerminalStore, signed: bytes, program: str) -> tuple[KeyEntry, bytes]:
    try:
        message = cose.decode_sign1(signed, max_size=MAX_SET_BYTES)
    except cose.COSEError as exc:
        raise EntitlementSetError(INVALID, {"program": program, "detail": str(exc)}) from None
    signer = _signing_key(store, message.kid, program)
    if not cose.verify_sign1(message, signer.public_key):
        detail = f"the signature by sync key {signer.kid.hex()} is invalid"
        raise EntitlementSetError(INVALID, {"program": program, "detail": detail})
    return signer, message.payload


def _check_signer_day(signer: KeyEntry, entitlements: ProgrammeEntitlements) -> None:
    day = datetime.fromtimestamp(entitlements.issued_at_ms / 1000, WIB).date()
    if signer.may_sign_on(day):
        return
    params = {"program": entitlements.program, "day": day, "kid": signer.kid.hex()}
    if signer.revoked_from is not None and day >= signer.revoked_from:
        raise EntitlementSetError(KEY_REVOKED, params | {"revoked_from": signer.revoked_from})
    raise EntitlementSetError(KEY_NOT_VALID, params | {"not_before": signer.not_before, "not_after": signer.not_after})


def _check_addressee(store: TerminalStore, entitlements: ProgrammeEntitlements, program: str) -> None:
    if entitlements.program != program:
        raise EntitlementSetError(OTHER_PROGRAMME, {"program": program, "other": entitlements.program})
    terminal_id = store.terminal_id
    service_point = store.require_meta("service_point_id")
    if entitlements.terminal_id != terminal_id or str(entitlements.service_point_id) != service_point:
        raise EntitlementSetError(OTHER_TERMINAL, {
            "program": program, "other": entitlements.terminal_id, "other_point": entitlements.service_point_id,
            "terminal": terminal_id, "point": service_point,
        })


def _check_fresh(entitlements: ProgrammeEntitlements, now: float) -> None:
    issued = entitlements.issued_at_ms / 1000
    if now - MAX_SET_AGE.total_seconds() <= issued <= now + MAX_SET_AHEAD.total_seconds():
        return
    raise EntitlementSetError(STALE, {
        "program": entitlements.program, "issued": _wib_time(entitlements.issued_at_ms),
        "now": _wib_time(int(now * 1000)),
    })


def verify_entitlement_set(
    store: TerminalStore, signed: bytes | None, program: str, now: float
) -> ProgrammeEntitlements:
    """Verify a pulled set for program against the store's trust list and clock, and return its content.

    now is the terminal's clock in Unix seconds. Raises EntitlementSetError
    naming the first check that failed. The rollback check needs the store's
    write lock and runs when the set is applied (rollback_guard).
    """
    if signed is None:
        raise EntitlementSetError(MISSING, {"program": program})
    signer, payload = _verified_payload(store, signed, program)
    try:
        entitlements = decode_entitlements(payload)
    except EntitlementSetFormatError as exc:
        raise EntitlementSetError(INVALID, {"program": program, "detail": str(exc)}) from None
    _check_signer_day(signer, entitlements)
    _check_addressee(store, entitlements, program)
    _check_fresh(entitlements, now)
    return entitlements


def _issued_at_key(program: str) -> str:
    return f"entitlement_issued_at_ms:{program}"


def _kind_key(program: str) -> str:
    return f"entitlement_kind:{program}"


def stored_revision(db: sqlite3.Connection, program: str) -> int:
    """Return the revision of the programme's stored set, 0 when none is stored."""
    row = db.execute("SELECT revision FROM entitlement_sets WHERE program = ?", (program,)).fetchone()
    return row[0] if row else 0


def _check_delta_base(db: sqlite3.Connection, delta: ProgrammeEntitlements) -> None:
    """Raise EntitlementSetError unless the delta applies to the stored revision and kind and removes stored ids."""
    program = delta.program
    revision = stored_revision(db, program)
    if delta.base_revision != revision:
        raise EntitlementSetError(BASE_MISMATCH, {"program": program, "base": delta.base_revision, "held": revision})
    row = db.execute("SELECT value FROM meta WHERE key = ?", (_kind_key(program),)).fetchone()
    kind = delta.rules.benefit_kind or ""
    if row is None or row[0] != kind:
        raise EntitlementSetError(KIND_MISMATCH, {"program": program, "kind": kind, "held": row[0] if row else ""})
    for start in range(0, len(delta.removed), _REMOVED_CHUNK):
        chunk = delta.removed[start : start + _REMOVED_CHUNK]
        found = {household for (household,) in db.execute(
            f"SELECT household_id FROM entitlements WHERE program = ? AND household_id IN ({','.join('?' * len(chunk))})",
            (program, *chunk),
        )}
        missing = [household for household in chunk if household not in found]
        if missing:
            raise EntitlementSetError(REMOVED_NOT_HELD, {"program": program, "household": missing[0].hex()})


def _record_status_cover_delta(db: sqlite3.Connection, delta: ProgrammeEntitlements) -> None:
    """Apply a delta to the status_cover rows, as record_status_cover does for a full set.

    A delta keeps the stored benefit kind (_check_delta_base), so a programme
    of another kind has no status_cover rows to change.
    """
    if delta.rules.benefit_kind != STATUS_KIND:
        return
    ensure_schema(db)
    changed = [household.household_id for household in delta.households]
    db.executemany("DELETE FROM status_cover WHERE program = ? AND household_id = ?",
                   [(delta.program, household) for household in (*delta.removed, *changed)])
    db.executemany(
        "INSERT INTO status_cover (program, household_id, valid_until) VALUES (?, ?, ?)",
        [(delta.program, household.household_id, household.valid_until.isoformat() if household.valid_until else None)
         for household in delta.households],
    )


def rollback_guard(store: TerminalStore, sets: list[ProgrammeEntitlements]) -> Callable[[sqlite3.Connection], None]:
    """Return a check for TerminalStore.update_entitlements that rejects a set not newer than the stored one.

    The check runs inside the transaction that applies the sets, so a
    concurrent pull cannot slip an older set in between. It also rejects a
    delta whose base is not the stored revision (_check_delta_base). It
    records each new set's issue time and benefit kind and the cover of each
    status programme (terminal.status_cover) in the same transaction.
    """

    def check(db: sqlite3.Connection) -> None:
        for entitlements in sets:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (_issued_at_key(entitlements.program),)).fetchone()
            stored_issued_at_ms = int(row[0]) if row else None
            if stored_issued_at_ms is not None and entitlements.issued_at_ms <= stored_issued_at_ms:
                log.warning("terminal %s rejected %s entitlements issued at %d ms, stored set issued at %d ms",
                            entitlements.terminal_id, entitlements.program, entitlements.issued_at_ms,
                            stored_issued_at_ms)
                raise EntitlementSetError(ROLLBACK, {
                    "program": entitlements.program, "issued": _wib_time(entitlements.issued_at_ms),
                    "held": _wib_time(stored_issued_at_ms),
                })
            if entitlements.is_delta:
                _check_delta_base(db, entitlements)
        for entitlements in sets:
            store.set_meta({_issued_at_key(entitlements.program): str(entitlements.issued_at_ms),
                            _kind_key(entitlements.program): entitlements.rules.benefit_kind or ""}, db)
        record_status_cover(db, [entitlements for entitlements in sets if not entitlements.is_delta])
        for entitlements in sets:
            if entitlements.is_delta:
                _record_status_cover_delta(db, entitlements)

    return check


def apply_entitlement_sets(store: TerminalStore, sets: list[ProgrammeEntitlements], pulled_at: int) -> int:
    """Apply verified full sets and deltas in one transaction, and return the store's new generation.

    Raises EntitlementSetError, applying none of the sets, when one is not
    newer than the stored set of its programme or is a delta that does not fit
    the stored set (see the module docstring). The store raises
    EntitlementDataError for an invalid persons count, also before writing.
    """
    updates = [
        EntitlementUpdate(
            EntitlementSet(entitlements.program, entitlements.period, entitlements.quota, entitlements.unit, 0,
                           entitlements.revision, entitlements.rules.quota_period),
            {h.household_id: HouseholdUse(h.used, h.persons) for h in entitlements.households},
            entitlements.is_delta, entitlements.removed,
        )
        for entitlements in sets
    ]
    generation = store.update_entitlements(updates, pulled_at, before_write=rollback_guard(store, sets))
    for entitlements in sets:
        log.info("terminal %s applied %s entitlements issued at %d ms: %s to revision %d, %d households, %d removed",
                 entitlements.terminal_id, entitlements.program, entitlements.issued_at_ms,
                 f"delta from revision {entitlements.base_revision}" if entitlements.is_delta else "full set",
                 entitlements.revision, len(entitlements.households), len(entitlements.removed))
    return generation
