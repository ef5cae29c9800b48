"""The kiosk's request for a household's recent hand-overs at every service point (server.api.kiosk).

The kiosk sends the chip read of the card on its reader (terminal.tap.CardPresence)
in a request signed with its terminal key. Each httpx step (connect, write,
each read, pool) times out after TIMEOUT_SECONDS, so an unreachable or silent
server delays the kiosk screen by a few seconds. The caller shows the local
history when fetch_server_history raises.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from datetime import datetime

import httpx

from card.cose import Signer
from card.request_auth import sign_request
from terminal.modes import HistoryEntry
from terminal.store import TerminalStore
from terminal.tap import CardPresence

__all__ = ["HISTORY_PATH", "TIMEOUT_SECONDS", "MAX_ENTRIES", "KioskHistoryError", "fetch_server_history"]

log = logging.getLogger(__name__)

HISTORY_PATH = "/api/v1/kiosk/history"
TIMEOUT_SECONDS = 2.0
# The server sends at most 10 entries (server.api.kiosk.MAX_REDEMPTIONS), and the screen shows no more than this.
MAX_ENTRIES = 10
_MAX_TEXT = 200


class KioskHistoryError(Exception):
    """The server's history could not be fetched or was invalid."""


def _request_body(card_number: str, presence: CardPresence) -> bytes:
    payload = {
        "card_number": card_number,
        "tapped_at": presence.tapped_at,
        "nonce": base64.b64encode(presence.nonce).decode("ascii"),
        "program": presence.program,
        "quantity": presence.quantity,
        "card_signature": base64.b64encode(presence.card_signature).decode("ascii"),
    }
    return json.dumps(payload).encode("utf-8")


def _entry(item: object) -> HistoryEntry:
    if not isinstance(item, dict):
        raise KioskHistoryError(f"history entry is not an object: {str(item)[:80]!r}")
    try:
        tapped_at = int(datetime.fromisoformat(item["tapped_at"]).timestamp())
        program, quantity, service_point = item["program"], item["quantity"], item["service_point"]
    except (KeyError, TypeError, ValueError) as exc:
        raise KioskHistoryError(f"history entry is missing or has an invalid field: {exc}") from None
    valid = (isinstance(program, str) and isinstance(service_point, str) and isinstance(quantity, int)
             and len(program) <= _MAX_TEXT and len(service_point) <= _MAX_TEXT)
    if not valid:
        raise KioskHistoryError(f"history entry has a field of the wrong type or length: {str(item)[:80]!r}")
    return HistoryEntry(program, quantity, tapped_at, service_point)


def _entries(response: httpx.Response) -> list[HistoryEntry]:
    try:
        items = response.json()["redemptions"]
    except (ValueError, KeyError, TypeError):
        raise KioskHistoryError("server response is not a history object with a redemptions list") from None
    if not isinstance(items, list):
        raise KioskHistoryError(f"server response field 'redemptions' is not a list: {type(items).__name__}")
    return [_entry(item) for item in items[:MAX_ENTRIES]]


def fetch_server_history(store: TerminalStore, signer: Signer, card_number: str, presence: CardPresence,
                         timeout: float = TIMEOUT_SECONDS,
                         transport: httpx.BaseTransport | None = None) -> list[HistoryEntry]:
    """Fetch the household's recent hand-overs from the server, newest first.

    Raises KioskHistoryError when the terminal has no server address, the
    server is unreachable or times out, or it rejects the request.
    transport replaces httpx's network transport in tests.
    """
    server_url = store.get_meta("server_url")
    if not server_url:
        raise KioskHistoryError("this terminal has no server address; enrol it again")
    body = _request_body(card_number, presence)
    headers = sign_request(signer, store.terminal_id, "POST", HISTORY_PATH, int(time.time()), body)
    headers["Content-Type"] = "application/json"
    try:
        with httpx.Client(base_url=server_url.rstrip("/"), timeout=timeout, transport=transport) as client:
            response = client.post(HISTORY_PATH, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise KioskHistoryError(f"server {server_url} unreachable: {exc}") from None
    if response.status_code != 200:
        raise KioskHistoryError(f"POST {HISTORY_PATH} failed with status {response.status_code}: "
                                f"{response.text[:300]}")
    entries = _entries(response)
    log.info("card %s: server listed %d recent hand-overs", card_number, len(entries))
    return entries
