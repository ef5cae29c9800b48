"""Property-based tests (hypothesis) of the encoders and strict decoders.

Round trips hold for every valid value, and the decoders take any input
without an exception other than their own error type. A decoded value also
re-encodes to the exact input bytes or text, so each value has one encoding.
"""

from __future__ import annotations

import zlib
from datetime import date, datetime, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from card import cbor
from card.base45 import ALPHABET, Base45Error, b45decode, b45encode
from card.cardnumber import make_card_number
from card.credential import Credential, Holder, Profile, decode_payload, encode_payload, sign_credential
from card.keys import FileSigner, compress_point, generate_private_key
from card.qrtext import MAX_MESSAGE_SIZE, PREFIX, QRTextError, from_qr_text, to_qr_text
from card.records import Assurance, Redemption, decode_record, encode_record
from card.verify import IssuerKey, TrustStore, verify_chip, verify_qr

# No example database in the work tree, and no deadline: speed is measured under bench/.
PROPERTY = settings(database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SIGNER = FileSigner(generate_private_key())
TRUST = TrustStore.of(IssuerKey(SIGNER.public_key))
NOW = datetime(2026, 12, 4, 3, 0, tzinfo=timezone.utc)
CARD_KEY = compress_point(generate_private_key().public_key())

# Letters of any script, digits, punctuation and space, as long as they print.
name_characters = st.characters(categories=("L", "N", "P", "Zs"))
names = st.text(name_characters, min_size=1, max_size=60).filter(str.isprintable)
days = st.dates(min_value=date(1900, 1, 1), max_value=date(2150, 12, 31))


@st.composite
def credentials(draw, profile: Profile | None = None) -> Credential:
    profile = draw(st.sampled_from(Profile)) if profile is None else profile
    issued = draw(days)
    expires = draw(st.dates(min_value=issued, max_value=date(2199, 12, 31)))
    holder = Holder(
        name=draw(names),
        birth_date=draw(days),
        sex=draw(st.sampled_from("LP")),
        kelurahan_code="1571" + draw(st.text("0123456789", min_size=6, max_size=6)),
    )
    chip = profile is Profile.CHIP
    return Credential(
        profile=profile,
        card_number=make_card_number(draw(st.integers(0, 10**11 - 1))),
        holder=holder,
        household_id=draw(st.binary(min_size=8, max_size=8)),
        issued=issued,
        expires=expires,
        photo_digest=draw(st.binary(min_size=32, max_size=32)) if chip else None,
        card_key=CARD_KEY if chip else None,
    )


@st.composite
def records(draw) -> Redemption:
    assurance = draw(st.sampled_from(Assurance))
    return Redemption(
        record_id=draw(st.uuids()).hex,
        terminal_id=draw(st.text(min_size=1, max_size=40)),
        card_number=make_card_number(draw(st.integers(0, 10**11 - 1))),
        household_id=draw(st.binary(min_size=8, max_size=8)),
        program=draw(st.text(min_size=1, max_size=20)),
        quantity=draw(st.integers(1, 2**32)),
        period=draw(st.text("0123456789-", min_size=7, max_size=7)),
        tapped_at=draw(st.integers(0, 2**40)),
        nonce=draw(st.binary(min_size=16, max_size=16)),
        assurance=assurance,
        card_signature=draw(st.binary(min_size=8, max_size=72)) if assurance is Assurance.CHIP else None,
    )


cbor_keys = st.one_of(st.integers(-(2**64), 2**64 - 1), st.text(max_size=8), st.binary(max_size=8))
cbor_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(-(2**64), 2**64 - 1), st.binary(max_size=40), st.text(max_size=40)
    ),
    lambda children: st.one_of(st.lists(children, max_size=5), st.dictionaries(cbor_keys, children, max_size=5)),
    max_leaves=20,
)


@PROPERTY
@given(cbor_values)
def test_cbor_round_trip(value) -> None:
    assert cbor.decode(cbor.encode(value)) == value


@PROPERTY
@given(st.binary(max_size=64))
def test_cbor_decode_accepts_only_its_own_encodings(data: bytes) -> None:
    try:
        value = cbor.decode(data)
    except cbor.CBORError:
        return
    assert cbor.encode(value) == data


@PROPERTY
@given(cbor_values, st.data())
def test_cbor_one_byte_change_decodes_canonically_or_fails(value, data) -> None:
    encoded = bytearray(cbor.encode(value))
    index = data.draw(st.integers(0, len(encoded) - 1))
    encoded[index] ^= data.draw(st.integers(1, 255))
    try:
        decoded = cbor.decode(bytes(encoded))
    except cbor.CBORError:
        return
    assert cbor.encode(decoded) == bytes(encoded)


@PROPERTY
@given(credentials())
def test_credential_payload_round_trip(credential: Credential) -> None:
    payload = encode_payload(credential)
    assert decode_payload(payload) == credential
    assert cbor.encode(cbor.decode(payload)) == payload


@PROPERTY
@given(credentials(Profile.QR))
def test_signed_qr_credential_round_trip(credential: Credential) -> None:
    text = to_qr_text(sign_credential(credential, SIGNER))
    midday = datetime(credential.issued.year, credential.issued.month, credential.issued.day, 5, tzinfo=timezone.utc)
    result = verify_qr(text, TRUST, midday)
    assert result.credential == credential
    assert result.accepted


@PROPERTY
@given(credentials(Profile.CHIP))
def test_signed_chip_credential_round_trip(credential: Credential) -> None:
    result = verify_chip(sign_credential(credential, SIGNER), TRUST, NOW)
    assert result.credential == credential


@PROPERTY
@given(records())
def test_record_round_trip(record: Redemption) -> None:
    assert decode_record(encode_record(record)) == record


@PROPERTY
@given(st.binary(max_size=300))
def test_base45_round_trip(data: bytes) -> None:
    text = b45encode(data)
    assert set(text) <= set(ALPHABET)
    assert b45decode(text) == data


@PROPERTY
@given(st.text(ALPHABET, max_size=60))
def test_base45_text_decodes_canonically_or_fails(text: str) -> None:
    try:
        data = b45decode(text)
    except Base45Error:
        return
    assert b45encode(data) == text


@PROPERTY
@given(st.binary(max_size=MAX_MESSAGE_SIZE - 1))
def test_qr_text_round_trip(body: bytes) -> None:
    message = b"\xd2" + body
    text = to_qr_text(message)
    assert text.startswith(PREFIX)
    assert from_qr_text(text) == message


@PROPERTY
@given(st.one_of(st.text(max_size=400), st.text(ALPHABET, max_size=400).map(PREFIX.__add__)))
def test_qr_text_decoder_raises_only_its_error(text: str) -> None:
    try:
        message = from_qr_text(text)
    except QRTextError:
        return
    assert message[0] == 0xD2


@PROPERTY
@given(st.binary(max_size=300))
def test_qr_text_of_any_zlib_stream(body: bytes) -> None:
    text = PREFIX + b45encode(zlib.compress(body))
    try:
        message = from_qr_text(text)
    except QRTextError:
        assert not body.startswith(b"\xd2")
        return
    assert message == body


@PROPERTY
@given(st.data())
def test_changed_qr_text_refused_or_same_credential(data) -> None:
    credential = data.draw(credentials(Profile.QR))
    text = to_qr_text(sign_credential(credential, SIGNER))
    index = data.draw(st.integers(len(PREFIX), len(text) - 1))
    replacement = data.draw(st.sampled_from(ALPHABET))
    changed = text[:index] + replacement + text[index + 1:]
    midday = datetime(credential.issued.year, credential.issued.month, credential.issued.day, 5, tzinfo=timezone.utc)
    result = verify_qr(changed, TRUST, midday)
    # A change to the unsigned part (the unprotected header) may still verify,
    # but never as another credential.
    if result.accepted:
        assert result.credential == credential
    else:
        assert changed != text
