"""The issuance station's calls to the central server, authenticated with the administrator token."""

from __future__ import annotations

import httpx

from issuance.personalise import IssuedCard
from issuance.register import Resident

__all__ = ["RegistrationError", "check_server", "register_card"]


class RegistrationError(Exception):
    """The server did not accept the card; the card stays unregistered in the station journal."""


def check_server(server_url: str, admin_token: str) -> None:
    """Check that the server answers and accepts the token, before a card is written."""
    if not server_url.startswith(("http://", "https://")):
        raise RegistrationError(f"server URL {server_url!r} must start with http:// or https://")
    try:
        response = httpx.get(
            f"{server_url.rstrip('/')}/api/v1/stats", headers={"Authorization": f"Bearer {admin_token}"}, timeout=10
        )
    except httpx.HTTPError as exc:
        raise RegistrationError(f"server {server_url} unreachable: {exc}; no card was written") from None
    if response.status_code != 200:
        raise RegistrationError(
            f"server {server_url} refused the administrator token ({response.status_code}); no card was written"
        )


def register_card(server_url: str, admin_token: str, card: IssuedCard, resident: Resident, issuer_kid: bytes) -> None:
    body = {
        "card_number": card.card_number,
        "household_id": card.household_id.hex(),
        "kelurahan": resident.kelurahan_code,
        "desil": resident.desil,
        "issued": card.issued.isoformat(),
        "expires": card.expires.isoformat(),
        "issuer_kid": issuer_kid.hex(),
        "assurance": card.assurance,
        "card_key": card.card_key.hex() if card.card_key else None,
    }
    try:
        response = httpx.post(
            f"{server_url.rstrip('/')}/api/v1/cards", json=body,
            headers={"Authorization": f"Bearer {admin_token}"}, timeout=30,
        )
    except httpx.HTTPError as exc:
        raise RegistrationError(f"server {server_url} unreachable: {exc}") from None
    if response.status_code not in (200, 201):
        raise RegistrationError(
            f"server refused card {card.card_number} ({response.status_code}): {response.text[:300]}"
        )
