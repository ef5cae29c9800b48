"""Terminal enrolment: generate the terminal key and register it with the server once."""

from __future__ import annotations

import base64
import json
import logging
import secrets
from pathlib import Path

import httpx

from card.keys import FileSigner, generate_private_key, kid_of, load_public_key, save_private_key, spki_of
from terminal.store import TerminalStore

__all__ = ["EnrolmentError", "enrol_terminal", "open_terminal", "STORE_NAME", "KEY_NAME"]

log = logging.getLogger(__name__)
STORE_NAME = "terminal.db"
KEY_NAME = "terminal.key"


class EnrolmentError(Exception):
    """Enrolment failed; nothing was written that a retry would trip over."""


def enrol_terminal(
    directory: Path, server_url: str, code: str, issuer_key_files: list[Path], name: str, terminal_id: str | None = None
) -> TerminalStore:
    """Create the terminal's key and store in directory and enrol it with the server using a one-time code."""
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / STORE_NAME).exists() and TerminalStore(directory / STORE_NAME).get_meta("terminal_id"):
        raise EnrolmentError(f"terminal directory {directory} is already enrolled; use a new directory")
    issuers = [load_public_key(path) for path in issuer_key_files]
    if not issuers:
        raise EnrolmentError("give at least one issuer public key (--issuer-key) for offline verification")
    private_key = generate_private_key()
    terminal_id = terminal_id or f"TRM-{secrets.token_hex(4).upper()}"
    body = {
        "code": code,
        "terminal_id": terminal_id,
        "public_key": base64.b64encode(spki_of(private_key.public_key())).decode("ascii"),
        "name": name,
    }
    try:
        response = httpx.post(f"{server_url.rstrip('/')}/api/v1/terminals/enrol", json=body, timeout=30)
    except httpx.HTTPError as exc:
        raise EnrolmentError(f"server {server_url} unreachable: {exc}") from None
    if response.status_code not in (200, 201):
        raise EnrolmentError(f"server refused enrolment ({response.status_code}): {response.text[:300]}")
    answer = response.json()
    save_private_key(private_key, directory / KEY_NAME)
    store = TerminalStore(directory / STORE_NAME)
    for issuer in issuers:
        store.add_issuer(kid_of(issuer), spki_of(issuer))
    with store.transaction() as db:
        store.set_meta({
            "terminal_id": answer["terminal_id"],
            "server_url": server_url,
            "service_point_id": str(answer["service_point_id"]),
            "programmes": json.dumps(answer["programmes"]),
        }, db)
    log.info("terminal %s enrolled at service point %s", answer["terminal_id"], answer["service_point_id"])
    return store


def open_terminal(directory: Path) -> tuple[TerminalStore, FileSigner]:
    """Open an enrolled terminal directory: its store and its signing key."""
    if not (directory / STORE_NAME).exists():
        raise EnrolmentError(f"{directory} is not a terminal directory; run 'kartu terminal enrol' first")
    store = TerminalStore(directory / STORE_NAME)
    store.require_meta("terminal_id")
    return store, FileSigner.from_file(directory / KEY_NAME)
