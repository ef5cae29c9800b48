"""Sync with the central server: push pending redemptions, pull entitlements and trust data.

Every request is signed with the terminal key (card.request_auth). Push is
idempotent on the server, so a batch whose acknowledgement was lost is simply
sent again at the next sync.

The trust list and the card revocation lists are pulled after the push and
applied through terminal.trust, which verifies each against the pinned root
key and the trust list's sync keys before it changes anything. A rejected
list fails the sync with SyncError and leaves the held lists as they were.

The entitlements are pulled last: one set per programme, signed by the
server sync key for this terminal. Each request sends the stored revision as
the cursor (since). The server returns a delta of the changes since that
revision, or a full set when the cursor is 0 or it cannot build a delta.
terminal.entitlement_check verifies each against the sync keys of the trust
list just pulled, and all sets are applied in one transaction or none is.

A delta whose base is not the requested revision is dropped, and the sync
requests that programme again with since=0. The apply transaction checks
the base against the stored revision once more, because another process may
have applied a pull in between, and checks the benefit kind against the
stored one. When either differs, the sync requests every programme with
since=0 and applies them once more.

The sync fails with EntitlementSetRejected when a set is missing, does not
verify, is stale, or is for another programme or terminal. It fails the same
way when a set is not newer than the stored one or removes a household the
terminal does not store. A terminal enrolled without a root key has no sync
key, so it cannot pull entitlements at all.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from card.cose import Signer
from card.i18n import N_, Localized, TranslatedError, translate
from card.entitlement_set import ProgrammeEntitlements
from card.request_auth import sign_request
from terminal.offline_rules import apply_server_rule
from terminal.server_text import server_message
from terminal.entitlement_check import (
    NEEDS_FULL_SET,
    EntitlementSetError,
    apply_entitlement_sets,
    verify_entitlement_set,
)
from terminal.store import EntitlementDataError, TerminalStore
from terminal.trust import TrustUpdateError, update_trust

__all__ = ["SyncClient", "SyncError", "EntitlementSetRejected", "SyncReport", "ServerListSource"]

log = logging.getLogger(__name__)
PUSH_BATCH_SIZE = 500


class SyncError(TranslatedError):
    """The server could not be reached, responded with an error, or sent data the terminal rejected."""


class EntitlementSetRejected(SyncError):
    """A pulled entitlement set failed verification, so no pulled set was applied."""

    def __init__(self, error: EntitlementSetError):
        # Set first, because TranslatedError.__init__ calls message("en").
        self.error = error
        super().__init__(error.template, **error.params)

    def message(self, language: str) -> str:
        return self.error.message(language)


@dataclass(frozen=True)
class _Term(Localized):
    """A noun such as "trust list" inside a sync error, translated with the message."""

    english: str

    def localize(self, language: str) -> str:
        return translate(self.english, language)


@dataclass
class SyncReport:
    pushed: int = 0
    duplicates: int = 0
    rejected: dict[str, str] = field(default_factory=dict)
    programmes_pulled: list[str] = field(default_factory=list)
    deltas_applied: list[str] = field(default_factory=list)
    trust_list_sequence: int = 0
    revocation_version: int = 0


def _decode_blob(text: object, what: _Term) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (TypeError, ValueError):
        raise SyncError(N_("the server sent a {what} that is not valid base64"), what=what) from None


def _base64_field(body: dict, key: str, what: _Term) -> bytes:
    if key not in body:
        raise SyncError(N_("the server's {what} response is missing the '{key}' field"), what=what, key=key)
    return _decode_blob(body[key], what)


class ServerListSource:
    """The server's trust and revocation lists, as terminal.trust.update_trust reads them.

    The deltas since the held version are fetched in one request when the
    source is created. When the server reports a gap (this terminal is too
    far behind, or ahead of the server), no delta is offered and the server's
    version makes update_trust fetch the full list.
    """

    def __init__(self, fetch: Callable[[str], dict | None], held_version: int):
        self._fetch = fetch
        answer = fetch(f"/api/v1/trust/revocations?since={held_version}")
        if answer is None:
            raise SyncError(N_("the server does not serve revocation lists (404); check the server version"))
        try:
            self._latest = int(answer["version"])
            deltas = [] if answer.get("gap") else answer["deltas"]
        except (KeyError, TypeError, ValueError):
            raise SyncError(N_("the server's revocation response is missing 'version' or 'deltas'")) from None
        self._deltas = {}
        for offset, text in enumerate(deltas):
            self._deltas[held_version + 1 + offset] = _decode_blob(text, _Term(N_("revocation delta")))

    def trust_list(self) -> bytes | None:
        answer = self._fetch("/api/v1/trust/list")
        return None if answer is None else _base64_field(answer, "trust_list", _Term(N_("trust list")))

    def revocation_delta(self, version: int) -> bytes | None:
        return self._deltas.get(version)

    def full_revocation_list(self) -> bytes | None:
        answer = self._fetch("/api/v1/trust/revocations/full")
        return None if answer is None else _base64_field(answer, "full", _Term(N_("full revocation list")))

    def latest_revocation_version(self) -> int | None:
        return self._latest


class SyncClient:
    def __init__(self, store: TerminalStore, signer: Signer, server_url: str, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None):
        """transport replaces httpx's network transport, for example with httpx.MockTransport in tests."""
        self.store = store
        self.signer = signer
        self.terminal_id = store.terminal_id
        self._client = httpx.Client(base_url=server_url.rstrip("/"), timeout=timeout, transport=transport)

    def close(self) -> None:
        self._client.close()

    def _get_optional(self, path: str) -> dict | None:
        """GET path and return the JSON response, or None when the server has no such list yet (404)."""
        return self._request("GET", path, allow_missing=True)

    def _request(self, method: str, path: str, payload: object | None = None, allow_missing: bool = False) -> dict | None:
        body = json.dumps(payload).encode() if payload is not None else b""
        headers = sign_request(self.signer, self.terminal_id, method, path, int(time.time()), body)
        if payload is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = self._client.request(method, path, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise SyncError(
                N_("server {url} unreachable: {error}; recorded hand-overs stay on this terminal until the next sync"),
                url=self._client.base_url, error=exc,
            ) from None
        if allow_missing and response.status_code == 404:
            return None
        if response.status_code not in (200, 201):
            raise SyncError(N_("{method} {path} failed with HTTP status {status}: {detail}"), method=method, path=path,
                            status=response.status_code, detail=server_message(response))
        try:
            return response.json()
        except ValueError:
            raise SyncError(
                N_("{method} {path} returned a body that is not JSON; check that {url} is the Kartu Bahagia server"),
                method=method, path=path, url=self._client.base_url,
            ) from None

    def push(self, report: SyncReport) -> None:
        while True:
            batch = self.store.pending_records(PUSH_BATCH_SIZE)
            if not batch:
                return
            answer = self._request("POST", "/api/v1/sync/redemptions", {
                "records": [base64.b64encode(record.signed_record).decode("ascii") for record in batch]
            })
            acked = list(answer.get("accepted", [])) + list(answer.get("duplicates", []))
            rejected = {
                item["record_id"]: item["reason"] for item in answer.get("rejected", []) if item.get("record_id")
            }
            self.store.mark_acked(acked)
            self.store.mark_rejected(rejected)
            report.pushed += len(answer.get("accepted", []))
            report.duplicates += len(answer.get("duplicates", []))
            report.rejected.update(rejected)
            for record_id, reason in rejected.items():
                log.warning("server rejected record %s: %s", record_id, reason)
            if len(acked) + len(rejected) < len(batch):
                # Some records were neither acknowledged nor rejected; stop instead of resending them in a loop.
                raise SyncError(N_("the server acknowledged or rejected only {answered} of {sent} records"),
                                answered=len(acked) + len(rejected), sent=len(batch))

    def _fetch_set(self, program: str, since: int) -> ProgrammeEntitlements:
        """Request a programme's set or delta since a revision and verify it. Raises EntitlementSetRejected."""
        body = self._request("GET", f"/api/v1/sync/entitlements?program={program}&since={since}")
        signed = None
        if body.get("entitlement_set") is not None:
            signed = _decode_blob(body["entitlement_set"], _Term(N_("entitlement set")))
        try:
            return verify_entitlement_set(self.store, signed, program, time.time())
        except EntitlementSetError as exc:
            raise self._rejected(exc) from None

    def _fetch_current(self, program: str) -> ProgrammeEntitlements:
        """Fetch a delta from the stored revision, or the full set when none is stored or the delta's base differs."""
        current = self.store.entitlement_set(program)
        since = current.revision if current else 0
        entitlements = self._fetch_set(program, since)
        if entitlements.is_delta and entitlements.base_revision != since:
            log.warning("terminal %s requested %s entitlements since revision %d and got a delta from revision %d; "
                        "requesting the full set", self.terminal_id, program, since, entitlements.base_revision)
            entitlements = self._fetch_set(program, 0)
        return entitlements

    def _apply(self, pulled: list[ProgrammeEntitlements], pulled_at: int) -> None:
        try:
            apply_entitlement_sets(self.store, pulled, pulled_at)
        except EntitlementDataError as exc:
            raise SyncError(N_("the server sent invalid entitlements: {error}; check the server's register import"),
                            error=exc) from None

    def pull(self, report: SyncReport) -> None:
        """Fetch and verify every programme's set or delta, then apply them all in one transaction, or none."""
        pulled = [self._fetch_current(program) for program in self.store.programmes]
        try:
            self._apply(pulled, int(time.time()))
        except EntitlementSetError as exc:
            if exc.template not in NEEDS_FULL_SET:
                raise self._rejected(exc) from None
            log.warning("terminal %s: %s; requesting every programme's full set", self.terminal_id, exc)
            pulled = [self._fetch_set(program, 0) for program in self.store.programmes]
            try:
                self._apply(pulled, int(time.time()))
            except EntitlementSetError as again:
                raise self._rejected(again) from None
        report.programmes_pulled.extend(entitlements.program for entitlements in pulled)
        report.deltas_applied.extend(entitlements.program for entitlements in pulled if entitlements.is_delta)
        for entitlements in pulled:
            rule = entitlements.rules.offline_rule
            try:
                apply_server_rule(self.store, entitlements.program, rule._asdict() if rule else None)
            except ValueError as exc:
                # The entitlements are applied, and the previous rule stays in force until a valid one arrives.
                log.error("terminal %s rejected the server's offline rule for %s and keeps the previous one: %s",
                          self.terminal_id, entitlements.program, exc)

    def _rejected(self, error: EntitlementSetError) -> EntitlementSetRejected:
        log.warning("terminal %s rejected an entitlement set from the server: %s", self.terminal_id, error)
        return EntitlementSetRejected(error)

    def pull_trust(self, report: SyncReport) -> None:
        """Fetch the trust list and revocation lists and apply them; raise SyncError when one is rejected.

        A terminal enrolled without a root key (issuer keys pinned directly,
        as in development) cannot verify either list and skips this step.
        """
        if self.store.root_key() is None:
            log.info("terminal %s pins no root key; trust and revocation lists are not pulled", self.terminal_id)
            return
        source = ServerListSource(self._get_optional, self.store.revocation_version)
        try:
            update = update_trust(self.store, source)
        except TrustUpdateError as exc:
            log.warning("terminal %s rejected a list from the server: %s", self.terminal_id, exc)
            raise SyncError(N_("{error}; the terminal keeps its current trust and revocation lists"), error=exc) from None
        report.trust_list_sequence = update.trust_list_sequence
        report.revocation_version = update.revocation_version

    def sync(self) -> SyncReport:
        """Push, then pull the trust list, then the entitlements.

        The push comes first, so the pulled counts include what this terminal
        recorded, and the trust list before the entitlement sets it verifies.
        """
        report = SyncReport()
        self.push(report)
        self.pull_trust(report)
        self.pull(report)
        log.info(
            "terminal %s synced: %d pushed, %d duplicates, %d rejected",
            self.terminal_id, report.pushed, report.duplicates, len(report.rejected),
        )
        return report
