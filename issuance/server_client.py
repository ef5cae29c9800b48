"""The issuance station's calls to the central server, authenticated with the administrator token."""

from __future__ import annotations

import logging

import httpx

from card.i18n import N_, Localized, TranslatedError
from issuance.personalise import IssuedCard
from issuance.register import Resident

__all__ = [
    "RegistrationError", "ServerUnreachableError", "check_server", "register_card", "registration_body",
    "post_registration", "revoke_card",
]

log = logging.getLogger(__name__)


class RegistrationError(TranslatedError, Localized):
    """The server did not accept the request; str() is the English text that the station journal keeps.

    As a parameter of a translated message, the error is shown in that message's language.
    """

    def localize(self, language: str) -> str:
        return self.message(language)


class ServerUnreachableError(RegistrationError):
    """No response came back from the server, so the request may or may not have been applied."""


def check_server(server_url: str, admin_token: str) -> None:
    """Check that the server answers and accepts the token, before a card is written."""
    if not server_url.startswith(("http://", "https://")):
        raise RegistrationError(N_("server URL {url!r} must start with http:// or https://"), url=server_url)
    try:
        response = httpx.get(
            f"{server_url.rstrip('/')}/api/v1/stats", headers={"Authorization": f"Bearer {admin_token}"}, timeout=10
        )
    except httpx.HTTPError as exc:
        raise RegistrationError(N_("server {url} unreachable: {error}; no card was written"), url=server_url,
                                error=exc) from None
    if response.status_code != 200:
        raise RegistrationError(
            N_("server {url} refused the administrator token (HTTP {status}); no card was written"),
            url=server_url, status=response.status_code,
        )


def registration_body(card: IssuedCard, resident: Resident, issuer_kid: bytes) -> dict:
    """Return the POST /api/v1/cards body of an issued card, as the station journal keeps it until it is sent."""
    return {
        "card_number": card.card_number,
        "household_id": card.household_id.hex(),
        "kelurahan": resident.kelurahan_code,
        "desil": resident.desil,
        "issued": card.issued.isoformat(),
        "expires": card.expires.isoformat(),
        "issuer_kid": issuer_kid.hex(),
        "assurance": card.assurance,
        "card_key": card.card_key.hex() if card.card_key else None,
        "authentication_key": card.authentication_key.hex() if card.authentication_key else None,
    }


def register_card(server_url: str, admin_token: str, card: IssuedCard, resident: Resident, issuer_kid: bytes) -> None:
    post_registration(server_url, admin_token, registration_body(card, resident, issuer_kid))


def post_registration(server_url: str, admin_token: str, body: dict, client: httpx.Client | None = None) -> None:
    """Register one card. The server returns 200 for an identical repeat, so a retry after a lost response is safe.

    Raises ServerUnreachableError when no response came back and RegistrationError when the server rejected the card.
    """
    response = _send(client, "POST", f"{server_url.rstrip('/')}/api/v1/cards", admin_token, body)
    if response.status_code not in (200, 201):
        raise RegistrationError(
            N_("server rejected card {card_number} (HTTP {status}): {detail}"),
            card_number=body["card_number"], status=response.status_code, detail=response.text[:300],
        )


def revoke_card(server_url: str, admin_token: str, body: dict, client: httpx.Client | None = None) -> None:
    """Revoke a card on the server: POST /api/v1/cards/{card_number}/revocation {reason, revoked_from}.

    The server's error bodies carry a machine-readable "code". A card the
    server reports as already revoked (409, card_already_revoked) counts as
    done, so a retry after a lost response is safe. When the server rejects
    the station's date as after its own today (422, revoked_from_after_today,
    a station clock ahead of the server's), the request is sent again without
    the date, so the card is revoked from the server's today. A collision
    with another revocation (409, revocation_collision) is sent once more.
    Any other error status raises RegistrationError.
    """
    url = f"{server_url.rstrip('/')}/api/v1/cards/{body['card_number']}/revocation"
    payload = {"reason": body["reason"], "revoked_from": body["effective"]}
    response = _send(client, "POST", url, admin_token, payload)
    if _error_code(response) == (422, "revoked_from_after_today"):
        log.warning("server rejected revocation date %s for card %s; revoking from the server's date",
                    body["effective"], body["card_number"])
        payload = {"reason": body["reason"]}
        response = _send(client, "POST", url, admin_token, payload)
    if _error_code(response) == (409, "revocation_collision"):
        log.warning("revocation of card %s collided with another one; sending it again", body["card_number"])
        response = _send(client, "POST", url, admin_token, payload)
    if _error_code(response) == (409, "card_already_revoked"):
        return
    if response.status_code not in (200, 201):
        raise RegistrationError(
            N_("server rejected the revocation of card {card_number} (HTTP {status}): {detail}"),
            card_number=body["card_number"], status=response.status_code, detail=response.text[:300],
        )


def _error_code(response: httpx.Response) -> tuple[int, str | None]:
    """Return the status code and the "code" field of a JSON error body (None when there is none)."""
    if response.status_code < 400:
        return response.status_code, None
    try:
        content = response.json()
    except ValueError:
        return response.status_code, None
    code = content.get("code") if isinstance(content, dict) else None
    return response.status_code, code if isinstance(code, str) else None


def _send(client: httpx.Client | None, method: str, url: str, admin_token: str, body: dict | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {admin_token}"}
    try:
        if client is not None:
            return client.request(method, url, json=body, headers=headers, timeout=30)
        return httpx.request(method, url, json=body, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        raise ServerUnreachableError(N_("server {url} unreachable: {error}"), url=url, error=exc) from None
