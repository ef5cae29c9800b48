"""Verify and apply trust lists and revocation lists on a terminal.

Rules, each checked inside the same SQLite transaction that writes the
change, so two processes updating one store cannot interleave:
  - A trust list must verify to the root key pinned at enrolment and carry a
    higher sequence than the one held. A list with an equal sequence is the
    one already held and changes nothing. A lower one is a rollback and is
    rejected.
  - A revocation list must be signed by a sync key of the held trust list that
    may sign on the list's issued day (WIB).
  - A full revocation list must carry a higher version than the one held.
  - A delta applies only to the version it was made from (its base version).
    A delta the terminal already holds is skipped. Any other delta means a
    gap, and the terminal fetches the full list instead. After applying, the
    number of revoked serials must equal the delta's count, else the change
    is rolled back and the full list is fetched.
  - When the deltas run out below the source's latest version (a delta is
    missing or was pruned), the terminal fetches the full list as well.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Protocol

from card import cose
from card.publish import FULL_REVOCATIONS_FILE, LATEST_VERSION_FILE, REVOCATIONS_DIR, TRUST_LIST_FILE, delta_file_name
from card.revocation import ListKind, RevocationError, RevocationList, decode_revocation_list
from card.trustlist import Role, TrustList, TrustListError, decode_trust_list
from card.verify import WIB
from terminal.store import TerminalStore

__all__ = [
    "TrustUpdateError",
    "Applied",
    "UpdateReport",
    "ListSource",
    "DirectorySource",
    "apply_trust_list",
    "apply_revocation_list",
    "update_trust",
]

log = logging.getLogger(__name__)


class TrustUpdateError(Exception):
    """A trust or revocation list was rejected; the store keeps what it held before."""


class Applied(Enum):
    APPLIED = "applied"
    ALREADY_HELD = "already held"
    GAP = "gap"


@dataclass
class UpdateReport:
    trust_list_sequence: int = 0
    trust_list_applied: bool = False
    revocation_version: int = 0
    deltas_applied: list[int] = field(default_factory=list)
    full_list_applied: bool = False


def _root_key(store: TerminalStore):
    root = store.root_key()
    if root is None:
        raise TrustUpdateError(
            f"terminal store {store.path} pins no root key; enrol it with 'kartu terminal enrol --root-key PEM'"
        )
    return root


def apply_trust_list(store: TerminalStore, signed: bytes) -> tuple[Applied, TrustList]:
    """Verify a trust list against the pinned root key and apply it atomically if it is newer."""
    try:
        trust_list = decode_trust_list(signed, _root_key(store))
    except TrustListError as exc:
        raise TrustUpdateError(f"trust list rejected: {exc}") from None
    with store.transaction() as db:
        held = store.trust_list_sequence
        if trust_list.sequence < held:
            raise TrustUpdateError(
                f"trust list sequence {trust_list.sequence} is older than the held sequence {held}; "
                "a rollback is never applied, fetch the latest list"
            )
        if trust_list.sequence == held:
            return Applied.ALREADY_HELD, trust_list
        store.replace_trust_keys(db, trust_list.sequence, list(trust_list.keys), signed)
    log.info("trust list sequence %d applied: %d keys", trust_list.sequence, len(trust_list.keys))
    return Applied.APPLIED, trust_list


def _verify_revocation_list(store: TerminalStore, signed: bytes) -> RevocationList:
    try:
        kid = cose.decode_sign1(signed).kid
    except cose.COSEError as exc:
        raise TrustUpdateError(f"revocation list rejected: {exc}") from None
    sync_keys = {entry.kid: entry for entry in store.trust_keys(Role.SYNC)}
    signer = sync_keys.get(kid)
    if signer is None:
        raise TrustUpdateError(
            f"revocation list rejected: key {kid.hex()} is not a sync key of trust list sequence "
            f"{store.trust_list_sequence}; update the trust list first"
        )
    try:
        revocations = decode_revocation_list(signed, {kid: signer.public_key})
    except RevocationError as exc:
        raise TrustUpdateError(f"revocation list rejected: {exc}") from None
    issued_day = datetime.fromtimestamp(revocations.issued_at, WIB).date()
    if not signer.may_sign_on(issued_day):
        revoked = f", revoked from {signer.revoked_from}" if signer.revoked_from else ""
        raise TrustUpdateError(
            f"revocation list version {revocations.version} rejected: it was issued on {issued_day}, when sync key "
            f"{kid.hex()} could not sign (valid {signer.not_before} to {signer.not_after}{revoked})"
        )
    return revocations


def apply_revocation_list(
    store: TerminalStore, signed: bytes, expected: ListKind | None = None
) -> tuple[Applied, RevocationList]:
    """Verify a full or delta revocation list with the trust list's sync keys and apply it atomically.

    Returns GAP, applying nothing, for a delta that does not start at the
    held version or whose count does not match after applying. The caller
    then applies the full list. Raises TrustUpdateError for a list that
    fails verification, is a rollback, or is not of the expected kind.
    """
    revocations = _verify_revocation_list(store, signed)
    if expected is not None and revocations.kind is not expected:
        raise TrustUpdateError(
            f"expected a {expected.name.lower()} revocation list, got a {revocations.kind.name.lower()} one"
        )
    with store.transaction() as db:
        held = store.revocation_version
        if revocations.kind is ListKind.FULL:
            outcome = _apply_full(store, db, revocations, held)
        else:
            outcome = _apply_delta(store, db, revocations, held)
        if outcome is not Applied.GAP:
            # The terminal status bar shows the age of the newest list seen, applied or already held.
            latest = max(int(store.get_meta("revocation_issued_at", "0")), revocations.issued_at)
            store.set_meta({"revocation_issued_at": str(latest)}, db)
    if outcome is Applied.APPLIED:
        log.info("revocation list version %d (%s) applied", revocations.version, revocations.kind.name.lower())
    return outcome, revocations


def _apply_full(store: TerminalStore, db, revocations: RevocationList, held: int) -> Applied:
    if revocations.version < held:
        raise TrustUpdateError(
            f"full revocation list version {revocations.version} is older than the held version {held}; "
            "a rollback is never applied"
        )
    if revocations.version == held:
        return Applied.ALREADY_HELD
    store.replace_revoked_serials(db, revocations.version, revocations.added)
    return Applied.APPLIED


def _apply_delta(store: TerminalStore, db, revocations: RevocationList, held: int) -> Applied:
    if revocations.version <= held:
        return Applied.ALREADY_HELD
    if revocations.base_version != held:
        log.warning("revocation delta %d->%d does not follow held version %d",
                    revocations.base_version, revocations.version, held)
        return Applied.GAP
    db.execute("SAVEPOINT revocation_delta")
    store.change_revoked_serials(db, revocations.version, revocations.added, revocations.removed)
    count = store.revoked_count()
    if count != revocations.count:
        db.execute("ROLLBACK TO revocation_delta")
        db.execute("RELEASE revocation_delta")
        log.warning("revocation delta to version %d leaves %d serials, but the list declares %d",
                    revocations.version, count, revocations.count)
        return Applied.GAP
    db.execute("RELEASE revocation_delta")
    return Applied.APPLIED


class ListSource(Protocol):
    """Source of signed lists for a terminal; each method returns None when there is no such list."""

    def trust_list(self) -> bytes | None: ...

    def revocation_delta(self, version: int) -> bytes | None:
        """Return the delta that brings version - 1 to version."""

    def full_revocation_list(self) -> bytes | None: ...

    def latest_revocation_version(self) -> int | None:
        """Return the latest published version, or None when the source cannot tell without the full list."""


class DirectorySource:
    """Reads lists from a publication directory laid out by card.publish."""

    def __init__(self, directory: Path):
        if not directory.is_dir():
            raise TrustUpdateError(f"publication directory {directory} does not exist")
        self.directory = directory

    def _read(self, path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise TrustUpdateError(f"cannot read {path}: {exc.strerror}") from None

    def trust_list(self) -> bytes | None:
        return self._read(self.directory / TRUST_LIST_FILE)

    def revocation_delta(self, version: int) -> bytes | None:
        return self._read(self.directory / REVOCATIONS_DIR / delta_file_name(version))

    def full_revocation_list(self) -> bytes | None:
        return self._read(self.directory / REVOCATIONS_DIR / FULL_REVOCATIONS_FILE)

    def latest_revocation_version(self) -> int | None:
        text = self._read(self.directory / REVOCATIONS_DIR / LATEST_VERSION_FILE)
        try:
            return int(text) if text is not None else None
        except ValueError:
            log.warning("ignoring the unreadable revocation version hint in %s", self.directory)
            return None


def _update_revocations(store: TerminalStore, source: ListSource, report: UpdateReport) -> None:
    gap = False
    while True:
        signed = source.revocation_delta(store.revocation_version + 1)
        if signed is None:
            break
        outcome, revocations = apply_revocation_list(store, signed, ListKind.DELTA)
        if outcome is Applied.GAP:
            gap = True
            break
        if outcome is Applied.ALREADY_HELD:
            break
        report.deltas_applied.append(revocations.version)
    # The full list is fetched to fill a gap, and when the source's latest
    # version is beyond what the deltas reached or is unknown.
    latest = None if gap else source.latest_revocation_version()
    if latest is not None and latest <= store.revocation_version:
        return
    full = source.full_revocation_list()
    if full is None:
        if gap:
            raise TrustUpdateError("a revocation delta is missing and the source has no full revocation list")
        return
    outcome, _revocations = apply_revocation_list(store, full, ListKind.FULL)
    report.full_list_applied = outcome is Applied.APPLIED


def update_trust(store: TerminalStore, source: ListSource) -> UpdateReport:
    """Fetch and apply the trust list, then the revocation deltas in order, then the full list if needed."""
    report = UpdateReport()
    signed = source.trust_list()
    if signed is not None:
        outcome, _trust_list = apply_trust_list(store, signed)
        report.trust_list_applied = outcome is Applied.APPLIED
    _update_revocations(store, source, report)
    report.trust_list_sequence = store.trust_list_sequence
    report.revocation_version = store.revocation_version
    return report
