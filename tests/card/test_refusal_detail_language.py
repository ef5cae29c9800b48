"""Refusals whose detail is a decoder's English text: English output keeps it, Indonesian output gets a short form."""

from __future__ import annotations

import logging

from card import cose
from card.credential import encode_payload
from card.decision import Reason
from card.qrtext import PREFIX, to_qr_text
from card.verify import verify_qr
from tests.conftest import make_credential


def test_qr_text_detail_only_in_english(trust, now) -> None:
    decision = verify_qr(PREFIX + "abc", trust, now).decision

    assert decision.reason is Reason.QR_TEXT_INVALID
    assert "'a'" in decision.message_en
    assert decision.message_id == (
        "Kode QR ini bukan kode Kartu Bahagia (teks tidak dapat dibaca). Pindai lagi kode QR di bagian belakang "
        "kartu."
    )
    assert "'a'" not in decision.message_id
    assert "Base45" not in decision.message_id


def test_qr_text_detail_logged(trust, now, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="card.verify"):
        verify_qr(PREFIX + "abc", trust, now)

    assert "QR text rejected" in caplog.text
    assert "'a'" in caplog.text


def test_malformed_credential_detail_only_in_english(issuer, trust, now) -> None:
    payload = encode_payload(make_credential())
    # A second field 10 after the ten real fields, with the map's pair count raised to 11.
    duplicated = bytes([0xAB]) + payload[1:] + b"\x0a\x19\x58\x56"
    decision = verify_qr(to_qr_text(cose.sign1(duplicated, issuer)), trust, now).decision

    assert decision.reason is Reason.CREDENTIAL_MALFORMED
    assert "duplicate map key 10" in decision.message_en
    assert "(data tidak dapat dibaca)" in decision.message_id
    assert "duplicate" not in decision.message_id
