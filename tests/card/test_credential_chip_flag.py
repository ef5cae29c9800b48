"""Field 13 of the QR credential: the QR code printed on a chip card, as opposed to a QR-only card."""

from __future__ import annotations

import cbor2
import pytest

from card import cbor
from card.credential import CredentialError, Profile, decode_payload, encode_payload
from tests.conftest import make_credential


def test_flag_round_trip() -> None:
    credential = make_credential(on_chip_card=True)
    payload = encode_payload(credential)
    assert cbor2.loads(payload)[13] == 1
    assert decode_payload(payload) == credential
    assert decode_payload(payload).on_chip_card is True


def test_qr_only_card_has_no_field_13() -> None:
    payload = encode_payload(make_credential())
    assert 13 not in cbor2.loads(payload)
    assert decode_payload(payload).on_chip_card is False


def test_flag_costs_two_bytes() -> None:
    plain = encode_payload(make_credential())
    flagged = encode_payload(make_credential(on_chip_card=True))
    assert len(flagged) - len(plain) == 2


def test_chip_credential_cannot_carry_flag() -> None:
    with pytest.raises(CredentialError, match="on-chip-card flag"):
        make_credential(Profile.CHIP, on_chip_card=True)


@pytest.mark.parametrize("value", [0, 2, 255])
def test_field_13_other_values_rejected(value) -> None:
    item = cbor2.loads(encode_payload(make_credential()))
    item[13] = value
    with pytest.raises(CredentialError, match="field 13 must be 1"):
        decode_payload(cbor.encode(item))


@pytest.mark.parametrize("value", [True, b"\x01", "1"])
def test_field_13_other_types_rejected(value) -> None:
    item = cbor2.loads(encode_payload(make_credential()))
    item[13] = value
    with pytest.raises(CredentialError, match="field 13"):
        decode_payload(cbor2.dumps(item, canonical=True))


def test_field_13_on_chip_profile_rejected() -> None:
    item = cbor2.loads(encode_payload(make_credential(Profile.CHIP)))
    item[13] = 1
    with pytest.raises(CredentialError, match="on-chip-card flag"):
        decode_payload(cbor.encode(item))
