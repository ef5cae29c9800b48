"""Sync with the central server: push pending redemptions, pull entitlements.

Every request is signed with the terminal key (card.request_auth). Push is
idempotent on the server, so a batch whose acknowledgement was lost is simply
sent again at the next sync.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from dataclasses import dataclass, field

import httpx

from card.cose import Signer
from card.request_auth import sign_request
from terminal.store import EntitlementSet, TerminalStore

__all__ = ["SyncClient", "SyncError", "SyncReport"]

log = logging.getLogger(__name__)
PUSH_BATCH_SIZE = 500


class SyncError(Exception):
    """The server could not be reached or responded with an error."""


@dataclass
class SyncReport:
    pushed: int = 0
    duplicates: int = 0
    rejected: dict[str, str] = field(default_factory=dict)
    programmes_pulled: list[str] = field(default_factory=list)


class SyncClient:
    def __init__(self, store: TerminalStore, signer: Signer, server_url: str, timeout: float = 30.0):
        self.store = store
        self.signer = signer
        self.terminal_id = store.terminal_id
        self._client = httpx.Client(base_url=server_url.rstrip("/"), timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def _request(self, method: str, path: str, payload: object | None = None) -> dict:
        body = json.dumps(payload).encode() if payload is not None else b""
        headers = sign_request(self.signer, self.terminal_id, method, path, int(time.time()), body)
        if payload is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = self._client.request(method, path, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise SyncError(
                f"server {self._client.base_url} unreachable: {exc}; recorded hand-overs stay on this terminal until the next sync"
            ) from None
        if response.status_code not in (200, 201):
            raise SyncError(f"{method} {path} failed with status {response.status_code}: {response.text[:300]}")
        try:
            return response.json()
        except ValueError:
            raise SyncError(
                f"{method} {path} returned a body that is not JSON; check that {self._client.base_url} is the Kartu Bahagia server"
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
                raise SyncError(f"server acknowledged or rejected only {len(acked) + len(rejected)} of {len(batch)} records")

    def pull(self, report: SyncReport) -> None:
        sets = []
        for program in self.store.programmes:
            answer = self._request("GET", f"/api/v1/sync/entitlements?program={program}")
            entitlement_set = EntitlementSet(
                program=answer["program"], period=answer["period"], quota=int(answer["quota"]),
                unit=answer["unit"], generation=0,
            )
            used = {bytes.fromhex(item["household_id"]): int(item["used"]) for item in answer["households"]}
            sets.append((entitlement_set, used))
            report.programmes_pulled.append(program)
        self.store.replace_entitlements(sets, int(time.time()))

    def sync(self) -> SyncReport:
        """Push first, so the pulled counts already include what this terminal recorded."""
        report = SyncReport()
        self.push(report)
        self.pull(report)
        log.info(
            "terminal %s synced: %d pushed, %d duplicates, %d rejected",
            self.terminal_id, report.pushed, report.duplicates, len(report.rejected),
        )
        return report
