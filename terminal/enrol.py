"""Terminal enrolment: generate the terminal key, pin the trust anchors and register with the server once.

A terminal trusts credentials through the city root key, pinned here and
never changed afterwards: every later trust list must verify to it (see
terminal.trust). Issuer keys can also be pinned directly (--issuer-key), for
development and the demo. Such a key stays trusted until the directory is
replaced, because no trust list can withdraw it.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
from pathlib import Path

import httpx

from card.i18n import N_, TranslatedError
from card.keys import FileSigner, generate_private_key, kid_of, load_public_key, save_private_key, spki_of
from card.trustlist import TrustListError, decode_trust_list
from terminal.server_text import server_message
from terminal.store import TerminalStore
from terminal.trust import apply_trust_list

__all__ = ["EnrolmentError", "enrol_terminal", "open_terminal", "STORE_NAME", "KEY_NAME"]

log = logging.getLogger(__name__)
STORE_NAME = "terminal.db"
KEY_NAME = "terminal.key"


class EnrolmentError(TranslatedError):
    """Enrolment failed, or the directory is not an enrolled terminal; nothing was written that a retry would trip over."""


def enrol_terminal(
    directory: Path, server_url: str, code: str, issuer_key_files: list[Path], name: str, terminal_id: str | None = None,
    root_key_file: Path | None = None, trust_list_file: Path | None = None,
) -> TerminalStore:
    """Create the terminal's key and store in directory and enrol it with the server using a one-time code.

    The root key (PEM) is pinned, and the trust list, when given, is verified
    against it before anything is sent to the server.
    """
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / STORE_NAME).exists() and TerminalStore(directory / STORE_NAME).get_meta("terminal_id"):
        raise EnrolmentError(N_("terminal directory {directory} is already enrolled; use a new directory"),
                             directory=directory)
    issuers = [load_public_key(path) for path in issuer_key_files]
    root_key = load_public_key(root_key_file) if root_key_file is not None else None
    if not issuers and root_key is None:
        raise EnrolmentError(
            N_("give the city root public key (--root-key) or an issuer public key (--issuer-key) for offline "
               "verification")
        )
    if trust_list_file is not None and root_key is None:
        raise EnrolmentError(N_("a trust list needs the root key it is signed with; add --root-key"))
    trust_list = _read_trust_list(trust_list_file, root_key) if trust_list_file is not None else None
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
        raise EnrolmentError(N_("server {url} unreachable: {error}"), url=server_url, error=exc) from None
    if response.status_code not in (200, 201):
        raise EnrolmentError(N_("the server rejected the enrolment (HTTP {status}): {detail}"),
                             status=response.status_code, detail=server_message(response))
    answer = response.json()
    save_private_key(private_key, directory / KEY_NAME)
    store = TerminalStore(directory / STORE_NAME)
    for issuer in issuers:
        store.add_issuer(kid_of(issuer), spki_of(issuer))
    if root_key is not None:
        store.pin_root_key(root_key)
        log.info("terminal pins root key %s", kid_of(root_key).hex())
    if trust_list is not None:
        apply_trust_list(store, trust_list)
    with store.transaction() as db:
        store.set_meta({
            "terminal_id": answer["terminal_id"],
            "server_url": server_url,
            "service_point_id": str(answer["service_point_id"]),
            "programmes": json.dumps(answer["programmes"]),
        }, db)
        store.set_meta(_service_point_meta(answer), db)
    log.info("terminal %s enrolled at service point %s", answer["terminal_id"], answer["service_point_id"])
    return store


def _service_point_meta(answer: dict) -> dict[str, str]:
    """Return the service point's name and kelurahan name from the enrolment response, for receipts.

    Servers older than these fields send neither, and receipts then show the service point's id.
    """
    names = {"service_point_name": answer.get("service_point_name"),
             "service_point_kelurahan": answer.get("kelurahan_name")}
    return {key: value for key, value in names.items() if isinstance(value, str) and value}


def _read_trust_list(path: Path, root_key) -> bytes:
    """Read a trust list file and check it verifies to root_key, so a wrong file fails before the server is asked."""
    try:
        signed = path.read_bytes()
    except OSError as exc:
        raise EnrolmentError(N_("cannot read trust list {path}: {reason}"), path=path, reason=exc.strerror) from None
    try:
        decode_trust_list(signed, root_key)
    except TrustListError as exc:
        raise EnrolmentError(N_("trust list {path} rejected: {error}"), path=path, error=exc) from None
    return signed


def open_terminal(directory: Path) -> tuple[TerminalStore, FileSigner]:
    """Open an enrolled terminal directory: its store and its signing key."""
    if not (directory / STORE_NAME).exists():
        raise EnrolmentError(N_("{directory} is not a terminal directory; run 'kartu terminal enrol' first"),
                             directory=directory)
    store = TerminalStore(directory / STORE_NAME)
    store.require_meta("terminal_id")
    return store, FileSigner.from_file(directory / KEY_NAME)
